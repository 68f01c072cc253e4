"""Shared helpers for the TUI tests (test_tui_*.py): the one ``app_for``, waiting, homes with
fixed or real runs, and the only reads of Textual's internals (``notifications``,
``screen_text``, ``on_each_frame``): a Textual upgrade that renames one breaks this file only.

Two kinds of home:
- ``seed_fixed_home``: rows written directly with fixed ids, times and values (runs in every
  state, log lines, a train.log), so snapshots are the same on every machine;
- ``real_runs_home``: runs made by the real job manager and trainer on the tiny model,
  built once per test session and shared by the test modules that need them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

from procs_support import kill_runs, until_async
from ffui.gpu import GpuInfo, GpuState
from ffui.paths import Paths

SNAPSHOT_HOME = Path("/tmp/ffui-tui-snapshots/home")  # fixed: the header and Settings show it
NO_GPU = GpuState(reason="no NVIDIA driver")
TWO_GPUS = GpuState(gpus=[
    GpuInfo(0, "A100-SXM4-80GB", 37, 20 * 1024, 80 * 1024, 61, 212.0, 400.0),
    GpuInfo(1, "A100-SXM4-80GB", 0, 1024, 80 * 1024, 34, 58.0, 400.0),
])


def paths_for(home: Path) -> Paths:
    return Paths(home=home, db=home / "ffui.db")


def app_for(home: Path, gpu: GpuState = NO_GPU, *, gpus: list[tuple[str, int]] | None = None,
            home_label: str | None = None, **kw):
    """The real app on ``home``, without reconcile, seeing ``gpu`` (or ``gpus``: (name, memory
    MiB) pairs, for the memory estimate). ``home_label`` fixes the home the header shows
    (snapshots of a temporary home); other keywords go to ``make_app`` (poll_s...)."""
    from screens.app import make_app

    if gpus:
        gpu = GpuState(gpus=[GpuInfo(i, name, mem_total_mb=mb) for i, (name, mb) in enumerate(gpus)])
    kw.setdefault("reconcile", False)
    app = make_app(paths_for(home), gpu_probe=lambda: gpu, **kw)
    if home_label is not None:
        app.home_label = home_label
    return app


async def wait_for(pilot, predicate: Callable[[], Any], timeout: float = 30.0, what: str | Callable[[], str] = "condition"):
    """Let the app run until ``predicate()`` is truthy (and return it); fail naming ``what``.

    Any exception from the predicate means "not yet" (widgets not mounted yet)."""
    return await until_async(predicate, timeout, what, ignore=(Exception,), pause=pilot.pause)


async def settle(pilot, rounds: int = 3, timeout: float = 10.0):
    """Let the screens' workers finish (not the app's GPU poller, which never does).

    Bounded: a live screen's poll may be mid-flight. One longer pause lets forms that check
    their fields 0.15 s after the last change do so.
    """
    app = pilot.app
    if hasattr(app, "wait_for_db"):  # mode keys wait for the database, which opens after the first frame
        await asyncio.wait_for(app.wait_for_db(), timeout)
    for i in range(rounds + 2):
        await pilot.pause(0.2 if i == rounds else 0.05)
        busy = [w for w in app.workers if w.node is not app and w.group != "tail" and not w.is_finished]
        if busy:
            try:
                await asyncio.wait_for(asyncio.gather(*[w.wait() for w in busy], return_exceptions=True), timeout)
            except asyncio.TimeoutError:
                pass
    await pilot.pause()


def stop_blinking(app) -> None:
    """Still cursors in the inputs now shown, so a snapshot does not catch one mid-blink."""
    from textual.widgets import Input

    for field in app.screen.query(Input):
        field.cursor_blink = False


# -- Textual internals: read here only, so a Textual upgrade that renames them breaks one file

def notifications(app, severity: str | None = None) -> list[str]:
    """The messages of the toasts the app has raised (of ``severity`` only, if given)."""
    return [str(n.message) for n in app._notifications if severity is None or n.severity == severity]


def screen_text(app) -> str:
    """What the terminal shows now, as plain text (for 'the user sees X' assertions)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None,
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def has_quit(app) -> bool:
    """The app is on its way out (``exit`` was called)."""
    return app.return_code is not None


def on_each_frame(app, callback: Callable[[Any], None], monkeypatch=None) -> None:
    """Call ``callback(update)`` with each update ``app`` hands its terminal writer (Textual's
    ``App._display``), before it is written. With ``monkeypatch`` the hook goes at the test's end."""
    from textual.app import App

    display = App._display

    def hooked(self_app, screen, renderable):
        if renderable is not None and self_app is app:
            callback(renderable)
        return display(self_app, screen, renderable)

    if monkeypatch is not None:
        monkeypatch.setattr(App, "_display", hooked)
    else:
        App._display = hooked


