"""What a job kind is: the interface the supervisor loop runs every kind through (docs/jobs.md).

A kind says which table holds its job's row and how to claim and finish it (the supervisor
keeps it while the row's ``supervisor_pid`` is its own, read with ``get`` each poll); which command
its worker runs (a WorkerSpec, which an executor starts somewhere); how the worker's events
change the row; and what happens when it ends. The supervisor loop (ffui.jobs.supervisor)
knows nothing else about a kind, so evaluation, export, publish, scrape and generate are each
one new module in ffui/jobs/kinds/ and one line in its registry.

The row of any kind has the job columns the loop reads and writes: ``status`` (pending ->
running -> completed | failed | cancelled), ``supervisor_pid``, ``trainer_pid``/``trainer_pgid``
(the local executor's worker), ``storage_path`` (the run directory), ``log_offset``,
``events_offset``, ``metadata_json`` (cancel requests, stall marks), ``logs_json``,
``error_message``, ``exit_code``, ``exit_signal``, ``completed_at``, ``eta_s``. training_runs
has them all; a kind whose seed table lacks some adds them in a migration.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from ffui import events
from ffui.db import Database
from ffui.jobs.executors.base import WorkerSpec


class JobKind(ABC):
    name = "?"
    table = "?"
    noun = "worker"  # how log lines and reasons name the worker: "the trainer failed"
    log_source = "train"  # app_logs.source of the worker's own lines
    logger = "ffui.train"  # app_logs.logger of the worker's own lines
    takes_slot = True  # counts against the concurrency limit (one a GPU); False: starts at once

    # -- the row --------------------------------------------------------------------------

    @abstractmethod
    async def get(self, db: Database, job_id: int) -> dict | None:
        """The job's row, JSON columns decoded (``metadata``, ``metrics``, ``logs``)."""

    @abstractmethod
    async def update(self, db: Database, job_id: int, **fields: Any) -> None:
        """Set columns of the row (``metadata``/``metrics``/``logs`` take Python objects)."""

    async def claim(self, db: Database, job_id: int, pid: int) -> bool:
        """Compare-and-swap ownership: only one supervisor carries on with a running job."""
        cur = await db.write(
            f"UPDATE {self.table} SET supervisor_pid = ? WHERE id = ? AND status = 'running' "
            "AND (supervisor_pid IS NULL OR supervisor_pid = ?)", (pid, job_id, pid))
        return cur.rowcount == 1

    async def mark(self, db: Database, job_id: int, key: str, value: Any = None) -> None:
        """Set (or with None remove) ``metadata.<key>`` without rewriting the rest of it."""
        if value is None:
            await db.write(f"UPDATE {self.table} SET metadata_json = json_remove(metadata_json, '$.{key}') "
                           "WHERE id = ?", (job_id,))
        else:
            await db.write(f"UPDATE {self.table} SET metadata_json = json_set(COALESCE(metadata_json, '{{}}'), "
                           f"'$.{key}', json(?)) WHERE id = ?", (json.dumps(value), job_id))

    async def record_outcome(self, db: Database, job_id: int, out: dict[str, Any]) -> bool:
        """Write the outcome exactly once: only a job still marked running gets one (call it
        inside a transaction, with ``on_end``)."""
        cols = ", ".join(f"{k} = ?" for k in out)
        cur = await db.execute(f"UPDATE {self.table} SET {cols}, updated_at = datetime('now') "
                               "WHERE id = ? AND status = 'running'", (*out.values(), job_id))
        return cur.rowcount == 1

    # -- the worker -----------------------------------------------------------------------

    @abstractmethod
    async def worker(self, db: Database, run: dict) -> WorkerSpec:
        """The command (and environment) of this job's worker."""

    # -- its events and its end -----------------------------------------------------------

    def apply_event(self, run: dict, event: dict, fields: dict[str, Any]) -> list[tuple[str, str]]:
        """Fold one event into the row's fields; the (level, message) log lines it is worth."""
        return events.apply_event(run, event, fields)

    def outcome(self, run: dict, returncode: int | None, terminal: dict[str, dict], **facts: Any) -> dict[str, Any]:
        """The final status and reason (ffui.events.outcome; ``facts``: cancel, stall_failure, disk_full)."""
        return events.outcome(returncode, terminal, job_id=run["id"], storage=run.get("storage_path") or "",
                              worker=self.noun, **facts)

    async def on_end(self, db: Database, run: dict, out: dict[str, Any], terminal: dict[str, dict]) -> None:
        """What the job's end does besides its outcome, in the outcome's transaction (training:
        register the adapter). Nothing by default."""

