"""Waiting and processes, for the tests: the one poll loop (a test waits for a condition,
never for a time) and the one set of process helpers (``ffui.procs.alive`` says whether a pid
runs; here: wait for one to exit, kill a group, kill a home's runs).

No pytest here: the app processes the TUI tests start import this through tui_support, and
bench/tui_latency.py times their first frame.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from ffui import procs


# -- waiting ---------------------------------------------------------------------------


def until(predicate: Callable[[], Any], timeout: float = 30.0, what: str | Callable[[], str] = "condition",
          interval: float = 0.05, ignore: tuple[type[BaseException], ...] = ()) -> Any:
    """Call ``predicate`` until it returns something truthy, and return that.

    It returns as soon as the condition holds, so a generous ``timeout`` costs time only when
    a test fails (and keeps a busy CI machine from failing one that waits). On timeout it fails
    naming ``what``: a string, or a function called then (to show what the screen held).
    Exceptions of the ``ignore`` types mean "not yet"; any other one fails the test at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = _attempt(predicate, ignore)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout, what))
        time.sleep(interval)


async def until_async(predicate: Callable[[], Any], timeout: float = 30.0, what: str | Callable[[], str] = "condition",
                      interval: float = 0.05, ignore: tuple[type[BaseException], ...] = (),
                      pause: Callable[[float], Any] = asyncio.sleep) -> Any:
    """``until`` for async tests: the event loop runs between checks, and ``predicate`` may be
    a coroutine function. ``pause`` replaces ``asyncio.sleep`` (the TUI tests pass Pilot's pause,
    so the app gets its turns)."""
    deadline = time.monotonic() + timeout
    while True:
        value = _attempt(predicate, ignore)
        if inspect.isawaitable(value):
            value = await _awaited(value, ignore)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout, what))
        await pause(interval)


def _attempt(predicate: Callable[[], Any], ignore: tuple[type[BaseException], ...]) -> Any:
    try:
        return predicate()
    except ignore:
        return None


async def _awaited(value: Any, ignore: tuple[type[BaseException], ...]) -> Any:
    try:
        return await value
    except ignore:
        return None


def _timed_out(timeout: float, what: str | Callable[[], str]) -> str:
    return f"timed out after {timeout}s waiting for {what() if callable(what) else what}"


# -- processes -------------------------------------------------------------------------


def dead_pid() -> int:
    """A pid whose process has exited and been reaped (a trainer that is gone)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def wait_exit(pid: int | None, *needles: str, timeout: float = 30.0, what: str | None = None) -> None:
    """Wait until ``pid`` no longer runs (a zombie counts as gone; ``needles``: what its command
    line holds, so a recycled pid does not count as it)."""
    until(lambda: not procs.alive(pid, *needles), timeout, what or f"process {pid} to exit", interval=0.1)


def kill_group(pgid: int | None) -> None:
    """SIGKILL a whole process group (a trainer and its data loaders); a gone group is fine."""
    procs.signal_group(pgid, signal.SIGKILL)


def kill_runs(home: Path) -> None:
    """Kill every trainer and supervisor of the runs in ``home``'s database, so none outlives its test."""
    if not (home / "ffui.db").exists():
        return
    con = sqlite3.connect(home / "ffui.db")
    try:
        rows = con.execute("SELECT trainer_pgid, supervisor_pid FROM training_runs").fetchall()
    finally:
        con.close()
    for pgid, pid in rows:
        procs.signal_pid(pid, signal.SIGKILL)  # first, so it does not start the next queued run
        kill_group(pgid)
