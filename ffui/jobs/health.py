"""Is a run's machinery alive and moving? Supervisor heartbeats and worker stalls.

Heartbeat: a supervisor writes its identity to RUN_DIR/supervisor.json when it takes a run
and touches the file every poll. A supervisor whose process lives but whose heartbeat is
older than ``jobs.supervisor_stale_s`` is stopped (SIGSTOP) or wedged: reconcile kills it,
by that identity so a reused pid is never hit, and starts another.

Stall: a worker that wrote nothing (no log line, no event) for ``jobs.stall_s`` seconds
(``jobs.stall_slow_s`` while it loads the model or saves a checkpoint) is stalled. The
supervisor records ``metadata.stalled`` = {since, phase}; screens and ``runs show`` say
"stalled for 5 min"; with ``jobs.stall_action=fail`` the worker is killed and the run fails.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ffui import procs

HEARTBEAT_NAME = "supervisor.json"
SUPERVISOR_STALE_S = 60.0
STALL_S = 900.0  # 15 min without a line while training
STALL_SLOW_S = 3600.0  # an hour while the model loads (a download) or a checkpoint is saved
STALL_ACTIONS = ("warn", "fail")


def heartbeat_path(run: dict) -> Path:
    return Path(run["storage_path"]) / HEARTBEAT_NAME


def write_heartbeat(run: dict) -> None:
    """Who supervises the run. Unwritable (the directory is gone): reconcile judges by the pid."""
    path = heartbeat_path(run)
    if path.parent.is_symlink():  # a run directory replaced by a link: write nothing where it points
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(procs.identity()))
        os.replace(tmp, path)
    except OSError:
        pass


def beat(run: dict) -> None:
    try:
        os.utime(heartbeat_path(run), follow_symlinks=False)
    except OSError:
        write_heartbeat(run)


def stale_supervisor(run: dict, stale_s: float) -> dict | None:
    """The identity of the run's supervisor if it lives but has not beaten for ``stale_s``."""
    try:
        path = heartbeat_path(run)
        age = time.time() - path.stat().st_mtime
        ident = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no heartbeat yet (just started, or an older ffui): judge by the pid alone
    if age < stale_s or ident.get("pid") != run.get("supervisor_pid") or not procs.identity_alive(ident):
        return None
    return ident


def stall_phase(run: dict, saw_step: bool) -> str:
    """What the worker is doing while silent: loading, saving a checkpoint, or training."""
    if not saw_step:
        return "loading the model"
    control = Path(run["storage_path"]) / "control"
    if any((control / name).exists() for name in ("stop", "checkpoint")):
        return "saving a checkpoint"
    save_steps = (run.get("hp") or {}).get("save_steps") or 0
    step = run.get("current_step") or 0
    saved = str(run.get("checkpoint_path") or "").endswith(f"checkpoint-{step}")
    if save_steps and step and step % int(save_steps) == 0 and not saved:
        return "saving a checkpoint"
    return "training"


def fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def stalled_for(status: str | None, since: float | None, now: float | None = None) -> str | None:
    """'stalled for 5 min' for a running run whose worker went silent at ``since``, else None."""
    if status != "running" or not since:
        return None
    return f"stalled for {fmt_duration((now or time.time()) - float(since))}"


def stall_text(run: dict, now: float | None = None) -> str | None:
    stalled = (run.get("metadata") or {}).get("stalled")
    return stalled_for(run.get("status"), stalled.get("since") if isinstance(stalled, dict) else None, now)
