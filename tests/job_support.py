"""Shared helpers for the job-machinery tests (test_jobs, test_job_faults, test_supervisor_files,
test_disk_full, test_train_run): waiting on a run, reading what its worker left behind, and the
processes behind it (alive, kill -9, gone).

Waiting always polls a condition and fails saying what never happened; nothing sleeps and then
asserts. The generous timeouts only cost time when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ffui import db as fdb
from ffui import procs
from ffui.jobs.fake_worker import MODULE as FAKE_WORKER
from procs_support import kill_runs, until, wait_exit

SUPERVISOR = "ffui.jobs.supervisor"  # what a supervisor's command line runs (procs.alive checks it)


# ---- waiting ------------------------------------------------------------------------------


wait_for = until  # the one poll loop (procs_support), under the name these tests read best with


async def wait_run(db, run_id: int, predicate: Callable[[dict], Any], what: str, timeout: float = 60.0) -> dict:
    """Poll the run's row until ``predicate(run)`` holds; fail saying where the run was instead."""
    deadline = time.monotonic() + timeout
    while True:
        run = await fdb.get_training_run(db, run_id)
        if run and predicate(run):
            return run
        if time.monotonic() > deadline:
            where = f"{run['status']} at step {run.get('current_step')}" if run else "no such run"
            raise AssertionError(f"run {run_id} never got {what} within {timeout}s: {where}")
        await asyncio.sleep(0.05)


def final(run: dict) -> bool:
    return run["status"] in fdb.FINAL_STATUSES


def at_step(step: int) -> Callable[[dict], bool]:
    return lambda run: (run.get("current_step") or 0) >= step


# ---- what a worker left behind ------------------------------------------------------------


def events(run: dict) -> list[dict]:
    path = Path(run["storage_path"], "events.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def event_types(run: dict) -> list[str]:
    return [e["type"] for e in events(run)]


def train_log(run: dict) -> list[str]:
    """train.log's lines as the supervisor reads them: a progress bar's \\r rewrites keep their last."""
    text = Path(run["storage_path"], "train.log").read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return [line.rsplit("\r", 1)[-1] for line in lines]


async def logged(db, run_id: int, source: str = "train") -> list[str]:
    """The run's log lines in the database (what the Logs screen and `ffui runs logs` show)."""
    rows = await db.fetchall("SELECT message FROM app_logs WHERE run_id = ? AND source = ? ORDER BY id",
                             (run_id, source))
    return [r["message"] for r in rows]


def model_dir(path: Path) -> Path:
    """A directory that passes for a Hugging Face model where only its shape is checked (no torch)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    return path


# ---- processes ----------------------------------------------------------------------------


def worker_pids(home: Path) -> list[int]:
    """Every live fake worker whose run directory is under ``home``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = " ".join(procs.cmdline(int(entry.name)))
            if FAKE_WORKER in line and str(home) in line and not procs.is_zombie(int(entry.name)):
                found.append(int(entry.name))
    return found


def wait_gone(pid: int, *needles: str, timeout: float = 30.0) -> None:
    """Wait until ``pid`` no longer runs (a command line with ``needles``): killed processes take a moment."""
    wait_exit(pid, *needles, timeout=timeout)


def kill_supervisor(run: dict) -> int:
    """kill -9 the run's supervisor, as a crash or the OOM killer would, and wait until it is gone."""
    pid = run["supervisor_pid"]
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid, SUPERVISOR)
    return pid


def ffui_process(home: Path, *args: str) -> subprocess.Popen:
    """The real `ffui` console script as a background process (to kill it, or to run two at once)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    return subprocess.Popen([str(Path(sys.executable).parent / "ffui"), *map(str, args)],
                            env={**env, "FFUI_HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def kill_everything(home: Path) -> None:
    """Kill every worker and supervisor of the runs in ``home`` (stopped ones too), so none outlives its test."""
    kill_runs(home)
    for pid in worker_pids(home):
        procs.signal_pid(pid, signal.SIGKILL)
