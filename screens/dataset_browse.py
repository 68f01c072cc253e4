"""Browsing a dataset's rows a page at a time, one row in full, and a dataset's statistics.

The table never holds more than one page (``PAGE_SIZE`` rows). Pages are read by keyset:
the next page is the rows after the last id shown, the previous one the rows before the
first id shown; a jump to row N is an offset lookup (an index lookup for ffui's datasets,
whose ids are contiguous). So paging costs the same at row 10 and at row 1,000,000.
Moving the cursor past the last row loads the next page (and past the first, the previous),
so the table scrolls through the whole dataset as if it were one list.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from ffui.turns import turn_text
from screens.dataset_forms import Field, FormModal, clean
from screens.widgets.base import FfuiScreen

PAGE_SIZE = 50


class PageTable(DataTable):
    """A DataTable that asks for the neighbouring page when the cursor runs off an edge."""

    class Edge(Message):
        def __init__(self, where: str) -> None:
            super().__init__()
            self.where = where  # next | prev | first | last

    def _at_end(self) -> bool:
        return self.row_count == 0 or self.cursor_row >= self.row_count - 1

    def action_cursor_down(self) -> None:
        if self._at_end():
            self.post_message(self.Edge("next"))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.Edge("prev"))
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if self._at_end():
            self.post_message(self.Edge("next"))
        else:
            super().action_page_down()

    def action_page_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.Edge("prev"))
        else:
            super().action_page_up()

    def action_scroll_top(self) -> None:
        self.post_message(self.Edge("first"))

    def action_scroll_bottom(self) -> None:
        self.post_message(self.Edge("last"))

    action_scroll_home = action_scroll_top
    action_scroll_end = action_scroll_bottom


def turns_of(rec: dict) -> list[dict] | None:
    msgs = rec.get("messages")
    if isinstance(msgs, list) and msgs:
        return [m for m in msgs if isinstance(m, dict)]
    return None


def first_exchange(rec: dict) -> tuple[str, str]:
    """(input, output) to show in the table: a conversation's first user turn and the reply."""
    turns = turns_of(rec)
    if not turns:
        return rec.get("input") or "", rec.get("output") or ""
    ask = reply = ""
    for i, m in enumerate(turns):
        if m.get("role", m.get("from")) in ("user", "human"):
            ask = _said(m)
            for n in turns[i + 1:]:
                if n.get("role", n.get("from")) in ("assistant", "gpt"):
                    reply = _said(n)
                    break
            break
    if not ask and not reply:
        return rec.get("input") or "", rec.get("output") or ""
    return ask, reply


def _said(turn: dict) -> str:
    """A turn's text: typed parts joined, tool calls for a turn that only calls tools."""
    text = turn_text(turn)
    return text or (turn["value"] if isinstance(turn.get("value"), str) else "")


