"""The queue and the supervisors: start pending runs, each under a detached supervisor process,
and give a running run whose supervisor is gone or wedged a new one.

Both the manager (``schedule``, ``reconcile``) and the supervisor (which starts the next queued
run when its own ends) use this module; neither imports the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

from ffui import procs
from ffui.db import Database, get_setting, list_training_runs, update_training_run
from ffui.jobs import health
from ffui.jobs.errors import UnknownJob
from ffui.jobs.kinds import kind_for
from ffui.jobs.executors import executor_for
from ffui.jobs.settings import supervisor_stale_s

SUPERVISOR_MODULE = "ffui.jobs.supervisor"
JUST_SCHEDULED_S = 60  # a run scheduled this recently with no supervisor yet: its supervisor may be starting


async def concurrency_limit(db: Database) -> int:
    """Runs at once: the jobs.max_concurrent setting, else what the executor can hold."""
    return (await concurrency_rule(db))[0]


async def concurrency_rule(db: Database) -> tuple[int, str]:
    """The concurrency limit and where it comes from, in words (a queued run says why it waits)."""
    value = await get_setting(db, "jobs.max_concurrent")
    if value:
        try:
            limit = max(1, int(value))
            return limit, f"jobs.max_concurrent={limit}"
        except ValueError:
            pass
    return executor_for().capacity()


def spawn_supervisor(db: Database, run_id: int) -> int:
    """Start a detached supervisor (own session; its launcher exits at once, so no zombie)."""
    log_path = db.home / "training_outputs" / ".supervisors.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        out = subprocess.run(
            [sys.executable, "-m", SUPERVISOR_MODULE, "--db", str(db.path), "--home", str(db.home),
             f"--run={run_id}", "--daemon"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True, timeout=60,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    try:
        return int(out.stdout.strip() or 0)
    except ValueError:
        return 0


def takes_slot(row: dict) -> bool:
    """Whether a job counts against this machine's limit: not on a RunPod pod, and of a kind
    that needs this machine's GPU (a scrape does not); a kind this ffui does not know does, and
    its supervisor fails it."""
    try:
        meta = json.loads(row.get("metadata_json") or "{}")
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("executor") == "runpod":
            return False
        return kind_for({"metadata": meta}).takes_slot
    except (ValueError, UnknownJob):
        return True


async def schedule(db: Database) -> list[int]:
    """Start pending runs, oldest first, while fewer than the limit are running; a job that
    takes no slot (takes_slot: a run on a RunPod pod, a scrape) starts whatever the limit."""
    limit = await concurrency_limit(db)
    started: list[int] = []
    async with db.transaction():
        active = await db.fetchall("SELECT id, status, metadata_json FROM training_runs "
                                   "WHERE status IN ('running', 'pending') ORDER BY id")
        free = limit - sum(1 for r in active if r["status"] == "running" and takes_slot(r))
        rows = []
        for r in active:
            if r["status"] == "pending" and (not takes_slot(r) or free > 0):
                free -= takes_slot(r)
                rows.append(r)
        for r in rows:
            cur = await db.execute(
                "UPDATE training_runs SET status = 'running', started_at = COALESCE(started_at, datetime('now')), "
                "supervisor_pid = NULL, trainer_pid = NULL, trainer_pgid = NULL, updated_at = datetime('now') "
                "WHERE id = ? AND status = 'pending'",
                (r["id"],),
            )
            if cur.rowcount:
                started.append(r["id"])
    for run_id in started:
        pid = await asyncio.to_thread(spawn_supervisor, db, run_id)
        if pid:
            await db.write(
                "UPDATE training_runs SET supervisor_pid = ? WHERE id = ? AND supervisor_pid IS NULL", (pid, run_id))
        else:
            await update_training_run(db, run_id, status="failed", error_message="could not start a supervisor process; "
                                      f"see {db.home / 'training_outputs' / '.supervisors.log'}")
    return started


def supervisor_alive(run: dict) -> bool:
    return procs.alive(run.get("supervisor_pid"), SUPERVISOR_MODULE, f"--run={run['id']}")


def kill_stale_supervisor(run: dict, stale_s: float) -> bool:
    """A supervisor that lives but no longer beats (SIGSTOPped, wedged) is killed, by its recorded
    identity (a reused pid is never hit). True if there was one."""
    ident = health.stale_supervisor(run, stale_s)
    if ident is None:
        return False
    procs.signal_pid(int(ident["pid"]), signal.SIGKILL)
    for _ in range(50):  # a stopped process dies on SIGKILL too; give the kernel a moment
        if not procs.identity_alive(ident):
            break
        time.sleep(0.02)
    return True


async def needs_supervisor(db: Database, run: dict, stale_s: float) -> bool:
    """A running run whose supervisor is gone, or lives but has not beaten for ``stale_s`` (it is
    killed here), needs a new one; a run scheduled a moment ago does not yet."""
    if supervisor_alive(run) and not kill_stale_supervisor(run, stale_s):
        return False
    age = await db.scalar(
        "SELECT (julianday('now') - julianday(updated_at)) * 86400 FROM training_runs WHERE id = ?", (run["id"],))
    return not (run.get("supervisor_pid") is None and run.get("trainer_pid") is None and (age or 0) < JUST_SCHEDULED_S)


async def replace_supervisor(db: Database, run: dict) -> bool:
    """Start a new supervisor for a running run, unless another process just did (the swap of the
    old supervisor_pid decides). The new one catches up from the stored offsets."""
    cur = await db.write(
        "UPDATE training_runs SET supervisor_pid = NULL WHERE id = ? AND status = 'running' AND supervisor_pid IS ?",
        (run["id"], run.get("supervisor_pid")),
    )
    if not cur.rowcount:
        return False
    await asyncio.to_thread(spawn_supervisor, db, run["id"])
    return True


async def reconcile(db: Database) -> dict[str, list[int]]:
    """Give every running run whose supervisor is gone a new one, then start queued runs.

    The new supervisor catches up from the stored offsets, follows the trainer if it still
    runs, and otherwise records the outcome. Safe to run from several processes at once.
    """
    from ffui.runpod.orphans import reconcile_orphans

    restarted: list[int] = []
    stale_s = await supervisor_stale_s(db)
    for run in await list_training_runs(db, status="running"):
        if await needs_supervisor(db, run, stale_s) and await replace_supervisor(db, run):
            restarted.append(run["id"])
    started = await schedule(db)
    return {"restarted": restarted, "started": started, "orphan_pods": await reconcile_orphans(db)}
