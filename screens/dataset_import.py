"""Import a dataset: a path, a preview of the detected format and first rows, then the import.

Nothing is written until the operator has seen the preview and confirms (ctrl+s). The import
runs in a worker with a progress bar; escape during it cancels, and the store rolls the
whole import back (one transaction), so a cancelled import leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, Input, Label, ProgressBar, Select, Static

from ffui.data.readers import default_dataset_name
from screens.dataset_forms import PathInput, clean
from screens.widgets.base import FfuiScreen
from screens.widgets.tick import Tick

FORMATS = [("auto-detect", "auto"), ("alpaca", "alpaca"), ("sharegpt", "sharegpt"), ("chatml", "chatml"),
           ("input-output", "input-output"), ("text", "text")]


class ImportScreen(FfuiScreen):
    """Path → preview → import, with a progress bar. Dismisses with the import's result."""

    CSS_PATH = "datasets.tcss"
    HELP = """Import a dataset. Type a path (tab completes; a file of JSONL, JSON, CSV, TSV or Parquet,
also .gz/.bz2/.xz-compressed, a save_to_disk folder, a folder of data files such as a downloaded
hub repo, or a hub id) and press enter: the format is detected and the first rows are shown,
nothing is written yet (tab takes a path completion; down moves on to the next field). The
preview names the split it read and the others; type one in Split and press enter to take it.
Change the Format if the guess is wrong; columns it does not know (a CSV's "question" and
"answer") go in Map as FIELD=COLUMN, comma-separated (input=question, output=answer), as
`ffui data import --map` takes them; the preview shows the mapped rows. A problem stays above
the preview until you change the input. Name the dataset, then ctrl+s
imports (a progress bar shows how far). escape cancels an import in progress (nothing is kept)
or goes back."""
    BINDINGS = [
        Binding("ctrl+s", "import", "Import", id="import.go", priority=True),
        Binding("escape", "back", "Back/cancel", id="import.back"),
    ]

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.mode_title = "Import a dataset"
        self.initial_path = path
        self.preview: dict | None = None
        self.preview_key: tuple | None = None
        self.name_touched = False
        self.problem: str | None = None  # shown above the preview until the input changes
        self.importing = False
        self.result: dict | None = None
        self.progress_seen: list[dict] = []  # progress states shown (tests read them)

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        with Vertical(id="imp-body"):
            yield Static(Text("Import a dataset: enter previews (nothing is written), ctrl+s imports",
                              style="bold"), classes="section-title")
            with Horizontal(classes="imp-row"):
                yield Label("Path", classes="imp-label")
                yield PathInput(self.initial_path, placeholder="~/data/train.jsonl (tab completes)",
                                id="imp-path", compact=True)
            with Horizontal(classes="imp-row"):
                yield Label("Split", classes="imp-label")
                yield Input("", placeholder="train (or the only one); the preview lists the others",
                            id="imp-split", compact=True)
            with Horizontal(classes="imp-row"):
                yield Label("Format", classes="imp-label")
                yield Select(FORMATS, value="auto", allow_blank=False, id="imp-format", compact=True)
                yield Label("Map", classes="imp-map-label")
                yield Input("", placeholder="e.g. input=question, output=answer",
                            id="imp-map", compact=True)
            with Horizontal(classes="imp-row"):
                yield Label("Name", classes="imp-label")
                yield Input("", placeholder="name of the new dataset", id="imp-name", compact=True)
            with Horizontal(classes="imp-row"):
                yield Label("", classes="imp-label")
                yield Tick("leave bad rows out (else the first one stops the import)", id="imp-skip",
                               compact=True)
            yield Static("", id="imp-problem")
            with VerticalScroll(id="imp-preview"):
                yield Static(Text("Type a path and press enter to preview it.", style="dim"), id="imp-preview-body")
            yield ProgressBar(id="imp-progress", show_eta=True)
            yield Static("", id="imp-status")

    def on_mount(self) -> None:
        self.query_one("#imp-progress").display = False
        self.query_one("#imp-problem").display = False
        self.query_one("#imp-path", Input).focus()
        if self.initial_path:
            self.action_preview()

    # -- preview ------------------------------------------------------------------------------

    def _key(self) -> tuple:
        """(path, format, split, mapping): what a preview was made for; an import needs a current one."""
        return (os.path.expanduser(self.query_one("#imp-path", Input).value.strip()),
                self.query_one("#imp-format", Select).value,
                self.query_one("#imp-split", Input).value.strip() or None,
                mapping_items(self.query_one("#imp-map", Input).value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id in ("imp-path", "imp-split", "imp-map"):
            self.action_preview()
        elif event.input.id == "imp-name":
            self.action_import()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "imp-name" and event.input.has_focus:
            self.name_touched = True
        elif event.input.id in ("imp-path", "imp-split", "imp-map"):
            self.show_problem(None)  # the input the problem was about has changed

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "imp-format" and (self.preview is not None or self.problem):
            self.action_preview()

    def action_preview(self, asked_import: bool = False) -> None:
        path, fmt, split, mapping = self._key()
        if not path:
            self.set_status("type the path of a file or folder to import", error=True)
            return
        self.set_status(f"reading the first rows of {path}…")
        self.run_preview(path, fmt, split, mapping, asked_import)

    @work(exclusive=True, group="preview", exit_on_error=False)
    async def run_preview(self, path: str, fmt: str, split: str | None, mapping: tuple[str, ...],
                          asked_import: bool = False) -> None:
        from ffui.data.importer import preview_import
        from ffui.db import get_setting

        try:
            token = await get_setting(self.app.db, "huggingface.token")  # a gated or private hub dataset
            pv = await asyncio.to_thread(preview_import, path, fmt=fmt, split=split, mapping=list(mapping), n=5,
                                         token=token)
        except Exception as exc:
            self.preview, self.preview_key = None, None
            self.query_one("#imp-preview-body", Static).update(Text("No preview: the problem is above.", style="dim"))
            self.show_problem(self.app.describe_error(exc))
            self.set_status("fix the path, Format or Map above, then enter previews again", error=True)
            return
        self.show_problem(None)
        self.preview, self.preview_key = pv, (path, fmt, split, mapping)
        if not self.name_touched or not self.query_one("#imp-name", Input).value.strip():
            picked = pv.get("split") if pv.get("split") not in (None, "train") else None
            self.query_one("#imp-name", Input).value = default_dataset_name(path) + (f"-{picked}" if picked else "")
        self.query_one("#imp-preview-body", Static).update(render_preview(pv))
        if asked_import:
            self.set_status("check the preview first, then press ctrl+s again to import")
        elif pv.get("bad_examples"):
            self.set_status("bad rows among the first: fix the file, or tick 'leave bad rows out'", error=True)
        else:
            self.set_status("looks right? name it and press ctrl+s to import; or change the format")

    # -- import -------------------------------------------------------------------------------

    def action_import(self) -> None:
        if self.importing:
            return
        key = self._key()
        if self.preview is None or self.preview_key != key:
            self.action_preview(asked_import=True)
            return
        name = self.query_one("#imp-name", Input).value.strip()
        if not name:
            self.set_status("give the new dataset a name", error=True)
            self.query_one("#imp-name", Input).focus()
            return
        self.run_import(*key, name, self.query_one("#imp-skip", Checkbox).value)

    @work(exclusive=True, group="import", exit_on_error=False)
    async def run_import(self, path: str, fmt: str, split: str | None, mapping: tuple[str, ...], name: str,
                         skip_bad: bool) -> None:
        from ffui.data import store

        bar = self.query_one("#imp-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.importing = True
        self.set_status(f"importing {path} as {name}… (escape cancels; nothing is kept)")

        def progress(st: dict) -> None:
            self.progress_seen.append(dict(st))
            total, done = st.get("total"), st.get("done")
            if total and done is not None:
                bar.update(total=total, progress=min(done, total))
            unit = "" if st.get("unit") == "rows" else f" · {fmt_bytes(done)} of {fmt_bytes(total)}"
            bad = f", {st['bad']:,} bad" if st.get("bad") else ""
            self.set_status(f"importing: {st.get('rows', 0):,} rows{bad}{unit} (escape cancels)")

        try:
            res = await store.import_dataset(self.app.db, path, name=name, fmt=fmt, split=split,
                                             mapping=list(mapping), skip_bad=skip_bad, progress=progress)
        except asyncio.CancelledError:
            self.set_status("import cancelled: nothing was written")
            raise
        except Exception as exc:
            self.show_problem(self.app.describe_error(exc))
            self.set_status("nothing was imported: fix the problem above, then ctrl+s again", error=True)
            return
        finally:
            self.importing = False
            bar.display = False
        self.result = res
        bad = f" ({res['bad']:,} bad row{'' if res['bad'] == 1 else 's'} left out)" if res.get("bad") else ""
        self.app.notify(f"imported {res['rows']:,} rows into {res['name']} ({res['format']}){bad}", markup=False)
        self.dismiss(res)

    def has_unsaved_changes(self) -> bool:
        """An import in progress would be rolled back by quitting, and what was typed would be
        lost (a stray q on the Format picker quits): the shell asks first."""
        return self.importing or bool(self.is_mounted and self._key()[0])

    def show_problem(self, message: str | None) -> None:
        """The problem with the input, in full, until the input changes (a notice would vanish)."""
        self.problem = ui_wording(message) if message else None
        box = self.query_one("#imp-problem", Static)
        box.display = bool(self.problem)
        box.update(Text(self.problem or "", style="bold red"))

    def set_status(self, text: str, error: bool = False) -> None:
        self.query_one("#imp-status", Static).update(Text(clean(text, one_line=True), style="bold red" if error else ""))

    def action_back(self) -> None:
        if self.importing:
            self.workers.cancel_group(self, "import")
            self.importing = False
            self.query_one("#imp-progress").display = False
            self.set_status("import cancelled: nothing was written")
            self.app.notify("import cancelled: nothing was written")
            return
        self.dismiss(None)


def mapping_items(text: str) -> tuple[str, ...]:
    """The Map field, "input=question, output=answer", as the items ``--map`` takes."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


CLI_WORDS = (("pass --skip-bad to leave bad rows out", "tick 'leave bad rows out'"),
             ("--skip-bad", "'leave bad rows out'"), ("pass --format", "choose a Format"),
             ("--format", "Format"), ("--map", "Map"))


def ui_wording(message: str) -> str:
    """A data error in this screen's words: its fields, not the CLI's options."""
    for cli, ui in CLI_WORDS:
        message = message.replace(cli, ui)
    return message


def fmt_bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def render_preview(pv: dict) -> Text:
    out = Text()
    size = f" · {fmt_bytes(pv['total'])}" if pv.get("total") and pv.get("progress_unit") == "bytes" else (
        f" · {pv['total']:,} row{'' if pv['total'] == 1 else 's'}" if pv.get("total") else "")
    out.append(f"{pv['kind']} → detected format: ", style="bold")
    out.append(f"{pv['format']}", style="bold reverse")
    out.append(clean(f"{size} · columns: {', '.join(map(str, pv.get('columns') or []))}", one_line=True) + "\n")
    fields = ((pv.get("layout") or {}).get("columns") or {})
    if fields:  # which column each field is read from: what a Map changed
        out.append(clean("fields: " + ", ".join(f"{f} ← {c}" for f, c in fields.items() if c), one_line=True) + "\n",
                   style="dim")
    uses = column_uses_line(pv)
    if uses:
        out.append(uses)
    others = [s for s in pv.get("splits") or [] if s != pv.get("split")]
    if pv.get("split") or others:
        out.append(clean(f"split {pv.get('split') or 'train'}", one_line=True), style="bold")
        if others:
            out.append(clean(f" · also: {', '.join(others)} (type one in Split, then enter)", one_line=True),
                       style="dim")
        out.append("\n")
    for i, rec in enumerate(pv.get("records") or [], 1):
        msgs = rec.get("messages")
        if isinstance(msgs, list) and msgs:
            out.append(f"{i}. ", style="bold")
            out.append(f"[{len(msgs)} turns] ", style="dim")
            turns = [m for m in msgs if isinstance(m, dict)]
            first = next((m for m in turns if m.get("role") != "system"), turns[0] if turns else {})
            out.append(clean(f"{first.get('role', '?')}: {first.get('content', '')}", one_line=True, limit=60))
            out.append(clean(f" → {rec.get('output') or ''}", one_line=True, limit=40) + "\n", style="dim")
        else:
            out.append(f"{i}. ", style="bold")
            out.append(clean(rec.get("input") or "", one_line=True, limit=50))
            out.append(clean(f" → {rec.get('output') or ''}", one_line=True, limit=50) + "\n", style="dim")
    for b in pv.get("bad_examples") or []:
        out.append(clean(f"bad: {b}", one_line=True, limit=200) + "\n", style="red")
    return out


def column_uses_line(pv: dict) -> Text | None:
    """How training uses each column (ffui.data.columns), one line: what is left out shows."""
    from ffui.data.columns import CHANGES_MEANING, KEPT, column_report
    from ffui.data.formats import Layout

    if not pv.get("layout"):
        return None
    out = Text("training: ", style="bold")
    styles = {KEPT: "dim", CHANGES_MEANING: "bold red"}
    for i, c in enumerate(column_report(Layout.from_dict(pv["layout"]), pv.get("columns"))):
        out.append(" · " if i else "")
        out.append(clean(f"{c.column} → {c.short}", one_line=True), style=styles.get(c.status, ""))
    out.append("\n")
    return out
