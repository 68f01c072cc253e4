"""Runs (mode 1): every training run with its status, progress, loss trend, ETA and backend.

The table is refreshed by a poll that never overlaps and sleeps while the screen is hidden;
runs started by the CLI or another ffui show up within a second or two. A poll reads only
the columns the table shows; a run's loss history (for the sparkline) is read again only
when that run has changed. The actions (cancel, checkpoint, resume, duplicate, delete) are
``RunActions``, shared with the run's own screen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from screens.widgets.base import FfuiScreen, Poller, update_if_changed
from screens.widgets.format import bar, fmt_num, run_eta, sparkline
from screens.widgets.gpu_panel import GpuPanel

LIST_LIMIT = 500
SPARK_W = 8
STATUS_STYLE = {"running": "bold green", "pending": "dim", "completed": "", "failed": "bold red", "cancelled": "yellow"}
# the run states each action applies to (cancel a queued or running run, resume an ended one...)
ACTION_STATES = {
    "cancel_run": ("pending", "running"),
    "checkpoint": ("running",),
    "resume": ("failed", "cancelled"),
    "duplicate": ("pending", "running", "completed", "failed", "cancelled"),
    "delete": ("completed", "failed", "cancelled"),
}
NO_RUNS = "No runs yet. Press 3 for the Train form, or run: ffui train --dataset NAME --model PATH"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


async def fetch_runs(db, sparks: dict[int, tuple[tuple, str]]) -> list[dict]:
    """The table's rows; ``sparks`` caches each run's sparkline by its change key."""
    from ffui.db import list_run_summaries, loss_histories

    rows = await list_run_summaries(db, LIST_LIMIT)
    changed = [r["id"] for r in rows if sparks.get(r["id"], ((),))[0] != _change_key(r)]
    if changed:
        losses = await loss_histories(db, changed)
        # (in a thread too: a first look at hundreds of runs draws them all)
        lines = await asyncio.to_thread(lambda: {i: sparkline(v, SPARK_W) for i, v in losses.items()})
        for r in rows:
            if r["id"] in lines:
                sparks[r["id"]] = (_change_key(r), lines[r["id"]])
    places = {}
    if any(r["status"] == "pending" for r in rows):
        from ffui.jobs.describe import queue_places

        places = await queue_places(db)
    for r in rows:
        r["spark"] = sparks.get(r["id"], ((), ""))[1]
        r["queue"] = places.get(r["id"])
    return rows


def _change_key(r: dict) -> tuple:
    return (r["updated_at"], r["current_step"], r["status"], r["last_loss"])


def row_cells(r: dict) -> tuple:
    from ffui.jobs.health import stalled_for

    stalled = stalled_for(r["status"], r.get("stalled_since"))
    progress = Text(f"{bar(r['progress'] or 0, 5)} {float(r['progress'] or 0) * 100:3.0f}%",
                    style="green" if r["status"] == "running" else "")
    return (
        str(r["id"]),
        Text(r["name"] or "", overflow="ellipsis", no_wrap=True),
        Text("stalled", style="bold yellow") if stalled else status_text(r["status"]),
        progress,
        fmt_num(r["last_loss"]),
        Text(r["spark"], style="cyan"),
        # an ETA only means something while running; a stalled run's is frozen: say for how long instead
        Text(stalled.removeprefix("stalled for "), style="yellow") if stalled else
        f"queue {r['queue'][0]}" if r.get("queue") else run_eta(r),
        where_or_kind(r),
    )


def where_or_kind(r: dict) -> str:
    """The last column: where a training run trains (cpu, cuda, or pod: its stage and cost are on
    its screen), or what another job is (eval, exp, pub, data). One column for both, so the
    name keeps its 16 cells at 80 columns."""
    kind = r.get("kind") or "training"
    if kind in ("training", "fake"):
        return "pod" if r.get("pod_id") else r["backend"] or ""
    return KIND_LABELS.get(kind, kind[:4])


KIND_LABELS = {"evaluation": "eval", "export": "exp", "publish": "pub", "scrape": "data"}
COLUMNS = (("#", "id", 3), ("name", "name", 16), ("status", "status", 9), ("progress", "progress", 10),
           ("loss", "loss", 6), ("trend", "trend", SPARK_W), ("eta", "eta", 7), ("on", "backend", 4))


class RunsTable(DataTable):
    """A DataTable that repaints only the cell that changed.

    ``update_cell`` repaints the whole table for one cell: a live run's progress, loss and
    ETA would send every row to the terminal each second (~4 KB/s at 80x24) instead of ~30
    characters.
    """

    _one_cell = False

    def refresh(self, *regions, **kwargs):
        if self._one_cell:
            return self
        return super().refresh(*regions, **kwargs)

    def set_cell(self, row_key: str, column_key: str, value) -> None:
        self._one_cell = True
        try:
            self.update_cell(row_key, column_key, value)
        finally:
            self._one_cell = False
        self.refresh_coordinate(self.get_cell_coordinate(row_key, column_key))


class RunActions:
    """Cancel, checkpoint, resume, duplicate and delete for the run ``selected_run_id()``."""

    def selected_run_id(self) -> int | None:  # pragma: no cover - each screen defines it
        raise NotImplementedError

    async def _selected_run(self) -> dict | None:
        from ffui.jobs.manager import get_run

        run_id = self.selected_run_id()
        if run_id is None:
            self.notify("no run selected", severity="warning")
            return None
        return await get_run(self.app.db, run_id)

    def action_cancel_run(self) -> None:
        self.run_worker(self._cancel(), group="run-action", exit_on_error=False)

    async def _cancel(self) -> None:
        from ffui.db import FINAL_STATUSES
        from ffui.jobs.manager import request_cancel
        from ffui.jobs.runs import left_the_queue
        from screens.widgets.modals import ConfirmModal

        run = await self._selected_run()
        if run is None:
            return
        if run["status"] in FINAL_STATUSES:
            self.notify(f"run {run['id']} has already ended ({run['status']})", severity="warning")
            return
        what = ("It leaves the queue before it starts." if run["status"] == "pending" else
                "The trainer saves a checkpoint and stops; you can resume it later with r.")
        ok = await self.app.push_screen_wait(ConfirmModal(
            f"Cancel run {run['id']}?", f"{run['name']} is {run['status']}. {what}",
            yes="Cancel run", no="Keep running", danger=True))
        if not ok:
            return
        run = await request_cancel(self.app.db, run["id"])
        if run["status"] not in FINAL_STATUSES:
            done = "stopping: it saves a checkpoint first"
        elif left_the_queue(run):
            done = "removed from the queue"
        else:  # it ran, and stopped at once
            done = run["status"]
        self.notify(f"run {run['id']} {done}")
        self.after_run_action()

    def action_checkpoint(self) -> None:
        self.run_worker(self._checkpoint(), group="run-action", exit_on_error=False)

    async def _checkpoint(self) -> None:
        from ffui.jobs.manager import request_checkpoint
        from screens.widgets.modals import ConfirmModal

        run = await self._selected_run()
        if run is None:
            return
        if run["status"] != "running":
            self.notify(f"run {run['id']} is {run['status']}; only a running run can save a checkpoint",
                        severity="warning")
            return
        if not await self.app.push_screen_wait(ConfirmModal(
                f"Save a checkpoint of run {run['id']}?",
                f"{run['name']} writes a checkpoint at its next step and keeps training.",
                yes="Save checkpoint", no="Not now")):
            return
        await request_checkpoint(self.app.db, run["id"])
        self.notify(f"run {run['id']} saves a checkpoint at its next step")

    def action_resume(self) -> None:
        self.run_worker(self._resume(), group="run-action", exit_on_error=False)

    async def _resume(self) -> None:
        from ffui.jobs.manager import list_checkpoints
        from ffui.jobs.runs import resume_run
        from screens.widgets.modals import ChoiceModal

        run = await self._selected_run()
        if run is None:
            return
        if run["status"] not in ("failed", "cancelled"):
            self.notify(f"run {run['id']} is {run['status']}; only a failed or cancelled run can be resumed",
                        severity="warning")
            return
        checkpoints = await asyncio.to_thread(list_checkpoints, run)
        if not checkpoints:
            self.notify(f"run {run['id']} saved no checkpoint to resume from; start it again from the Train form (3)",
                        severity="warning")
            return
        choices = [(f"step {step}" + ("  (last)" if i == len(checkpoints) - 1 else ""), step)
                   for i, (step, _path) in enumerate(checkpoints)]
        step = await self.app.push_screen_wait(ChoiceModal(
            f"Resume run {run['id']} from", choices, highlight=-1, note="enter resumes from the highlighted checkpoint"))
        if step is None:
            return
        resumed = await resume_run(self.app.db, run["id"], step, start=True)
        state = "queued" if resumed["status"] == "pending" else "running"
        self.notify(f"run {run['id']} resumes from step {step} ({state})")
        self.after_run_action()

    def action_duplicate(self) -> None:
        self.run_worker(self._duplicate(), group="run-action", exit_on_error=False)

    async def _duplicate(self) -> None:
        run = await self._selected_run()
        if run is None:
            return
        hp = dict(run.get("hp") or {})
        hp.pop("resume_from_checkpoint", None)  # a copy starts fresh
        if await self.app.show_train_config(hp, origin=f"run {run['id']}"):
            self.app.notify(f"the Train form has run {run['id']}'s config")

    def action_delete(self) -> None:
        self.run_worker(self._delete(), group="run-action", exit_on_error=False)

    async def _delete(self) -> None:
        from ffui.jobs.runs import RunStillActive, delete_run, refuse_active
        from screens.widgets.modals import ConfirmModal

        run = await self._selected_run()
        if run is None:
            return
        try:
            refuse_active(run)  # before asking: a run that cannot go is not offered
        except RunStillActive as exc:
            self.notify(f"{exc} (c)", severity="warning")
            return
        answer = await self.app.push_screen_wait(ConfirmModal(
            f"Delete run {run['id']}?",
            f"{run['name']} ({run['status']}) and its log lines leave the database.",
            yes="Delete", no="Keep", danger=True,
            extra=f"also delete its files: {Path(run['storage_path'] or '').name or 'none'}"))
        if not answer:
            return
        try:
            files = await delete_run(self.app.db, run["id"], delete_artifacts=answer.extra)
        except RunStillActive as exc:  # resumed (by the CLI, another ffui) while the dialog was open
            self.notify(f"{exc} (c)", severity="warning")
            return
        self.app.notify(f"run {run['id']} deleted; {files}", markup=False)
        self.after_delete(run["id"])

    def after_run_action(self) -> None:
        """Refresh at once after an action, so the user sees its effect without waiting a poll."""

    def after_delete(self, run_id: int) -> None:
        self.after_run_action()

    def selected_status(self) -> str | None:  # pragma: no cover - each screen defines it
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """The footer shows only what applies to the run's state now; the same key then falls
        through to its hidden ``explain`` binding, which says why it does not apply."""
        states = ACTION_STATES.get(action)
        if states is None:
            return True
        return self.selected_status() in states

    def action_explain(self, action: str) -> None:
        getattr(self, f"action_{action}")()  # each action says in one line why it cannot be done


def explain_bindings(prefix: str) -> list[Binding]:
    """Hidden bindings for the state actions' keys, used where the footer hides the action."""
    keys = {"cancel_run": ("c", "Cancel"), "checkpoint": ("s", "Checkpoint"), "resume": ("r", "Resume"),
            "delete": ("x", "Delete")}
    return [Binding(key, f"explain('{action}')", label, show=False, id=f"{prefix}.{action}.why",
                    tooltip=f"{label}: only for a {' or '.join(ACTION_STATES[action])} run")
            for action, (key, label) in keys.items()]