def rendered(renderable, width: int = 200) -> str:
    """A widget's content as plain text, wide enough that nothing folds."""
    import io

    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# -- fixed data ------------------------------------------------------------------------

HP = {"method": "lora", "lora_r": 16, "lora_alpha": 32, "learning_rate": 2e-4, "max_steps": 40,
      "per_device_train_batch_size": 4, "max_seq_len": 512, "num_gpu": 0, "base_model": "tiny"}


def _history(n: int, start: float = 2.4, decay: float = 0.93) -> list[list]:
    return [[i, round(0.6 + (start - 0.6) * decay ** i + (0.05 if i % 3 == 0 else 0), 4)] for i in range(1, n + 1)]


FIXED_RUNS = [
    # id, name, status, step, total, last_loss, eta_s, backend, error, metrics
    (1, "qwen-alpaca-lora", "completed", 40, 40, 0.7412, None, "cuda", None,
     {"history": _history(40), "eval_history": [[10, 1.9], [20, 1.2], [30, 0.95], [40, 0.9]],
      "last": {"step": 40, "loss": 0.7412, "grad_norm": 0.41, "lr": 0.0, "tokens_per_s": 5120.0, "mem_mb": 9120.0,
               "epoch": 3.0}}),
    (2, "llama-chat-qlora", "running", 17, 40, 1.0831, 95.0, "cuda", None,
     {"history": _history(17), "eval_history": [[10, 1.85]],
      "last": {"step": 17, "loss": 1.0831, "grad_norm": 0.77, "lr": 1.2e-4, "tokens_per_s": 4380.5, "mem_mb": 15230.0,
               "epoch": 1.27}, "eval": {"step": 10, "eval_loss": 1.85}}),
    (3, "tiny-nan-test", "failed", 6, 40, None, None, "cpu", "loss became NaN at step 6 (lower learning_rate)",
     {"history": _history(5), "last": {"step": 6, "loss": "nan", "grad_norm": "nan", "lr": 2e-3}}),
    (4, "mistral-oom", "failed", 0, 40, None, None, "cuda", "CUDA out of memory (lower per_device_train_batch_size)",
     {}),
    (5, "queued-run", "pending", 0, None, None, None, None, None, {}),
]
TRAIN_LOG = [f"step {i}/40 epoch {i / 13.3:.2f} loss {_history(17)[i - 1][1]:.4f} lr 1.2e-04 tok/s 4380" for i in range(1, 18)]


def seed_fixed_home(home: Path, *, log_rows: int = 60, fresh: bool = False) -> Path:
    """A home whose database holds FIXED_RUNS, settings and ``log_rows`` log lines.

    ``fresh`` stamps the runs as updated just now: the real ``ffui`` reconciles at start and
    leaves a 'running' run without a supervisor alone for its first minute (it may still be
    starting), so a test of the real program sees the fixed states for that long.
    """
    from ffui.db import open_sync

    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    conn = open_sync(home / "ffui.db")
    try:
        conn.execute("BEGIN IMMEDIATE")
        for run in FIXED_RUNS:
            _insert_run(conn, home, *run)
        if fresh:
            conn.execute("UPDATE training_runs SET updated_at = datetime('now')")
        conn.executemany(
            "INSERT INTO app_logs(id, timestamp, level, logger, message, run_id, source, exc_info) VALUES (?,?,?,?,?,?,?,?)",
            [_log_row(i) for i in range(1, log_rows + 1)])
        conn.execute("INSERT INTO settings(key, value, updated_at) VALUES ('proxy.https', 'http://proxy.example:3128', "
                     "'2026-01-01 00:00:00')")
        conn.execute("INSERT INTO scrape_sessions(id, source, dataset_format, pair_count, created_at, name) "
                     "VALUES (1, 'import', 'sharegpt', 1200, '2026-01-01 00:00:00', 'support-chats')")
        conn.execute("COMMIT")
    finally:
        conn.close()
    return home


