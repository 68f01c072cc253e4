"""What both front ends do to a run in one step: delete it, resume it and start it, and how a
cancel ended.

The CLI (``ffui runs rm``, ``ffui runs resume``) and the TUI (x and r on a run) call these,
so the guard and the order of the steps are written once.
"""

from __future__ import annotations

from ffui.db import FINAL_STATUSES, Database, delete_training_run
from ffui.jobs import manager
from ffui.jobs.errors import JobError


class RunStillActive(JobError):
    """The run is queued or running: it must be cancelled before it can be deleted."""

    def __init__(self, run_id: int, status: str):
        super().__init__(f"run {run_id} is {status}; cancel it first")
        self.run_id, self.status = run_id, status


def refuse_active(run: dict) -> None:
    """Raise RunStillActive for a run that has not ended (before asking the user to confirm)."""
    if run["status"] not in FINAL_STATUSES:
        raise RunStillActive(run["id"], run["status"])


def left_the_queue(run: dict) -> bool:
    """Whether a cancel took ``run`` out of the queue before it started: a queued run is cancelled
    at once, without a request to its worker; a running one that stopped fast may be final by
    the time the front end looks, but it carries the request (``metadata.cancel_requested``)."""
    return run["status"] in FINAL_STATUSES and not (run.get("metadata") or {}).get("cancel_requested")


async def delete_run(db: Database, run_id: int, *, delete_artifacts: bool = False) -> str:
    """Delete a run that has ended, with its log lines (and its files with ``delete_artifacts``);
    returns one line on what became of its files. A queued or running run is refused, also one
    resumed by another process since the caller looked."""
    refuse_active(await manager.get_run(db, run_id))
    files = await delete_training_run(db, run_id, delete_artifacts=delete_artifacts, statuses=FINAL_STATUSES)
    if files is None:  # it changed (resumed, or deleted) after we looked
        refuse_active(await manager.get_run(db, run_id))
        raise JobError(f"run {run_id} changed while it was being deleted; look again with: ffui runs show {run_id}")
    return files


async def resume_run(db: Database, run_id: int, checkpoint_step: int | None = None, *, start: bool = True) -> dict:
    """Queue a failed or cancelled run again from its last (or the chosen) checkpoint and, with
    ``start``, start it now if a slot is free; returns the run as it is then (``running``, or
    ``pending`` while it waits in the queue)."""
    run = await manager.resume_run(db, run_id, checkpoint_step)
    if not start:
        return run
    await manager.schedule(db)
    return await manager.get_run(db, run_id)
