"""The per-job supervisor: ``python -m ffui.jobs.supervisor --db DB --home HOME --run=ID [--kind K]``.

One supervisor owns a job from start to end, whatever its kind (ffui.jobs.kinds: which table
holds the row, what the worker runs, how events change the row, what the end does) and wherever
its worker runs (ffui.jobs.executors). It runs in its own session (closing the UI or losing
SSH does not touch it), has its executor start the worker, and tails the worker's ``train.log``
and ``events.jsonl`` from the run directory into app_logs and the job's row. The byte offsets
it has read up to are committed in the same transaction as the lines they cover, so a
supervisor killed at any point and started again (every ``ffui`` start reconciles) neither
loses nor repeats a line. When the worker ends, it records the outcome exactly once and starts
the next queued run.

Ownership is a compare-and-swap on the row's ``supervisor_pid``: any process may launch a
candidate supervisor, and only the one whose claim succeeds carries on. A cancel is the
manager's recorded intent (``metadata.cancel_requested``); the owning supervisor alone enforces
it: a stop request, then a kill once its one grace period has passed. Heartbeats and stalls:
ffui.jobs.health.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from ffui import events
from ffui.db import Database, add_log_lines, connect
from ffui.db.logs import redact, timestamp
from ffui.jobs import health
from ffui.jobs.errors import UnknownJob
from ffui.jobs.executors import Executor, executor_for
from ffui.jobs.kinds import KINDS, JobKind, kind_for
from ffui.jobs.kinds.training import register_adapter  # noqa: F401 (its old home)
from ffui.jobs.scheduler import schedule
from ffui.jobs.settings import CANCEL_GRACE_S, cancel_grace_s, stall_settings
from ffui.jobs.tail import read_lines
from ffui.paths import keep_files_private
from ffui.runfiles import check_run_dir, open_run_file

POLL_S = 0.3
LOG_KEEP = 500  # logs_json keeps the LAST 500 lines
CHUNK_LINES = 2000  # a read this long may have left more behind: read again before sleeping


def trainer_alive(run: dict) -> bool:
    """Does the run's worker live? (Its executor's answer; kept under its old name.)"""
    return executor_for(run).running(run)


class RunSupervisor:
    def __init__(self, db: Database, run_id: int, cancel_grace_s: float = CANCEL_GRACE_S, stall: dict | None = None,
                 *, kind: JobKind | None = None, executor: Executor | None = None):
        self.db = db
        self.run_id = run_id
        self.cancel_grace_s = cancel_grace_s  # jobs.cancel_grace_s, unless the cancel named its own
        self.stall = {"stall_s": health.STALL_S, "slow_s": health.STALL_SLOW_S, "action": "warn", **(stall or {})}
        self.kind = kind
        self.executor = executor
        self.attempt = events.Attempt()
        self.last_progress = time.time()
        self.stalled_since: float | None = None
        self.stall_failure: str | None = None

    @property
    def proc(self):
        """The local worker process this supervisor started (None if it adopted one)."""
        return getattr(self.executor, "proc", None)

    async def load(self) -> dict:
        if self.kind is None:
            from ffui.db import get_training_run

            self.kind = kind_for(await get_training_run(self.db, self.run_id) or {})
        run = await self.kind.get(self.db, self.run_id)
        if self.executor is None:
            self.executor = executor_for(run)
            await self.executor.attach(self.db)
        return run

    # -- the worker -----------------------------------------------------------------------

    async def start_or_adopt(self, run: dict) -> None:
        """Have the executor start this attempt's worker, or adopt the one that already runs."""
        if self.executor is None:
            await self.load()
        check_run_dir(Path(run["storage_path"]), self.db.training_outputs)  # no worker in a link's target
        spec = await self.kind.worker(self.db, run)
        spec.wanted = not (run.get("metadata") or {}).get("cancel_requested")
        launch = await self.executor.start(run, spec)
        if launch.fields:
            await self.kind.update(self.db, self.run_id, **launch.fields)
        await self.note(*launch.note)

    # -- tailing --------------------------------------------------------------------------

    async def ingest(self, run: dict, final: bool = False) -> dict:
        """Move what the worker wrote since the stored offsets into the database."""
        run_dir = Path(run["storage_path"])
        while True:
            log_lines, log_off = read_lines(run_dir / "train.log", run.get("log_offset") or 0, final)
            ev_lines, ev_off = read_lines(run_dir / "events.jsonl", run.get("events_offset") or 0, final)
            if not log_lines and not ev_lines and log_off == (run.get("log_offset") or 0):
                return run
            self.last_progress = time.time()
            fields: dict[str, Any] = {"log_offset": log_off, "events_offset": ev_off}
            log_lines = [redact(line) for line in log_lines]
            rows = [self.log_row(line) for line in log_lines]
            for line in ev_lines:
                event = events.parse(redact(line))
                if event is not None:
                    self.attempt.remember(event)
                    rows += [self.log_row(msg, level, "events") for level, msg in
                             self.kind.apply_event(run, event, fields)]
            if log_lines:
                tail = deque(run.get("logs") or [], maxlen=LOG_KEEP)
                tail.extend(log_lines)
                run["logs"] = list(tail)
                fields["logs"] = run["logs"]
            async with self.db.transaction():
                if rows:
                    await add_log_lines(self.db, rows)
                await self.kind.update(self.db, self.run_id, **fields)
            run.update({k: v for k, v in fields.items() if k not in ("logs", "metrics")})
            if len(log_lines) < CHUNK_LINES and len(ev_lines) < CHUNK_LINES and not final:
                return run

    def recall_outcome_events(self, run: dict) -> None:
        """A replacement supervisor learns the terminal events its predecessor already ingested
        (a `done` committed just before it was killed must still make the run complete)."""
        offset = run.get("events_offset") or 0
        if not offset:
            return
        try:
            with os.fdopen(open_run_file(Path(run["storage_path"]) / "events.jsonl"), "rb") as fh:
                self.attempt.recall(fh.read(offset))
        except OSError:
            return

    def log_row(self, line: str, level: str | None = None, source: str | None = None) -> dict:
        if level is None:
            low = line.lower()
            level = "ERROR" if ("traceback" in low or "error" in low) else "WARNING" if "warn" in low else "INFO"
        return {"timestamp": timestamp(), "level": level, "logger": self.kind.logger, "message": line,
                "run_id": self.run_id, "source": source or self.kind.log_source}

    async def note(self, level: str, message: str) -> None:
        await add_log_lines(self.db, [{"level": level, "logger": "ffui.jobs.supervisor", "message": message,
                                       "run_id": self.run_id, "source": "supervisor"}])

    # -- cancel: enforced here only, with one grace period --------------------------------

    async def enforce_cancel(self, run: dict) -> None:
        """A stop request when the cancel is first seen, a kill once its grace has passed. The
        grace counts from the request, so a replacement supervisor keeps the same deadline."""
        meta = run.get("metadata") or {}
        asked = meta.get("cancel_requested")
        if not asked or events.DONE in self.attempt.terminal or meta.get("cancel_killed"):
            return  # no cancel, finished already (a signal would only disturb its exit), or done with it
        grace = float(meta["cancel_grace_s"]) if meta.get("cancel_grace_s") is not None else self.cancel_grace_s
        if time.time() > float(asked) + grace:
            self.executor.kill(run)
            await self.kind.mark(self.db, self.run_id, "cancel_killed", time.time())
            await self.note("WARNING", f"the {self.kind.noun} did not stop within {grace:.0f}s; "
                                       "killed its process group")
        elif not meta.get("cancel_stop_sent"):
            self.executor.request_stop(run)
            await self.kind.mark(self.db, self.run_id, "cancel_stop_sent", time.time())
            await self.note("INFO", f"cancel requested: asked the {self.kind.noun} to save a checkpoint and stop")

    # -- stalls ---------------------------------------------------------------------------

    async def check_stall(self, run: dict) -> None:
        """Say when the worker has gone silent for too long; with jobs.stall_action=fail, end it."""
        now, noun = time.time(), self.kind.noun
        if self.stalled_since is not None and self.last_progress > self.stalled_since:
            self.stalled_since = None
            await self.kind.mark(self.db, self.run_id, "stalled", None)
            await self.note("INFO", f"the {noun} is making progress again")
            return
        phase = health.stall_phase(run, self.attempt.saw_step)
        limit = self.stall["stall_s"] if phase == "training" else self.stall["slow_s"]
        if self.stalled_since is not None or now - self.last_progress < limit:
            return
        self.stalled_since = self.last_progress
        await self.kind.mark(self.db, self.run_id, "stalled", {"since": self.last_progress, "phase": phase})
        silent = health.fmt_duration(now - self.last_progress)
        if self.stall["action"] == "fail":
            self.stall_failure = (f"the {noun} made no progress for {silent} while {phase} (stalled); it was killed "
                                  f"because jobs.stall_action is fail; see: ffui runs logs {self.run_id}")
            self.executor.kill(run)
            await self.note("ERROR", self.stall_failure)
        else:
            await self.note("WARNING", f"the {noun} has made no progress for {silent} while {phase} (stalled); "
                                       f"cancel it with: ffui runs cancel {self.run_id}")

    # -- the outcome ----------------------------------------------------------------------

    def outcome(self, run: dict, returncode: int | None) -> dict[str, Any]:
        out = self.kind.outcome(run, returncode, self.attempt.terminal,
                                cancel=bool((run.get("metadata") or {}).get("cancel_requested")),
                                stall_failure=self.stall_failure, disk_full=lambda: self.executor.disk_full(run))
        return {"completed_at": timestamp()[:19], "eta_s": None, **out}  # an ended run has no ETA

    async def finish(self, run: dict, returncode: int | None) -> str:
        out = self.outcome(run, returncode)
        line = events.outcome_line(out, self.attempt.terminal, self.kind.noun)
        async with self.db.transaction():
            if not await self.kind.record_outcome(self.db, self.run_id, out):
                return "unchanged"
            await self.kind.on_end(self.db, run, out, self.attempt.terminal)
            await add_log_lines(self.db, [self.log_row(line, "INFO" if out["status"] != "failed" else "ERROR",
                                                       "supervisor")])
        self.executor.cleanup(run)
        return out["status"]

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> str:
        await self.load()
        if not await self.kind.claim(self.db, self.run_id, os.getpid()):
            return "not-owner"
        run = await self.kind.get(self.db, self.run_id)
        health.write_heartbeat(run)
        self.recall_outcome_events(run)  # a supervisor that died may have ingested some already
        if not self.executor.started(run):
            try:
                await self.start_or_adopt(run)
            except OSError as exc:
                reason = f"could not start the {self.kind.noun}: {exc}"
                await self.note("ERROR", reason)
                self.attempt.terminal[events.ERROR] = {"message": reason}  # the run's reason
                return await self.finish(run, 1)
            run = await self.kind.get(self.db, self.run_id)
        elif self.executor.running(run):
            await self.note("INFO", f"supervisor restarted; following {self.kind.noun} {self.executor.describe(run)}")
        return await self.follow(run)

    async def follow(self, run: dict) -> str:
        """Tail the worker until it ends, then record its outcome."""
        while True:
            fresh = await self.kind.get(self.db, self.run_id)
            run["metadata"] = fresh.get("metadata")
            if fresh["status"] != "running" or fresh.get("supervisor_pid") != os.getpid():
                return "released"
            health.beat(run)
            running = self.executor.running(run)
            try:
                self.executor.fetch(run)
                run = await self.ingest(run, final=not running)
                await self.enforce_cancel(run)
                if not running:
                    return await self.finish(run, self.executor.exit_status(run))
                await self.check_stall(run)
            except sqlite3.OperationalError:
                # Another writer held the database past the busy timeout (a huge import, say).
                # Nothing of this tick was committed: start again from the stored state.
                run = await self.kind.get(self.db, self.run_id)
            await asyncio.sleep(POLL_S)