def _insert_run(conn, home, run_id, name, status, step, total, loss, eta, backend, error, metrics) -> None:
    storage = home / "training_outputs" / f"{name}_20260101_120000"
    (storage / "checkpoints").mkdir(parents=True)
    if status in ("running", "completed", "failed"):
        (storage / "train.log").write_text("\n".join(TRAIN_LOG[:max(step, 1)]) + "\n")
    if status == "completed":
        (storage / "adapter").mkdir()
    for s in range(10, step + 1, 10):
        (storage / "checkpoints" / f"checkpoint-{s}").mkdir()
    conn.execute(
        "INSERT INTO training_runs(id, name, status, base_model, dataset_source, dataset_id, storage_path, output_dir, "
        "adapter_path, hp_json, metrics_json, progress, current_step, total_steps, last_loss, eta_s, backend, "
        "error_message, exit_code, created_at, updated_at, started_at, job_uuid) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (run_id, name, status, "tiny", "database", "1", str(storage), str(storage),
         str(storage / "adapter") if status == "completed" else None, json.dumps(HP), json.dumps(metrics),
         (step / total) if total else 0, step, total, loss, eta, backend, error, 3 if "memory" in (error or "") else None,
         "2026-01-01 12:00:00", "2026-01-01 12:30:00", "2026-01-01 12:00:05", f"00000000-0000-0000-0000-00000000000{run_id}"),
    )


def _log_row(i: int) -> tuple:
    level = "ERROR" if i % 29 == 0 else "WARNING" if i % 11 == 0 else "DEBUG" if i % 7 == 0 else "INFO"
    logger, run_id, source = ("ffui.train", 2, "train") if i % 2 else ("ffui.jobs.supervisor", 2, "supervisor")
    if i % 5 == 0:
        logger, run_id, source = "ffui.cli", None, "app"
    message = f"line {i}: " + ("loss 1.23 at step %d" % i if logger == "ffui.train" else "supervisor heartbeat")
    exc = "Traceback (most recent call last):\n  ...\nValueError: boom" if level == "ERROR" else None
    stamp = f"2026-01-01 12:{i // 60 % 60:02d}:{i % 60:02d}.000"
    return (i, stamp, level, logger, message, run_id, source, exc)


def add_log_lines_sync(db_path: Path, messages: list[str], **fields) -> None:
    """Log lines written by 'another process' (a plain sqlite3 connection, as a supervisor would)."""
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        conn.executemany(
            "INSERT INTO app_logs(timestamp, level, logger, message, run_id, source) VALUES (?,?,?,?,?,?)",
            [("2026-01-02 00:00:00.000", fields.get("level", "INFO"), fields.get("logger", "ffui.test"), m,
              fields.get("run_id"), fields.get("source", "test")) for m in messages])
        conn.commit()
    finally:
        conn.close()


# -- real runs (one set per session) --------------------------------------------------

QUICK_HP = {"max_steps": 8, "num_gpu": 0, "max_seq_len": 64, "per_device_train_batch_size": 4, "save_steps": 4,
            "logging_steps": 1, "lora_r": 4, "lora_alpha": 8, "seed": 1}
LONG_HP = {**QUICK_HP, "max_steps": 400, "save_steps": 1000}

_real: dict[str, Any] = {}
_real_lock = threading.Lock()


def real_runs_home(base: Path) -> dict:
    """Build once: the tiny model, a 32-row chat dataset, a quick run and a long run (both started)."""
    with _real_lock:
        if not _real:
            _real.update(asyncio.run(_build_real(base)))
    return _real


async def _build_real(base: Path) -> dict:
    from ffui import db as fdb
    from ffui.data import store
    from ffui.jobs import manager
    from ffui.train.tiny import build_tiny_model

    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    model = build_tiny_model(base / "tiny", arch="llama")
    data = home / "chat.jsonl"
    with open(data, "w") as fh:
        for i in range(32):
            fh.write(json.dumps({"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                                              {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}]}) + "\n")
    async with fdb.connect(home / "ffui.db", home) as db:
        await store.import_dataset(db, str(data), name="chat")
        await fdb.set_setting(db, "jobs.max_concurrent", "2")  # both runs at once on 2 cores
        await fdb.set_setting(db, "jobs.cancel_grace_s", "20")
        quick = await manager.start_run(db, dataset="chat", model=str(model), hp=QUICK_HP, name="quick")
        long = await manager.start_run(db, dataset="chat", model=str(model), hp=LONG_HP, name="long")
    return {"home": home, "model": model, "quick": quick["id"], "long": long["id"]}


def kill_real_runs() -> None:
    """Kill every process of the session's real runs (tests must not leave trainers behind)."""
    if _real:
        kill_runs(_real["home"])


def run_row(home: Path, run_id: int) -> dict | None:
    from ffui.db import open_sync

    conn = open_sync(home / "ffui.db")
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM training_runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else None
    finally:
        conn.close()
