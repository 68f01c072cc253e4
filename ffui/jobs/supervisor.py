"""The per-run supervisor: ``python -m ffui.jobs.supervisor --db DB --home HOME --run=ID``.

One supervisor owns a run from start to end. It runs in its own session (closing the UI
or losing SSH does not touch it), starts the trainer in a process group of its own, and
tails the trainer's ``train.log`` and ``events.jsonl`` into app_logs and training_runs.
The byte offsets it has read up to are committed in the same transaction as the lines
they cover, so a supervisor killed at any point and started again (every ``ffui`` start
reconciles) neither loses nor repeats a line. When the trainer ends, it records the
outcome exactly once and starts the next queued run.

Ownership is a compare-and-swap on ``training_runs.supervisor_pid``: any process may launch
a candidate supervisor, and only the one whose claim succeeds carries on. The worker itself
holds RUN_DIR/worker.lock for its life (ffui.train.worker_lock), so a supervisor never starts a
second worker on a run: if the lock is held it adopts the worker that holds it. Heartbeats and
stalls: ffui.jobs.health.

The worker is ``python -m ffui.train``, unless the run's ``metadata.worker`` names another
module of WORKERS (tests and bench/ use the torch-free ffui.jobs.fake_worker this way; job
kinds will replace it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from ffui.db import Database, add_log_lines, connect, get_setting, get_training_run, update_training_run
from ffui.db.logs import redact, timestamp
from ffui import procs
from ffui.jobs import health
from ffui.jobs.tail import read_lines
from ffui.paths import keep_files_private
from ffui.runfiles import check_run_dir, open_run_file
from ffui.train import worker_lock
from ffui.train.config import is_hub_model

POLL_S = 0.3
LOG_KEEP = 500  # logs_json keeps the LAST 500 lines
HISTORY_MAX = 2000  # loss points kept for charts; older ones are thinned
EXIT_OOM = 3
OOM_HINT = "lower per_device_train_batch_size or max_seq_len, enable gradient_checkpointing, or use method=qlora"


WORKERS = ("ffui.train", "ffui.jobs.fake_worker")
OWNER_WAIT_S = 60.0  # a worker writes who it is first thing; this long covers a loaded machine


def worker_module(run: dict) -> str:
    name = (run.get("metadata") or {}).get("worker")
    return name if name in WORKERS else "ffui.train"


def trainer_alive(run: dict) -> bool:
    """The run's worker lives: it holds the run's lock (or, for a run started before the lock
    existed, its recorded pid still runs the trainer's command line)."""
    run_dir = Path(str(run.get("storage_path")))
    if worker_lock.lock_path(run_dir).exists():
        return worker_lock.held(run_dir)
    return procs.alive(run.get("trainer_pid"), worker_module(run), str(run_dir))


class RunSupervisor:
    def __init__(self, db: Database, run_id: int, cancel_grace_s: float = 30.0, stall: dict | None = None):
        self.db = db
        self.run_id = run_id
        self.cancel_grace_s = cancel_grace_s
        self.stall = {"stall_s": health.STALL_S, "slow_s": health.STALL_SLOW_S, "action": "warn", **(stall or {})}
        self.last_progress = time.time()
        self.saw_step = False  # a step event in this attempt: the model has loaded
        self.stalled_since: float | None = None
        self.stall_failure: str | None = None
        self.proc: subprocess.Popen | None = None
        self.events: dict[str, dict] = {}  # last event of each terminal type seen
        self.cancel_seen_at: float | None = None
        self.killed = False

    # -- ownership ------------------------------------------------------------------------

    async def claim(self) -> bool:
        me = os.getpid()
        cur = await self.db.write(
            "UPDATE training_runs SET supervisor_pid = ? WHERE id = ? AND status = 'running' "
            "AND (supervisor_pid IS NULL OR supervisor_pid = ?)",
            (me, self.run_id, me),
        )
        return cur.rowcount == 1

    async def still_owner(self) -> bool:
        pid = await self.db.scalar("SELECT supervisor_pid FROM training_runs WHERE id = ?", (self.run_id,))
        return pid == os.getpid()

    # -- the trainer ----------------------------------------------------------------------

    async def start_or_adopt(self, run: dict) -> None:
        """Start this attempt's worker, unless one already holds the run's lock (adopt it) or
        already ran and ended while no supervisor watched (leave it to be finalised)."""
        run_dir = Path(run["storage_path"])
        check_run_dir(run_dir, self.db.training_outputs)  # no lock, no trainer, in a link's target
        deadline = time.monotonic() + OWNER_WAIT_S
        while True:
            lock_fd = worker_lock.try_lock(run_dir)
            if lock_fd is not None:
                break
            owner = worker_lock.read_owner(run_dir)
            if owner.get("pid") or time.monotonic() > deadline:
                await self.adopt(owner)
                return
            health.beat(run)
            await asyncio.sleep(0.05)  # the worker is starting: it writes who it is first thing
        try:
            if (run.get("metadata") or {}).get("cancel_requested"):
                await self.note("INFO", "cancelled before its trainer started")
                return
            if worker_lock.read_owner(run_dir).get("pid"):
                await self.note("WARNING", "this attempt's trainer already ran and ended while no supervisor "
                                           "was watching; recording its outcome instead of starting another")
                return
            await self.start_trainer(run, lock_fd)
        finally:
            os.close(lock_fd)

    async def adopt(self, owner: dict) -> None:
        pid = owner.get("pid")
        await update_training_run(self.db, self.run_id, trainer_pid=pid, trainer_pgid=owner.get("pgid") or pid)
        await self.note("INFO", f"supervisor restarted; trainer pid {pid} already runs (it holds the run's lock): "
                                "following it")

    async def start_trainer(self, run: dict, lock_fd: int) -> None:
        from ffui.train.launch import build_trainer_command

        run_dir = Path(run["storage_path"])
        num_gpu = int(run.get("num_gpu") or run["hp"].get("num_gpu") or 0)
        cmd = build_trainer_command(run_dir, num_gpu, module=worker_module(run))
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        token = await get_setting(self.db, "huggingface.token")
        if not is_hub_model(run["hp"].get("base_model") or ""):
            env.pop("HF_TOKEN", None)  # a local model needs no token: keep it out of reach
        elif token:  # in the environment, never on the command line
            env["HF_TOKEN"] = token
        # The worker inherits the locked descriptor: from its first instant it holds the lock.
        worker_lock.clear_owner(lock_fd)
        env[worker_lock.FD_ENV] = str(lock_fd)
        log = os.fdopen(open_run_file(run_dir / "train.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
        try:
            self.proc = subprocess.Popen(
                cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, close_fds=True, pass_fds=(lock_fd,),
            )
        finally:
            log.close()
        await update_training_run(self.db, self.run_id, trainer_pid=self.proc.pid, trainer_pgid=self.proc.pid)
        await self.note("INFO", f"trainer started (pid {self.proc.pid}): {' '.join(cmd[1:])}")

    def trainer_running(self, run: dict) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return trainer_alive(run)

    # -- tailing --------------------------------------------------------------------------

    async def ingest(self, run: dict, final: bool = False) -> dict:
        """Move what the trainer wrote since the stored offsets into the database."""
        run_dir = Path(run["storage_path"])
        while True:
            log_lines, log_off = read_lines(run_dir / "train.log", run.get("log_offset") or 0, final)
            ev_lines, ev_off = read_lines(run_dir / "events.jsonl", run.get("events_offset") or 0, final)
            if not log_lines and not ev_lines and log_off == (run.get("log_offset") or 0):
                return run
            self.last_progress = time.time()
            fields: dict[str, Any] = {"log_offset": log_off, "events_offset": ev_off}
            log_lines = [redact(line) for line in log_lines]
            ev_lines = [redact(line) for line in ev_lines]
            rows = [self.log_row(line) for line in log_lines]
            for line in ev_lines:
                self.apply_event(run, line, fields, rows)
            if log_lines:
                tail = deque(run.get("logs") or [], maxlen=LOG_KEEP)
                tail.extend(log_lines)
                run["logs"] = list(tail)
                fields["logs"] = run["logs"]
            async with self.db.transaction():
                if rows:
                    await add_log_lines(self.db, rows)
                await update_training_run(self.db, self.run_id, **fields)
            run.update({k: v for k, v in fields.items() if k not in ("logs", "metrics")})
            if len(log_lines) < 2000 and len(ev_lines) < 2000 and not final:
                return run

    def recall_outcome_events(self, run: dict) -> None:
        """A replacement supervisor learns the terminal events its predecessor already ingested
        (a `done` committed just before it was killed must still make the run complete)."""
        offset = run.get("events_offset") or 0
        if not offset:
            return
        try:
            with os.fdopen(open_run_file(Path(run["storage_path"]) / "events.jsonl"), "rb") as fh:
                data = fh.read(offset)
        except OSError:
            return
        for raw in data.splitlines():
            try:
                ev = json.loads(raw)
                kind = ev["type"]
            except (ValueError, KeyError, TypeError):
                continue
            self.remember(kind, ev)

    def remember(self, kind: str, ev: dict) -> None:
        """Keep the terminal events of the latest attempt (a resume starts a new one)."""
        if kind in ("start", "step"):
            self.saw_step = kind == "step"  # no step yet in this attempt: the model is loading
        if kind == "start":
            self.events.clear()
        elif kind in _TERMINAL:
            self.events[_TERMINAL[kind]] = ev

    def log_row(self, line: str, level: str | None = None, source: str = "train") -> dict:
        if level is None:
            low = line.lower()
            level = "ERROR" if ("traceback" in low or "error" in low) else "WARNING" if "warn" in low else "INFO"
        return {"timestamp": timestamp(), "level": level, "logger": "ffui.train", "message": line,
                "run_id": self.run_id, "source": source}

    def apply_event(self, run: dict, line: str, fields: dict, rows: list[dict]) -> None:
        try:
            ev = json.loads(line)
            kind = ev["type"]
        except (ValueError, KeyError, TypeError):
            return  # a torn or foreign line: train.log has the full story
        metrics = run.setdefault("metrics", {}) or {}
        run["metrics"] = metrics
        self.remember(kind, ev)
        if kind == "start":
            fields["backend"] = ev.get("backend")
            if ev.get("total_steps"):
                fields["total_steps"] = ev["total_steps"]
        elif kind == "step":
            step, total = ev.get("step") or 0, ev.get("total") or run.get("total_steps")
            fields.update(current_step=step, eta_s=ev.get("eta_s"))
            if total:
                fields.update(total_steps=total, progress=min(1.0, step / total))
            loss = ev.get("loss")
            if isinstance(loss, (int, float)):
                fields["last_loss"] = loss
            metrics["last"] = {k: v for k, v in ev.items() if k not in ("type",)}
            if loss is not None:
                hist = metrics.setdefault("history", [])
                hist.append([step, loss])
                if len(hist) > HISTORY_MAX:
                    metrics["history"] = hist[::2]
        elif kind == "eval":
            metrics["eval"] = {k: v for k, v in ev.items() if k != "type"}
            metrics.setdefault("eval_history", []).append([ev.get("step"), ev.get("eval_loss")])
        elif kind == "checkpoint":
            fields["checkpoint_path"] = ev.get("path")
            rows.append(self.log_row(f"checkpoint saved at step {ev.get('step')}: {ev.get('path')}", "INFO", "events"))
        elif kind == "warning":
            rows.append(self.log_row(f"warning: {ev.get('message')}", "WARNING", "events"))
        elif kind == "error":
            msg = ev.get("message", "the trainer failed")
            hint = ev.get("hint")
            fields["error_message"] = f"{msg}" + (f" ({hint})" if hint else "")
            # no log line of its own: the trainer printed this error to train.log, whose lines
            # become log lines too (the Logs screen showed it twice)
        elif kind == "done":
            fields["adapter_path"] = ev.get("adapter_path")
            metrics["final"] = ev.get("metrics") or {}
            fields["progress"] = 1.0
        elif kind in ("stopped", "cancelled"):
            if ev.get("checkpoint"):
                fields["checkpoint_path"] = ev["checkpoint"]
        fields["metrics"] = metrics

    async def note(self, level: str, message: str) -> None:
        await add_log_lines(self.db, [{"level": level, "logger": "ffui.jobs.supervisor", "message": message,
                                       "run_id": self.run_id, "source": "supervisor"}])

    # -- cancel ---------------------------------------------------------------------------

    async def enforce_cancel(self, run: dict) -> None:
        meta = run.get("metadata") or {}
        if not meta.get("cancel_requested"):
            return
        if "done" in self.events:
            return  # finished already: nothing to stop, and a signal now would only disturb its exit
        now = time.monotonic()
        if self.cancel_seen_at is None:
            self.cancel_seen_at = now
            procs.signal_pid(run.get("trainer_pid"), signal.SIGTERM)
            await self.note("INFO", "cancel requested: asked the trainer to save a checkpoint and stop")
        elif not self.killed and now - self.cancel_seen_at > self.cancel_grace_s:
            procs.signal_group(run.get("trainer_pgid"), signal.SIGKILL)
            self.killed = True
            await self.note("WARNING", f"the trainer did not stop within {self.cancel_grace_s:.0f}s; killed its process group")

    # -- stalls ---------------------------------------------------------------------------

    async def check_stall(self, run: dict) -> None:
        """Say when the worker has gone silent for too long; with jobs.stall_action=fail, end it."""
        now = time.time()
        if self.stalled_since is not None and self.last_progress > self.stalled_since:
            self.stalled_since = None
            await self.db.write("UPDATE training_runs SET metadata_json = json_remove(metadata_json, '$.stalled') "
                                "WHERE id = ?", (self.run_id,))
            await self.note("INFO", "the trainer is making progress again")
            return
        phase = health.stall_phase(run, self.saw_step)
        limit = self.stall["stall_s"] if phase == "training" else self.stall["slow_s"]
        if self.stalled_since is not None or now - self.last_progress < limit:
            return
        self.stalled_since = self.last_progress
        await self.db.write(
            "UPDATE training_runs SET metadata_json = json_set(COALESCE(metadata_json, '{}'), '$.stalled', "
            "json_object('since', ?, 'phase', ?)) WHERE id = ?", (self.last_progress, phase, self.run_id))
        silent = health.fmt_duration(now - self.last_progress)
        if self.stall["action"] == "fail":
            self.stall_failure = (f"the trainer made no progress for {silent} while {phase} (stalled); it was killed "
                                  f"because jobs.stall_action is fail; see: ffui runs logs {self.run_id}")
            procs.signal_group(run.get("trainer_pgid"), signal.SIGKILL)
            await self.note("ERROR", self.stall_failure)
        else:
            await self.note("WARNING", f"the trainer has made no progress for {silent} while {phase} (stalled); "
                                       f"cancel it with: ffui runs cancel {self.run_id}")

    # -- the outcome ----------------------------------------------------------------------

    def outcome(self, run: dict, returncode: int | None) -> dict[str, Any]:
        cancel = bool((run.get("metadata") or {}).get("cancel_requested"))
        done, error, stopped = self.events.get("done"), self.events.get("error"), self.events.get("stopped")
        out: dict[str, Any] = {"completed_at": timestamp()[:19], "eta_s": None}  # an ended run has no ETA
        if returncode is not None:
            if returncode == -signal.SIGTERM and cancel:
                pass  # the cancel's own SIGTERM (a second cancel's, landing as the trainer exits): it is the cancel
            elif returncode < 0:
                out["exit_signal"] = -returncode
            else:
                out["exit_code"] = returncode
        # A cancel that lands after the trainer wrote `done` may signal it while it exits: the
        # adapter is saved, so the run is complete, whatever that late signal did to the exit code.
        if done and (returncode in (0, None) or (cancel and returncode in (-signal.SIGTERM, -signal.SIGKILL))):
            out["status"] = "completed"
        elif self.stall_failure:
            out["status"] = "failed"
            out["error_message"] = self.stall_failure
        elif cancel or (stopped and returncode in (0, None)):
            out["status"] = "cancelled"
            out["error_message"] = None if cancel else "stopped by a signal from outside ffui"
        elif error:
            out["status"] = "failed"
            out["error_message"] = error.get("message", "the trainer failed") + (
                f" ({error['hint']})" if error.get("hint") else "")
        elif returncode is None:
            out["status"] = "failed"
            out["error_message"] = ("the trainer ended while no supervisor was watching (killed, or the machine "
                                    "restarted); the end of its log may say why")
        elif returncode in (-signal.SIGKILL, 137):
            out["status"] = "failed"
            out["error_message"] = ("the trainer was killed (SIGKILL); if nobody killed it, the system ran out of "
                                    f"memory: {OOM_HINT}")
        elif returncode < 0:
            out["status"] = "failed"
            out["error_message"] = f"the trainer was killed by {procs.signal_name(-returncode)}"
        elif returncode == EXIT_OOM:
            out["status"] = "failed"
            out["error_message"] = f"out of memory: {OOM_HINT}"
        else:
            out["status"] = "failed"
            out["error_message"] = f"the trainer exited with code {returncode}; see: ffui runs logs {self.run_id}"
        if out["status"] == "failed" and not error and disk_full(run.get("storage_path")):
            # A full disk also swallows the trainer's own error event and log lines: say it here.
            out["error_message"] = (f"the disk holding {run['storage_path']} is full: free some space, then "
                                    f"ffui runs resume {self.run_id}")
        return out

    def outcome_line(self, out: dict) -> str:
        """'run failed: why', unless the trainer's own error line (in train.log) said why already."""
        reason = out.get("error_message")
        error = self.events.get("error")
        if reason and error and reason.startswith(error.get("message", "the trainer failed")):
            return f"run {out['status']} (the trainer's error line above says why)"
        return f"run {out['status']}" + (f": {reason}" if reason else "")

    async def finish(self, run: dict, returncode: int | None) -> str:
        out = self.outcome(run, returncode)
        async with self.db.transaction():
            # exactly once: only a run still marked running gets an outcome
            values = dict(out)
            cols = ", ".join(f"{k} = ?" for k in values)
            cur = await self.db.execute(
                f"UPDATE training_runs SET {cols}, updated_at = datetime('now') WHERE id = ? AND status = 'running'",
                (*values.values(), self.run_id),
            )
            if cur.rowcount != 1:
                return "unchanged"
            if out["status"] == "completed":
                await register_adapter(self.db, run, self.events["done"])
            await add_log_lines(self.db, [self.log_row(self.outcome_line(out), "INFO" if out["status"] != "failed"
                                                       else "ERROR", "supervisor")])
        return out["status"]

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> str:
        if not await self.claim():
            return "not-owner"
        run = await get_training_run(self.db, self.run_id)
        health.write_heartbeat(run)
        self.recall_outcome_events(run)  # a supervisor that died may have ingested some already
        if run.get("trainer_pid") is None:
            try:
                await self.start_or_adopt(run)
            except OSError as exc:
                await self.note("ERROR", f"could not start the trainer: {exc}")
                self.events["error"] = {"message": f"could not start the trainer: {exc}"}  # the run's reason
                return await self.finish(run, 1)
            run = await get_training_run(self.db, self.run_id)
        elif trainer_alive(run):
            await self.note("INFO", f"supervisor restarted; following trainer pid {run['trainer_pid']}")
        while True:
            fresh = await get_training_run(self.db, self.run_id)
            run["metadata"] = fresh.get("metadata")
            if fresh["status"] != "running" or fresh.get("supervisor_pid") != os.getpid():
                return "released"
            health.beat(run)
            running = self.trainer_running(run)
            try:
                run = await self.ingest(run, final=not running)
                await self.enforce_cancel(run)
                if running:
                    await self.check_stall(run)
                if not running:
                    code = self.proc.returncode if self.proc is not None else None
                    if self.proc is None and (run.get("metadata") or {}).get("cancel_requested"):
                        code = None
                    return await self.finish(run, code)
            except sqlite3.OperationalError:
                # Another writer held the database past the busy timeout (a huge import, say).
                # Nothing of this tick was committed: start again from the stored state.
                run = await get_training_run(self.db, self.run_id)
            await asyncio.sleep(POLL_S)


_TERMINAL = {"done": "done", "error": "error", "stopped": "stopped", "cancelled": "stopped"}
DISK_FULL_BYTES = 8 << 20  # less than this free: a checkpoint or a log line cannot be written


def disk_full(path: str | None) -> bool:
    try:
        return bool(path) and shutil.disk_usage(path).free < DISK_FULL_BYTES
    except OSError:
        return False


async def register_adapter(db: Database, run: dict, done: dict) -> None:
    """A completed run's adapter goes into the registry (adapters, and its base in models)."""
    adapter_path = done.get("adapter_path")
    if not adapter_path:
        return
    base = run.get("base_model") or ""
    model_id = run.get("base_model_id")
    if not model_id and base:
        row = await db.fetchone(
            "SELECT id FROM models WHERE location = ? OR huggingface_model_name = ? LIMIT 1", (base, base))
        if row:
            model_id = row["id"]
        else:
            import uuid

            model_id = str(uuid.uuid4())
            local = Path(base).exists()
            await db.execute(
                "INSERT INTO models(id, type, name, location, huggingface_model_name) VALUES (?, ?, ?, ?, ?)",
                (model_id, "local" if local else "huggingface", Path(base).name if local else base,
                 base if local else None, None if local else base),
            )
    import uuid

    adapter_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO adapters(id, type, name, model_id, location, fine_tuning_job_id, prompt_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (adapter_id, (run.get("hp") or {}).get("method", "lora"), run["name"], model_id, adapter_path,
         run.get("job_uuid"), run.get("prompt_id")),
    )
    await db.execute("UPDATE training_runs SET adapter_id = ?, base_model_id = COALESCE(base_model_id, ?) WHERE id = ?",
                     (adapter_id, model_id, run["id"]))


async def stall_settings(db: Database) -> dict:
    """jobs.stall_s, jobs.stall_slow_s (model load, checkpoint save) and jobs.stall_action (warn|fail)."""
    out: dict[str, Any] = {}
    for key, setting in (("stall_s", "jobs.stall_s"), ("slow_s", "jobs.stall_slow_s")):
        try:
            value = float(await get_setting(db, setting) or 0)
        except ValueError:
            value = 0
        if value > 0:
            out[key] = value
    action = str(await get_setting(db, "jobs.stall_action") or "warn").strip().lower()
    out["action"] = action if action in health.STALL_ACTIONS else "warn"
    return out


async def supervise(db_path: str, home: str, run_id: int) -> str:
    from ffui.db import register_secret
    from ffui.db.settings import secret_values

    async with connect(db_path, home) as db:
        for value in await secret_values(db):  # a trainer that prints a token must not store it
            register_secret(value)
        grace = float(await get_setting(db, "jobs.cancel_grace_s", 30) or 30)
        status = await RunSupervisor(db, run_id, grace, await stall_settings(db)).run()
        if status not in ("not-owner",):
            from ffui.jobs.manager import schedule

            await schedule(db)
        return status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ffui.jobs.supervisor")
    ap.add_argument("--db", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--run", type=int, required=True)
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
    asyncio.run(supervise(args.db, args.home, args.run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
