"""An evaluation's results: the compare table (each metric, each model, the difference from the
base) and the rows one page at a time (prompt, reference, each model's answer and scores).

The rows are read from the job's predictions.jsonl by line offsets (ffui.eval_results), a
page at a time in a thread, so thousands of rows page as fast as ten; while the evaluation
runs, new rows and the running metrics appear as the worker writes them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ffui.eval_results import PredictionRows, compare_table, fmt, model_results, same_as_base_warnings
from screens.dataset_forms import clean
from screens.runs import status_text
from screens.widgets.base import FfuiScreen, Poller, update_if_changed
from screens.widgets.modals import TextModal

PAGE_ROWS = 100  # rows a page holds; the table scrolls within it


def compare_renderable(models: list[dict]) -> Table:
    header, rows = compare_table(models)
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for i, name in enumerate(header):
        table.add_column(clean(name, one_line=True, limit=14), justify="left" if i == 0 else "right", no_wrap=True)
    for r in rows:
        table.add_row(*[Text(c, style="green" if c.endswith("better") else "red" if c.endswith("worse") else "")
                        for c in r])
    return table


def row_text(row: dict, names: list[str]) -> str:
    """One row in full, for its own dialog."""
    parts = [f"prompt:\n{row.get('prompt')}", f"reference:\n{row.get('reference')}"]
    for name in names:
        scores = (row.get("models") or {}).get(name) or {}
        shown = ", ".join(f"{k} {fmt(scores[k])}" for k in ("loss", "exact_match", "rouge_l", "judge") if k in scores)
        parts.append(f"{name}{f' ({shown})' if shown else ''}:\n{scores.get('answer')}")
    return clean("\n\n".join(parts))


class EvalScreen(FfuiScreen):
    HELP = ("An evaluation: its compare table (green: better than the base, red: worse) and its rows. "
            "n and b page through the rows, enter shows the highlighted row in full.")
    BINDINGS = [
        Binding("escape", "back", "Back", show=False, id="eval.back"),
        Binding("n", "page(1)", "Next rows", id="eval.next_page"),
        Binding("b", "page(-1)", "Prev rows", id="eval.prev_page"),
        Binding("enter", "show_row", "Row", id="eval.row"),
    ]
    AUTO_FOCUS = "#eval-rows"

    def __init__(self, job_run_id: int) -> None:
        super().__init__()
        self.job_run_id = job_run_id
        self.mode_title = f"Evaluation {job_run_id}"
        self.evaluation: dict | None = None
        self.rows: PredictionRows | None = None
        self.first = 0  # the first row of the page shown
        self.page_rows: list[dict] = []
        self.page_shown = False
        self.names: list[str] = []
        self.poller = Poller(self, self.refresh_results, 1.0)

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        yield Static(f"evaluation {self.job_run_id}", id="eval-title")
        yield Static("", id="eval-compare")
        yield Static("", id="eval-warning")
        yield Static("", id="eval-page")
        yield DataTable(id="eval-rows", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.poller.interval = getattr(self.app, "poll_s", 1.0)
        self.poller.start()

    async def refresh_results(self) -> None:
        from ffui.db import get_evaluation

        found = await get_evaluation(self.app.db, self.job_run_id)
        if found is None:
            self.query_one("#eval-title", Static).update(f"evaluation {self.job_run_id} no longer exists")
            self.poller.stop()
            return
        self.evaluation = found
        models = await asyncio.to_thread(model_results, found)
        self.show_summary(found, models)
        if self.rows is None and found.get("storage_path"):
            self.rows = PredictionRows(Path(found["storage_path"]) / "predictions.jsonl")
        if self.rows is not None:
            before = len(self.rows)
            total = await asyncio.to_thread(self.rows.refresh)
            if not self.page_shown or (total != before and self.first + PAGE_ROWS > before):
                await self.show_page()
        ended = found.get("status") in ("completed", "failed", "cancelled")
        self.poller.interval = 5.0 if ended else getattr(self.app, "poll_s", 1.0)  # an ended one may be resumed

    def show_summary(self, found: dict, models: list[dict]) -> None:
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"evaluation {self.job_run_id} ", style="bold")
        title.append(f"on {found.get('dataset_name') or '?'}  ")
        title.append_text(status_text(found.get("status") or "gone"))
        update_if_changed(self.query_one("#eval-title", Static), title, layout=False)
        key = repr([(m["name"], sorted(m["metrics"].items()), m.get("same_as_base")) for m in models])
        update_if_changed(self.query_one("#eval-compare", Static), compare_renderable(models), key=key)
        warnings = same_as_base_warnings(models)
        box = self.query_one("#eval-warning", Static)
        box.display = bool(warnings)
        update_if_changed(box, Text("\n".join(warnings), style="bold yellow"))
        self.names = self.names or [m["name"] for m in models]

    async def show_page(self) -> None:
        assert self.rows is not None
        self.page_rows = await asyncio.to_thread(self.rows.page, self.first, PAGE_ROWS)
        self.page_shown = True
        table = self.query_one("#eval-rows", DataTable)
        keep = table.cursor_row
        table.clear(columns=not table.columns)
        if not table.columns:
            table.add_column("#", key="row", width=4)
            table.add_column("prompt", key="prompt", width=16)
            table.add_column("reference", key="reference", width=12)
            for i, name in enumerate(self.names):
                table.add_column(clean(name, one_line=True, limit=18), key=f"m{i}", width=18)
        for row in self.page_rows:
            table.add_row(*self.cells(row), key=str(row.get("row")))
        if self.page_rows:
            table.move_cursor(row=min(keep, len(self.page_rows) - 1))
        total = len(self.rows)
        last = min(self.first + PAGE_ROWS, total)
        update_if_changed(self.query_one("#eval-page", Static),
                          Text(f"rows {self.first + 1 if total else 0}-{last} of {total}"
                               "  (n/b: next/previous rows, enter: the row in full)", style="dim"), layout=False)

    def cells(self, row: dict) -> list:
        out: list = [str((row.get("row") or 0) + 1), clean(row.get("prompt"), one_line=True, limit=40),
                     clean(row.get("reference"), one_line=True, limit=40)]
        for name in self.names:
            scores = (row.get("models") or {}).get(name) or {}
            mark = {1.0: "= ", 0.0: "≠ "}.get(scores.get("exact_match"), "")
            out.append(Text(mark + clean(scores.get("answer"), one_line=True, limit=60),
                            style="green" if mark == "= " else ""))
        return out

    async def action_page(self, step: int) -> None:
        if self.rows is None:
            return
        first = self.first + step * PAGE_ROWS
        if first < 0 or first >= max(len(self.rows), 1):
            self.app.bell()
            return
        self.first = first
        await self.show_page()
        self.query_one("#eval-rows", DataTable).move_cursor(row=0)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_row()

    def action_show_row(self) -> None:
        table = self.query_one("#eval-rows", DataTable)
        if not self.page_rows or table.cursor_row >= len(self.page_rows):
            return
        row = self.page_rows[table.cursor_row]
        self.app.push_screen(TextModal(f"row {(row.get('row') or 0) + 1}", row_text(row, self.names)))

    def action_back(self) -> None:
        self.app.pop_screen()