class DatasetRowsScreen(FfuiScreen):
    """One page of a dataset's rows; enter opens a row in full."""

    CSS_PATH = "datasets.tcss"
    HELP = """Rows of one dataset, one page at a time (the table holds one page, so a dataset of a
million rows browses as fast as one of ten). up/down move; past the last row the next page
loads. n/p next/previous page, g goes to a row number, home/end the first/last page,
enter shows the row in full (conversations as turns), escape goes back to the list."""
    BINDINGS = [
        Binding("escape", "back", "Back", id="rows.back"),
        Binding("n", "next_page", "Next page", id="rows.next"),
        Binding("p", "prev_page", "Prev page", id="rows.prev"),
        Binding("g", "goto", "Go to row", id="rows.goto"),
        Binding("r", "reload", "Reload", show=False, id="rows.reload"),
    ]

    def __init__(self, dataset_id: int, name: str | None = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__()
        self.mode_title = "Dataset rows"
        self.dataset_id = dataset_id
        self.dataset_name = name or f"#{dataset_id}"
        self.page_size = page_size
        self.total = 0
        self.first_index = 0          # 0-based index of the first row shown
        self.rows: list[dict] = []
        self.ds_layout = None
        self.format = ""
        self.loads = 0           # pages loaded (tests read it)

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        with Vertical(id="rows-body"):
            yield Static("", id="rows-title", classes="section-title")
            yield PageTable(id="rows-table", cursor_type="row")
            yield Static("", id="rows-pos")

    def on_mount(self) -> None:
        self.start()

    @work(exclusive=True, group="page", exit_on_error=False)
    async def start(self) -> None:
        from ffui.data import store

        session = await store.resolve(self.app.db, self.dataset_id)
        self.dataset_name = store.display_name(session)
        self.ds_layout = store.session_layout(session)
        self.format = self.ds_layout.format
        self.total = session["pair_count"] or 0
        rows = await store.page(self.app.db, self.dataset_id, limit=self.page_size, offset=0)
        self._show(rows, 0, cursor=0)

    # -- paging -------------------------------------------------------------------------------

    @work(exclusive=True, group="page", exit_on_error=False)
    async def load(self, where: str, target: int | None = None) -> None:
        from ffui.data import store

        db = self.app.db
        size = self.page_size
        if where == "next":
            if not self.rows:
                return
            rows = await store.page(db, self.dataset_id, limit=size, after_id=self.rows[-1]["id"])
            if rows:
                self._show(rows, self.first_index + len(self.rows), cursor=0)
            else:
                self.app.bell()
        elif where == "prev":
            if not self.rows or self.first_index == 0:
                self.app.bell()
                return
            rows = await store.page_before(db, self.dataset_id, self.rows[0]["id"], limit=size)
            if rows:
                self._show(rows, max(0, self.first_index - len(rows)), cursor=len(rows) - 1)
        elif where == "first":
            rows = await store.page(db, self.dataset_id, limit=size, offset=0)
            self._show(rows, 0, cursor=0)
        elif where == "last":
            self.total = await store.count(db, self.dataset_id)
            rows = await store.page_before(db, self.dataset_id, 2 ** 62, limit=size)
            self._show(rows, max(0, self.total - len(rows)), cursor=max(0, len(rows) - 1))
        elif where == "goto" and target is not None:
            index = max(0, min(target, max(0, self.total - 1)))
            rows = await store.page(db, self.dataset_id, limit=size, offset=index)
            self._show(rows, index, cursor=0)
        elif where == "reload":
            self.total = await store.count(db, self.dataset_id)
            rows = await store.page(db, self.dataset_id, limit=size, offset=self.first_index)
            self._show(rows, self.first_index, cursor=self.query_one(PageTable).cursor_row)

    def _widths(self) -> tuple[int, int]:
        room = max(30, self.size.width - 2 - 9 - 6 - 8)  # row no., turns, cell padding
        return room // 2, room - room // 2

    def _show(self, rows: list[dict], offset: int, cursor: int = 0) -> None:
        self.loads += 1
        self.rows, self.first_index = rows, offset
        t = self.query_one(PageTable)
        w_in, w_out = self._widths()
        t.clear(columns=True)
        t.add_column("row", width=9, key="row")
        t.add_column("input", width=w_in, key="input")
        t.add_column("output", width=w_out, key="output")
        t.add_column("turns", width=6, key="turns")
        for i, r in enumerate(rows):
            turns = turns_of(r)
            ask, reply = first_exchange(r)
            t.add_row(f"{offset + i + 1:,}", clean(ask, one_line=True, limit=w_in),
                      clean(reply, one_line=True, limit=w_out), str(len(turns)) if turns else "",
                      key=str(r["id"]))
        if rows:
            t.move_cursor(row=max(0, min(cursor, len(rows) - 1)), animate=False)
        self._title()

    def _title(self) -> None:
        first, last = self.first_index + 1, self.first_index + len(self.rows)
        span = f"rows {first:,}–{last:,} of {self.total:,}" if self.rows else f"no rows (of {self.total:,})"
        self.query_one("#rows-title", Static).update(
            Text(clean(f"{self.dataset_name} · {self.format} · {span}", one_line=True), style="bold"))
        pages = max(1, -(-self.total // self.page_size))
        page_no = self.first_index // self.page_size + 1
        self.query_one("#rows-pos", Static).update(
            Text(f"page {page_no:,}/{pages:,} · n/p page · g row · home/end first/last · enter open",
                 style="dim"))

    def on_page_table_edge(self, event: PageTable.Edge) -> None:
        event.stop()
        self.load(event.where)

    def action_next_page(self) -> None:
        self.load("next")

    def action_prev_page(self) -> None:
        self.load("prev")

    def action_reload(self) -> None:
        self.load("reload")

    def action_goto(self) -> None:
        def go(v: dict | None) -> None:
            if v and v.get("row"):
                self.load("goto", int(v["row"]) - 1)

        def check(v: dict) -> str | None:
            n = v.get("row")
            if n is None or n < 1 or n > max(1, self.total):
                return f"give a row number from 1 to {self.total:,}"
            return None

        self.app.push_screen(FormModal("Go to row", [Field("row", f"Row number (1–{self.total:,}):", kind="int",
                                                           value="")], submit="Go", check=check), go)

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        index = event.cursor_row
        if 0 <= index < len(self.rows):
            self.app.push_screen(RowScreen(self.rows, index, self.first_index, self.ds_layout, self.dataset_name))


class RowScreen(FfuiScreen):
    """One row in full: a conversation as its turns, a pair as its fields, then metadata; or
    (t) as trained: the text the model is fed, with the trained spans highlighted."""

    CSS_PATH = "datasets.tcss"
    HELP = """One row of a dataset in full. up/down scroll, n/p the next/previous row of the page,
t switches to the row as trained: the exact text the model is fed (chat template, truncation)
with the spans it learns to produce highlighted, for the model and settings chosen in the
Train form (3); t again shows the row as stored. escape goes back."""
    BINDINGS = [
        Binding("escape", "back", "Back", id="row.back"),
        Binding("n", "move(1)", "Next row", id="row.next"),
        Binding("p", "move(-1)", "Prev row", id="row.prev"),
        Binding("t", "toggle_trained", "As trained", id="row.as_trained"),
    ]

    def __init__(self, rows: list[dict], index: int, offset: int, layout: Any, dataset_name: str) -> None:
        super().__init__()
        self.mode_title = "Row"
        self.rows, self.index, self.first_index, self.ds_layout, self.dataset_name = rows, index, offset, layout, dataset_name
        self.as_trained = False

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        yield Static("", id="row-title", classes="section-title")
        with VerticalScroll(id="row-scroll"):
            yield Static("", id="row-body")

    def on_mount(self) -> None:
        self._render_row()
        self.query_one("#row-scroll").focus()

    def _render_row(self) -> None:
        rec = self.rows[self.index]
        self.query_one("#row-title", Static).update(Text(clean(
            f"{self.dataset_name} · row {self.first_index + self.index + 1:,} (id {rec['id']})", one_line=True),
            style="bold"))
        if self.as_trained:
            self.query_one("#row-body", Static).update(Text("rendering as trained… (in a worker process)",
                                                            style="dim"))
            self.render_trained(rec)
        else:
            self.workers.cancel_group(self, "as-trained")
            self.query_one("#row-body", Static).update(render_record(rec, self.ds_layout))
        self.query_one("#row-scroll", VerticalScroll).scroll_home(animate=False)

    def action_move(self, step: int) -> None:
        new = self.index + step
        if 0 <= new < len(self.rows):
            self.index = new
            self._render_row()
        else:
            self.app.bell()

    def action_toggle_trained(self) -> None:
        self.as_trained = not self.as_trained
        self._render_row()

    def _train_choices(self) -> tuple[str, dict, str | None] | None:
        """(model, settings, prompt name) chosen in the Train form; None before it has a model."""
        stack = self.app.mode_stack("train") if hasattr(self.app, "mode_stack") else []
        choices = getattr(stack[0], "launch_choices", None) if stack else None
        if choices is None:
            return None
        model, hp, prompt = choices()
        return (model, hp, prompt) if model else None

    @work(exclusive=True, group="as-trained", exit_on_error=False)
    async def render_trained(self, rec: dict) -> None:
        from ffui.errors import FfuiError
        from ffui.jobs.render import render_chosen

        body = self.query_one("#row-body", Static)
        choices = self._train_choices()
        if choices is None:
            body.update(Text("choose a model in the Train form (3) first: the row renders with its model and "
                             "settings", style="bold red"))
            return
        model, hp, prompt = choices
        try:
            rendered = await render_chosen(self.app.db, [rec], self.ds_layout, model=model, hp=hp, prompt=prompt)
        except FfuiError as e:
            body.update(Text(clean(str(e), one_line=True), style="bold red"))
            return
        if self.as_trained and self.rows[self.index] is rec:
            body.update(render_as_trained(rendered, model))

    def action_back(self) -> None:
        self.app.pop_screen()


def _system_column(rec: dict) -> str | None:
    from ffui.data.formats import row_system

    try:
        return row_system(rec)
    except (ValueError, TypeError, AttributeError):  # odd metadata: show the row without it
        return None


def render_record(rec: dict, layout: Any) -> Text:
    """A record as readable text: turns for a conversation, fields for anything else."""
    out = Text()
    turns = turns_of(rec)
    if turns:
        out.append(f"{len(turns)} turns\n", style="dim")
        first = turns[0].get("role") or turns[0].get("from")
        system = _system_column(rec) if first != "system" else None
        if system is not None:  # trained as the first turn (ffui.data.formats.row_system)
            out.append("\n── system ", style="bold")
            out.append("(its own column; trained as the first turn)", style="dim")
            out.append("\n" + clean(system) + "\n")
        for m in turns:
            role = clean(m.get("role") or m.get("from") or "?", one_line=True)
            content = m.get("content", m.get("value", ""))
            if not content or isinstance(content, list):  # typed parts, a turn of tool calls only
                content = _said(m) or content or ""
            if not isinstance(content, str):
                content = json.dumps(content, ensure_ascii=False, indent=1)
            out.append(f"\n── {role} ", style="bold reverse" if role == "assistant" else "bold")
            out.append("\n")
            out.append(clean(content) + "\n")
    else:
        fields: dict = {}
        if layout is not None:
            try:
                from ffui.data.formats import record_fields

                fields = record_fields(rec, layout)
            except Exception:  # an odd row must still show: fall back on input/output
                fields = {}
        if not fields:
            fields = {"input": rec.get("input"), "output": rec.get("output")}
        for k, v in fields.items():
            out.append(f"\n── {clean(k, one_line=True)} ", style="bold")
            out.append("\n")
            text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, indent=1)
            out.append(clean(text) + "\n")
    meta = rec.get("metadata")
    if meta:
        out.append("\n── metadata ", style="dim bold")
        out.append("\n" + clean(json.dumps(meta, ensure_ascii=False, indent=1)) + "\n", style="dim")
    if rec.get("source_url"):
        out.append(f"\nsource: {clean(rec['source_url'], one_line=True)}\n", style="dim")
    return out


TRAINED_STYLE = "bold black on green"


def render_as_trained(rendered: Any, model: str) -> Text:
    """A rendered row (ffui.jobs.render): its numbers, the trainer's warnings, then the text the
    model is fed with each trained span highlighted."""
    from ffui.jobs.render import text_pieces

    out = Text()
    ex = rendered.examples[0]
    if "text" not in ex:  # a preference objective: the sides its trainer compares
        out.append(clean(f"as {rendered.summary.get('line', 'rendered')}", one_line=True) + "\n\n", style="bold")
        for side in ("prompt", "chosen", "rejected", "completion", "label"):
            if side in ex:
                value = ex[side]
                shown = "\n".join(f"{m.get('role')}: {m.get('content')}" for m in value if isinstance(m, dict)) \
                    if isinstance(value, list) else str(value)
                out.append(f"{side}:\n", style=TRAINED_STYLE if side == "chosen" else "bold")
                out.append(clean(shown) + "\n")
        return out
    notes = [f"{ex['tokens']} tokens, {ex['trained_tokens']} trained"]
    if ex.get("truncated"):
        notes.append(f"truncated to max_seq_len={rendered.summary.get('max_seq_len')}")
    if ex.get("dropped"):
        notes.append(f"dropped: {ex['dropped']}")
    out.append(clean(f"as trained with {model}: {', '.join(notes)}", one_line=True) + "\n", style="bold")
    out.append("highlighted: what the model learns to produce; the rest it only reads\n", style="dim")
    for w in rendered.warnings:
        out.append(clean(f"warning: {w}", one_line=True) + "\n", style="yellow")
    out.append("\n")
    for piece, trained in text_pieces(ex):
        out.append(clean(piece), style=TRAINED_STYLE if trained else "")
    return out


class DatasetStatsScreen(FfuiScreen):
    """Statistics of a dataset (lengths, empty fields, duplicates, turns, leakage)."""

    CSS_PATH = "datasets.tcss"
    HELP = ("Statistics of one dataset: characters per row (with histograms), empty fields, exact and near "
            "duplicates, turns per conversation, and rows shared with its sibling splits. escape goes back.")
    BINDINGS = [Binding("escape", "back", "Back", id="stats.back")]

    def __init__(self, dataset_id: int, name: str) -> None:
        super().__init__()
        self.mode_title = "Dataset stats"
        self.dataset_id, self.dataset_name = dataset_id, name
        self.stats: dict | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        yield Static(Text(clean(f"Statistics of {self.dataset_name}", one_line=True), style="bold"),
                     classes="section-title")
        with VerticalScroll(id="stats-scroll"):
            yield Static(Text("computing statistics… (reads every row once, off the UI thread)"),
                         id="stats-body")

    def on_mount(self) -> None:
        self.query_one("#stats-scroll").focus()
        self.compute()

    @work(exclusive=True, exit_on_error=False)
    async def compute(self) -> None:
        from ffui.data import store
        from ffui.data.stats import format_stats

        st = await store.stats(self.app.db, self.dataset_id)
        self.stats = st
        width = max(10, min(40, self.size.width - 40))
        self.query_one("#stats-body", Static).update(Text(format_stats(st["name"], st, width=width)))

    def action_back(self) -> None:
        self.app.pop_screen()