class RunsScreen(RunActions, FfuiScreen):
    mode_title = "Runs"
    HELP = (
        "Every training run, newest first, refreshed every second (runs started from the CLI appear too).\n"
        "enter opens a run: its live log, loss chart, metrics and config. The actions also work here, "
        "on the highlighted run."
    )
    BINDINGS = [
        Binding("enter", "open", "Open", id="runs.open"),
        Binding("c", "cancel_run", "Cancel", tooltip="Cancel the run (it saves a checkpoint first)", id="runs.cancel"),
        Binding("s", "checkpoint", "Ckpt", tooltip="Save a checkpoint now, without stopping", id="runs.checkpoint"),
        Binding("r", "resume", "Resume", tooltip="Resume from the last checkpoint or a chosen one", id="runs.resume"),
        Binding("d", "duplicate", "Copy", tooltip="Duplicate the config into the Train form", id="runs.duplicate"),
        Binding("x", "delete", "Delete", tooltip="Delete the run (its files only if you tick it)", id="runs.delete"),
        *explain_bindings("runs"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sparks: dict[int, tuple[tuple, str]] = {}
        self.row_ids: list[int] = []
        self.cells: dict[int, tuple] = {}  # what each row shows now: only changed cells are redrawn
        self.queue_notes: dict[int, str] = {}  # queued run -> why it waits
        self.statuses: dict[int, str] = {}  # run -> its status, for the keys that apply to it
        self.poller = Poller(self, self.refresh_runs, 1.0)

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        table = RunsTable(id="runs-table", cursor_type="row", zebra_stripes=False)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Static("loading…", id="runs-empty")
        yield Static("", id="runs-note")  # why the highlighted run waits, when it is queued
        yield GpuPanel(id="gpu-panel")

    def on_mount(self) -> None:
        self.poller.interval = getattr(self.app, "poll_s", 1.0)
        self.poller.start()

    def on_screen_resume(self) -> None:
        self.poller.now()

    def on_database_ready(self) -> None:
        self.poller.now()

    def selected_run_id(self) -> int | None:
        table = self.query_one(DataTable)
        if not self.row_ids or table.cursor_row < 0 or table.cursor_row >= len(self.row_ids):
            return None
        return self.row_ids[table.cursor_row]

    async def refresh_runs(self) -> None:
        if self.app.db is None:
            return
        rows = await fetch_runs(self.app.db, self.sparks)
        self.show_rows(rows)

    def show_rows(self, rows: list[dict]) -> None:
        table = self.query_one(DataTable)
        ids = [r["id"] for r in rows]
        if ids != self.row_ids:
            keep = self.selected_run_id()
            table.clear()
            self.cells = {r["id"]: row_cells(r) for r in rows}
            for r in rows:
                table.add_row(*self.cells[r["id"]], key=str(r["id"]))
            self.row_ids = ids
            if keep in ids:
                table.move_cursor(row=ids.index(keep), animate=False)
        else:
            for r in rows:
                new, old = row_cells(r), self.cells.get(r["id"], ())
                for i, ((_label, key, _w), value) in enumerate(zip(COLUMNS, new)):
                    if i >= len(old) or old[i] != value:
                        table.set_cell(str(r["id"]), key, value)
                self.cells[r["id"]] = new
        empty = self.query_one("#runs-empty", Static)
        if empty.display != (not rows):  # (setting it, even unchanged, lays the screen out again)
            empty.display = not rows
        if not rows and empty.content != NO_RUNS:  # (an update redraws even when the text is the same)
            empty.update(NO_RUNS)
        self.queue_notes = {r["id"]: r["queue"][1] for r in rows if r.get("queue")}
        statuses = {r["id"]: r["status"] for r in rows}
        if statuses.get(self.selected_run_id()) != self.statuses.get(self.selected_run_id()):
            self.refresh_bindings()
        self.statuses = statuses
        self.show_note()

    def selected_status(self) -> str | None:
        return self.statuses.get(self.selected_run_id())

    def show_note(self) -> None:
        note = self.query_one("#runs-note", Static)
        run_id = self.selected_run_id()
        text = f"run {run_id} {self.queue_notes[run_id]}" if run_id in self.queue_notes else ""
        if note.display != bool(text):
            note.display = bool(text)
        update_if_changed(note, Text(text, style="dim"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_note()
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(int(event.row_key.value))

    def action_open(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None:
            self.app.open_run(run_id)

    def after_run_action(self) -> None:
        self.poller.now()
