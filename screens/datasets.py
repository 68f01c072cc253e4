"""Datasets (mode 2): the list of datasets; browse, import, merge, dedupe, split, stats, export.

Every action calls the same ``ffui.data.store`` function the CLI calls, from a worker: the
database work runs in aiosqlite's thread (or store's own worker threads for whole-dataset
reads), so the screen never blocks. A user error is one line (``app.notify_error``).
"""

from __future__ import annotations

import os
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from screens.dataset_forms import Field, FormModal, clean
from screens.widgets.base import FfuiScreen
from screens.widgets.modals import ConfirmModal

FORMAT_CHOICES = ("alpaca", "sharegpt", "chatml", "input-output", "text")


class ListTable(DataTable):
    """A row-cursor table where home/end go to the first/last row (not the first/last column)."""

    def action_scroll_home(self) -> None:
        self.action_scroll_top()

    def action_scroll_end(self) -> None:
        self.action_scroll_bottom()


class DatasetsScreen(FfuiScreen):
    """The list of datasets with their row counts."""

    CSS_PATH = "datasets.tcss"
    HELP = """Datasets: every dataset in this home, with its format and row count.
enter browses the rows page by page (fast at millions of rows); i imports a file (JSONL, JSON,
CSV, TSV, Parquet or a save_to_disk folder) after a preview; w makes one from 4chan, Reddit or
Stack Exchange, g from documents through a model's endpoint (ffui synth); m merges datasets, d removes
duplicates, s splits into train/validation/test, t shows statistics, e exports, x deletes.
Operations make new datasets; the source is never changed."""
    BINDINGS = [
        Binding("enter", "browse", "Browse", id="datasets.browse"),
        Binding("i", "import", "Import", id="datasets.import"),
        Binding("w", "scrape", "From web", id="datasets.scrape"),
        Binding("g", "synth", "From docs", id="datasets.synth"),
        Binding("m", "merge", "Merge", id="datasets.merge"),
        Binding("d", "dedupe", "Dedupe", id="datasets.dedupe"),
        Binding("s", "split", "Split", id="datasets.split"),
        Binding("t", "stats", "Stats", id="datasets.stats"),
        Binding("e", "export", "Export", id="datasets.export"),
        Binding("x", "delete", "Delete", id="datasets.delete"),
        Binding("r", "refresh", "Refresh", show=False, id="datasets.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mode_title = "Datasets"
        self.datasets: list[dict] = []
        self._select_after: int | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        with Vertical(id="ds-body"):
            yield Static("Datasets", id="ds-title", classes="section-title")
            yield ListTable(id="ds-table", cursor_type="row")
            yield Static("", id="ds-empty")
            yield Static("", id="ds-detail")
            yield Static("", id="ds-status")

    def on_mount(self) -> None:
        t = self.query_one("#ds-table", DataTable)
        t.add_column("id", width=4, key="id")
        t.add_column("name", width=26, key="name")
        t.add_column("format", width=12, key="format")
        t.add_column("rows", width=11, key="rows")
        t.add_column("made by", width=14, key="source")
        self.refresh_list()

    def on_screen_resume(self) -> None:
        self.refresh_list()  # counts change when another ffui or the CLI imports

    # -- the list -----------------------------------------------------------------------------

    @work(exclusive=True, group="list", exit_on_error=False)
    async def refresh_list(self, select: int | None = None) -> None:
        from ffui.data import store

        if select is not None:
            self._select_after = select
        self.datasets = await store.list_datasets(await self.app.database())
        self._fill()

    def _fill(self) -> None:
        t = self.query_one("#ds-table", DataTable)
        keep = self._select_after if self._select_after is not None else self.current_id()
        self._select_after = None
        t.clear()
        for d in self.datasets:
            made = "import" if d["source"] == "import" else (d["source"] or "")
            t.add_row(str(d["id"]), clean(d["name"], one_line=True, limit=26), d["format"] or "",
                      f"{d['rows']:,}", clean(made, limit=14), key=str(d["id"]))
        empty = self.query_one("#ds-empty", Static)
        if not self.datasets:
            empty.update(Text("No datasets yet. Press i to import a file "
                              "(JSONL, JSON, CSV, TSV, Parquet or a save_to_disk folder)."))
            empty.display = True
        else:
            empty.display = False
            ids = [d["id"] for d in self.datasets]
            if keep in ids:
                t.move_cursor(row=ids.index(keep))
        self.query_one("#ds-title", Static).update(
            Text(f"Datasets ({len(self.datasets)})  ·  enter browse · i import", style="bold"))
        self._show_detail()

    def current(self) -> dict | None:
        t = self.query_one("#ds-table", DataTable)
        if not self.datasets or t.row_count == 0:
            return None
        row = t.cursor_row
        return self.datasets[row] if 0 <= row < len(self.datasets) else None

    def current_id(self) -> int | None:
        d = self.current()
        return d["id"] if d else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_browse()

    def _show_detail(self) -> None:
        d = self.current()
        detail = self.query_one("#ds-detail", Static)
        if d is None:
            detail.update("")
            return
        where = d.get("details") or ""
        detail.update(Text(clean(f"{d['name']}: {d['rows']:,} rows, {d['format']} · {where} · "
                                 f"created {d.get('created_at') or '?'}", one_line=True), style="dim"))

    def set_status(self, text: str) -> None:
        self.query_one("#ds-status", Static).update(Text(text))

    def _need(self) -> dict | None:
        d = self.current()
        if d is None:
            self.app.notify("no dataset here yet: press i to import one", severity="warning")
        return d

    # -- contract with the shell / palette ----------------------------------------------------

    async def open_dataset(self, dataset_id: int) -> None:
        """Browse dataset ``dataset_id`` (the command palette calls this)."""
        from screens.dataset_browse import DatasetRowsScreen

        self.app.push_screen(DatasetRowsScreen(dataset_id))

    # -- actions ------------------------------------------------------------------------------

    def action_browse(self) -> None:
        d = self._need()
        if d is not None:
            from screens.dataset_browse import DatasetRowsScreen

            self.app.push_screen(DatasetRowsScreen(d["id"], name=d["name"]))

    def action_refresh(self) -> None:
        self.refresh_list()

    def action_import(self) -> None:
        from screens.dataset_import import ImportScreen

        def done(result: Any) -> None:
            if result:
                self.refresh_list(select=result["id"])

        self.app.push_screen(ImportScreen(), done)

    def action_scrape(self) -> None:
        """A new dataset from 4chan, Reddit or Stack Exchange, fetched by a scrape job."""
        from ffui.data.errors import DataError
        from ffui.jobs.kinds.scrape import checked_spec, form_job

        sources = [("4chan", "4chan"), ("Reddit", "reddit"), ("Stack Exchange", "stackexchange")]
        modes = [("the source's default", "default"), ("adjacent (4chan)", "adjacent"),
                 ("contextual", "contextual"), ("quote-chain (4chan)", "quote-chain"),
                 ("parent-child (Reddit)", "parent-child")]
        fields = [Field("source", "Source:", kind="select", value="4chan", options=sources),
                  Field("target", "Boards, subreddit (or a post's URL), or site:", required=True,
                        placeholder="g,sci  ·  LocalLLaMA  ·  stackoverflow"),
                  Field("mode", "Pairing:", kind="select", value="default", options=modes),
                  Field("max_pairs", "At most this many pairs (empty: no limit):", kind="int"),
                  Field("name", "New dataset name (empty: made from the source):")]

        def job(v: dict) -> dict:
            return form_job(v["source"], v["target"], None if v["mode"] == "default" else v["mode"])

        def check(v: dict) -> str | None:
            try:
                checked_spec(**job(v), max_pairs=v["max_pairs"])
            except DataError as e:
                return str(e)
            return None

        def go(v: dict | None) -> None:
            if v:
                self.start_scrape(job(v), max_pairs=v["max_pairs"], name=v["name"])

        self.app.push_screen(FormModal("New dataset from the web", fields, submit="Start", check=check,
                                       note="Runs as a job: its progress is on the Runs screen (1), "
                                            "and a cancel keeps what was fetched."), go)

    def action_synth(self) -> None:
        """A new dataset of pairs a model writes from documents (ffui synth), as a job."""
        from ffui.data.errors import DataError
        from ffui.jobs.kinds.scrape import checked_spec, synth_job

        types = [("questions and answers", "qa"), ("chain-of-thought answers", "cot"), ("summaries", "summary")]
        fields = [Field("paths", "Documents (files or folders, comma-separated):", required=True, path=True,
                        placeholder=".md .txt .html .pdf .docx"),
                  Field("endpoint", "OpenAI-compatible endpoint:", value="http://127.0.0.1:11434/v1", required=True),
                  Field("model", "Model:", required=True, placeholder="a model the endpoint has"),
                  Field("type", "Pairs:", kind="select", value="qa", options=types),
                  Field("pairs_per_chunk", "Pairs a chunk:", kind="int", value=3),
                  Field("judge", "Judge threshold 1-10 (empty: keep all):", kind="int"),
                  Field("use_key", "Send the stored sources.synthetic.api_key", kind="check", value=False),
                  Field("max_pairs", "At most this many pairs (empty: no limit):", kind="int"),
                  Field("name", "New dataset name (empty: made from the documents):")]

        def job(v: dict) -> dict:
            return synth_job([p.strip() for p in v["paths"].split(",") if p.strip()], v["endpoint"], v["model"],
                             type=v["type"], pairs_per_chunk=v["pairs_per_chunk"] or 3,
                             judge_threshold=v["judge"], use_key=v["use_key"])

        def check(v: dict) -> str | None:
            if v["pairs_per_chunk"] is not None and not 1 <= v["pairs_per_chunk"] <= 50:
                return "Pairs a chunk must be 1 to 50"
            try:
                spec = job(v)
                checked_spec(spec["source"], spec["args"], pairing=spec["pairing"], max_pairs=v["max_pairs"])
            except DataError as e:
                return str(e)
            return None

        def go(v: dict | None) -> None:
            if v:
                self.start_scrape(job(v), max_pairs=v["max_pairs"], name=v["name"])

        self.app.push_screen(FormModal("New dataset from documents", fields, submit="Start", check=check,
                                       note="A model writes the pairs; runs as a job, its progress below "
                                            "and on the Runs screen (1)."), go)

    @work(exclusive=False, group="ops", exit_on_error=False)
    async def start_scrape(self, job: dict, *, max_pairs: int | None, name: str | None) -> None:
        from ffui.data.errors import DataError
        from ffui.jobs.kinds.scrape import create_scrape
        from ffui.jobs.manager import schedule

        try:
            run = await create_scrape(self.app.db, job["source"], job["args"], pairing=job["pairing"],
                                      dataset=name, max_pairs=max_pairs, use_key=job.get("use_key", False))
        except DataError as e:  # (a name taken since the form was checked, a key not stored)
            self.app.notify_error(e)
            return
        await schedule(self.app.db)
        self.app.notify(f"scrape {run['id']} started: dataset {run['metadata']['dataset']} appears "
                        "here when it ends (its progress: Runs screen)", markup=False)
        self.follow_job(run["id"], run["metadata"]["dataset"])

    @work(exclusive=False, group="follow", exit_on_error=False)
    async def follow_job(self, run_id: int, dataset: str) -> None:
        """The job's progress on the status line until it ends, then the list with its dataset."""
        import asyncio

        from ffui.db import FINAL_STATUSES
        from ffui.jobs.describe import scrape_progress
        from ffui.jobs.manager import get_run

        while True:
            run = await get_run(self.app.db, run_id)
            if run is None:
                return
            progress = scrape_progress(run) or ""
            if run["status"] in FINAL_STATUSES:
                if run["status"] == "failed":  # (a notice too: the status line is cut at 80 columns)
                    why = run.get("error_message") or f"see ffui runs logs {run_id}"
                    self.set_status(f"job {run_id} failed: {why}")
                    self.app.notify(f"job {run_id} failed: {why}", severity="error", timeout=10, markup=False)
                else:
                    self.set_status(f"job {run_id} {run['status']}: dataset {dataset}: {progress}")
                self.refresh_list()
                return
            self.set_status(f"job {run_id} {run['status']}: {progress}")  # (the dataset's name: in the notice)
            await asyncio.sleep(1.0)  # (a poll of one row a second: the job writes it from its own process)

    def action_stats(self) -> None:
        d = self._need()
        if d is not None:
            from screens.dataset_browse import DatasetStatsScreen

            self.app.push_screen(DatasetStatsScreen(d["id"], d["name"]))

    def action_dedupe(self) -> None:
        d = self._need()
        if d is None:
            return
        fields = [Field("name", "New dataset name:", value=f"{d['name']}-dedupe", required=True),
                  Field("normalised", "Also drop near duplicates (same text after lower-casing and "
                                      "collapsing whitespace)", kind="check", value=False)]

        def go(v: dict | None) -> None:
            if v:
                self.run_op("dedupe", d["name"], name=v["name"], normalised=v["normalised"])

        self.app.push_screen(FormModal(f"Dedupe {d['name']}", fields, submit="Dedupe",
                                       note="Keeps the first of each duplicate, in order; makes a new dataset."), go)

    def action_split(self) -> None:
        d = self._need()
        if d is None:
            return
        fields = [Field("ratios", "Ratios (train,validation[,test]):", value="0.8,0.1,0.1", required=True),
                  Field("seed", "Shuffle seed:", kind="int", value=0),
                  Field("prefix", "Name prefix:", value=d["name"], required=True,
                        help="makes PREFIX-train, PREFIX-validation (and PREFIX-test)")]

        def check(v: dict) -> str | None:
            from ffui.data.ops import parse_ratios

            try:
                parse_ratios(v["ratios"])
            except ValueError as e:
                return str(e)
            return None

        def go(v: dict | None) -> None:
            if v:
                self.run_op("split", d["name"], ratios=v["ratios"], seed=v["seed"] or 0, prefix=v["prefix"])

        self.app.push_screen(FormModal(f"Split {d['name']}", fields, submit="Split", check=check), go)

    def action_merge(self) -> None:
        d = self._need()
        if d is None:
            return
        if len(self.datasets) < 2:
            self.app.notify("merge needs at least two datasets: import another one first", severity="warning")
            return
        options = [(f"{x['name']} ({x['rows']:,} rows, {x['format']})", x["name"]) for x in self.datasets]
        fields = [Field("sources", "Datasets (space selects):", kind="multi", options=options, value=[d["name"]]),
                  Field("name", "New dataset name:", value=f"{d['name']}-merged", required=True),
                  Field("interleave", "Interleave rows (round robin) instead of one after another",
                        kind="check", value=False)]

        def check(v: dict) -> str | None:
            return None if len(v["sources"]) >= 2 else "select at least two datasets (space toggles one)"

        def go(v: dict | None) -> None:
            if v:
                self.run_op("merge", v["sources"], name=v["name"], interleave_rows=v["interleave"])

        self.app.push_screen(FormModal("Merge datasets", fields, submit="Merge", check=check), go)

    def action_export(self) -> None:
        d = self._need()
        if d is None:
            return
        home = getattr(getattr(self.app, "paths", None), "home", None) or os.getcwd()
        default = os.path.join(str(home), f"{d['name']}.jsonl")
        fields = [Field("fmt", "Format:", kind="select", value="jsonl",
                        options=[("JSONL", "jsonl"), ("Parquet", "parquet"), ("save_to_disk folder", "hf")]),
                  Field("path", "Write to:", value=default, required=True, path=True,
                        help="the default name follows the format"),
                  Field("shape", "Rows as:", kind="select", value="original",
                        options=[(f"the dataset's own format ({d['format']})", "original"),
                                 ("chatml messages", "chatml")]),
                  Field("overwrite", "Overwrite if the file exists", kind="check", value=False)]

        def go(v: dict | None) -> None:
            if v:
                path = v["path"]
                if path == default and v["fmt"] != "jsonl":  # untouched default: match the format
                    path = default[: -len(".jsonl")] + (".parquet" if v["fmt"] == "parquet" else "")
                self.run_op("export", d["name"], os.path.expanduser(path), fmt=v["fmt"], shape=v["shape"],
                            overwrite=v["overwrite"])

        self.app.push_screen(FormModal(f"Export {d['name']}", fields, submit="Export"), go)

    def action_delete(self) -> None:
        d = self._need()
        if d is None:
            return

        def go(answer: Any) -> None:
            if answer:
                self.run_op("remove", d["name"])

        self.app.push_screen(ConfirmModal(f"Delete dataset {d['name']}?",
                                          f"Its {d['rows']:,} rows are deleted from the database. "
                                          "Files it was imported from are not touched.",
                                          yes="Delete", no="Keep", danger=True), go)

    @work(exclusive=False, group="ops", exit_on_error=False)
    async def run_op(self, op: str, *args: Any, **kwargs: Any) -> None:
        """Run a store operation; say what it made in one line."""
        from ffui.data import store

        label = {"remove": "deleting", "export": "exporting", "dedupe": "deduping", "merge": "merging",
                 "split": "splitting"}.get(op, op)
        target = args[0] if args else ""
        self.set_status(f"{label} {', '.join(target) if isinstance(target, list) else target}…")
        try:
            fn = store.export_dataset if op == "export" else getattr(store, op)
            result = await fn(self.app.db, *args, **kwargs)
        except BaseException:
            self.set_status("")
            raise
        self.set_status("")
        select = None
        if op == "remove":
            msg = f"deleted {result['name']} ({result['rows']:,} rows)"
        elif op == "export":
            msg = f"exported {result['rows']:,} rows of {result['name']} to {result['path']}"
        elif op == "split":
            msg = "split into " + ", ".join(f"{p['name']} ({p['rows']:,})" for p in result["parts"])
            select = result["parts"][0]["id"]
        else:
            msg = f"{op}: made {result['name']} with {result['rows']:,} rows"
            if "removed" in result:
                msg += f" ({result['removed']:,} removed)"
            select = result["id"]
        self.app.notify(msg, markup=False)
        self.refresh_list(select=select)