async def fail_unknown_job(db: Database, run_id: int, reason: str) -> str:
    """Fail a training_runs row whose kind or executor this ffui does not have, once, with ``reason``."""
    cur = await db.write(
        "UPDATE training_runs SET status = 'failed', error_message = ?, completed_at = datetime('now'), "
        "updated_at = datetime('now') WHERE id = ? AND status IN ('pending', 'running')", (reason, run_id))
    if cur.rowcount:
        await add_log_lines(db, [{"level": "ERROR", "logger": "ffui.jobs.supervisor", "message": f"run failed: {reason}",
                                  "run_id": run_id, "source": "supervisor"}])
    return "failed"


async def supervise(db_path: str, home: str, run_id: int, kind: str | None = None) -> str:
    from ffui.db import register_secret
    from ffui.db.settings import secret_values

    async with connect(db_path, home) as db:
        for value in await secret_values(db):  # a worker that prints a token must not store it
            register_secret(value)
        supervisor = RunSupervisor(db, run_id, await cancel_grace_s(db), await stall_settings(db),
                                   kind=KINDS[kind] if kind else None)
        try:
            status = await supervisor.run()
        except UnknownJob as exc:  # a row a newer ffui made: fail it saying so, never run it as another kind
            status = await fail_unknown_job(db, run_id, str(exc))
        if status not in ("not-owner",):
            await schedule(db)
        return status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ffui.jobs.supervisor")
    ap.add_argument("--db", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--run", type=int, required=True)
    ap.add_argument("--kind", choices=sorted(KINDS), help="the job's kind (default: what its training_runs row says)")
    ap.add_argument("--daemon", action="store_true", help="fork and return at once (no zombie for the caller)")
    args = ap.parse_args(argv)
    keep_files_private()
    if args.daemon:
        pid = os.fork()
        if pid:
            print(pid, flush=True)
            os._exit(0)
        # The launcher reads our pid from the stdout pipe until it closes: let go of it.
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.close(devnull)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    asyncio.run(supervise(args.db, args.home, args.run, args.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
