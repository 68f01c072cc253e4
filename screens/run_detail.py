"""One run, live: progress, loss chart, metrics, warnings, its log, config, adapter and the GPUs.

The run's row is polled (never overlapping, paused while hidden); its train.log is tailed
by byte offset in a thread (``LogTail``), so a trainer writing 1,000 lines a second costs
one read of the new bytes per poll, and only the last 2,000 lines stay in the widget.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from ffui.jobs.describe import pod_text
from ffui.jobs.describe import scrape_progress
from ffui.jobs.health import stall_text
from ffui.train.tracking import destinations
from screens.runs import RunActions, explain_bindings, status_text
from screens.widgets.base import FfuiScreen, Poller, update_if_changed
from screens.widgets.chart import LossChart
from screens.widgets.format import bar, fmt_num, is_bad_number, run_eta
from screens.widgets.gpu_panel import GpuPanel
from screens.widgets.lines import LineView
from screens.widgets.log_tail import LogTail

METRICS = (("loss", "loss"), ("eval loss", "eval_loss"), ("grad norm", "grad_norm"), ("lr", "lr"),
           ("tokens/s", "tokens_per_s"), ("memory MB", "mem_mb"), ("epoch", "epoch"))
# a preference run (dpo/orpo/simpo/kto) reports rewards: they take the place of grad norm and lr
# (the table has the chart's 8 rows); the names are TRL's
PREFERENCE_METRICS = (("loss", "loss"), ("chosen", "rewards/chosen"), ("rejected", "rewards/rejected"),
                      ("margin", "rewards/margins"), ("accuracy", "rewards/accuracies"),
                      ("tokens/s", "tokens_per_s"), ("memory MB", "mem_mb"), ("epoch", "epoch"))


def metric_values(run: dict) -> dict:
    metrics = run.get("metrics") or {}
    values = dict(metrics.get("last") or {})
    if isinstance(metrics.get("final"), dict):
        values = {**metrics["final"], **values}
    values["eval_loss"] = (metrics.get("eval") or {}).get("eval_loss")
    return values


def reports_rewards(run: dict) -> bool:
    return bool((run.get("metrics") or {}).get("charts"))


def metrics_table(run: dict) -> Table:
    values = metric_values(run)
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for label, key in PREFERENCE_METRICS if reports_rewards(run) else METRICS:
        value = values.get(key)
        digits = 1 if key in ("tokens_per_s", "mem_mb") else 2 if key == "epoch" else 4
        table.add_row(label, Text(fmt_num(value, digits), style="bold red" if is_bad_number(value) else ""))
    return table


def warning_text(run: dict, last_warning: str | None) -> Text | None:
    """What must stand out: NaN loss, out of memory, the error that ended the run, trainer warnings."""
    values = metric_values(run)
    err = run.get("error_message") or ""
    if is_bad_number(values.get("loss")) or "nan" in err.lower().split():
        return Text(f" ⚠ loss is NaN at step {values.get('step', '?')}: {err or 'lower the learning rate'}",
                    style="bold")
    if run.get("exit_code") == 3 or "out of memory" in err.lower():
        said = err.lower().startswith("out of memory")  # the trainer's message says so itself
        return Text(f" ⚠ {err}" if said else f" ⚠ out of memory: {err}", style="bold")
    if err:
        return Text(f" ⚠ {err}", style="bold")
    stalled = stall_text(run)
    if stalled:
        return Text(f" ⚠ {stalled}: the trainer has written nothing since (c cancels)", style="bold")
    if last_warning and run.get("status") in ("running", "pending"):
        return Text(f" ⚠ {last_warning}")
    return None


def progress_text(run: dict, queue: tuple[int, str] | None = None) -> Text:
    if queue is not None:  # a queued run: its place and why it waits, wrapped to be read whole
        return Text(queue[1], style="dim")
    values = metric_values(run)
    frac = float(run.get("progress") or 0)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(bar(frac, 24), style="green" if run["status"] == "running" else "")
    scraping = scrape_progress(run)
    if scraping:  # pairs, requests and rate-limit waits; no steps, tokens or ETA
        text.append(f" {scraping}")
        return text
    text.append(f" {frac * 100:5.1f}%  step {run.get('current_step') or 0}/{run.get('total_steps') or '?'}")
    tps = values.get("tokens_per_s")
    if isinstance(tps, (int, float)):
        text.append(f"  {tps:,.0f} tok/s")
    if run_eta(run) and not stall_text(run):  # a stalled run's ETA is frozen: no ETA
        text.append(f"  ETA {run_eta(run)}")
    if pod_text(run):
        text.append(f"  {pod_text(run, short=True)}", style="cyan")
    return text


def config_text(run: dict, checkpoints: list[int], dataset: str) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("adapter", run.get("adapter_path") or "none yet (written when the run completes)")
    table.add_row("checkpoints", ", ".join(f"step {s}" for s in checkpoints) or "none")
    table.add_row("directory", run.get("storage_path") or "")
    table.add_row("model", run.get("base_model") or "")
    table.add_row("dataset", dataset)
    also = destinations((run.get("hp") or {}).get("report_to"), run.get("storage_path") or "")
    table.add_row("metrics also go to", ", ".join(also) or "nowhere else (report_to is none)")
    for key, value in sorted((run.get("hp") or {}).items()):
        if value is not None and key != "base_model":
            table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    return table


class RewardChart(LossChart):
    """A preference run's rewards by step: chosen (cyan) and rejected (yellow); they part as it learns."""

    EMPTY = "no rewards reported yet"
    LEGEND = (("chosen", "bold cyan"), (" rejected", "bold yellow"))


class RunDetailScreen(RunActions, FfuiScreen):
    HELP = (
        "A run, live. The log follows the end of train.log; f pauses and resumes (scrolling up pauses too, "
        "end follows again). The chart shows loss (cyan) and eval loss (yellow) by step; a dpo, orpo, simpo "
        "or kto run has a second chart beside it, the rewards of the chosen (cyan) and rejected (yellow) "
        "replies, with their margin and accuracy in the table. "
        "Once the run has an adapter, p chats with it in the Playground."
    )
    BINDINGS = [
        Binding("escape", "back", "Back", show=False, tooltip="Back to the list of runs", id="run.back"),
        Binding("c", "cancel_run", "Cancel", tooltip="Cancel the run (it saves a checkpoint first)", id="run.cancel"),
        Binding("s", "checkpoint", "Ckpt", tooltip="Save a checkpoint now, without stopping", id="run.checkpoint"),
        Binding("r", "resume", "Resume", tooltip="Resume from the last checkpoint or a chosen one", id="run.resume"),
        Binding("d", "duplicate", "Copy", tooltip="Duplicate the config into the Train form", id="run.duplicate"),
        Binding("x", "delete", "Delete", tooltip="Delete the run (its files only if you tick it)", id="run.delete"),
        Binding("p", "chat", "Chat", tooltip="Chat with this run's adapter in the Playground", id="run.chat"),
        Binding("m", "export", "Export", tooltip="Export the adapter, or the model merged with it", id="run.export"),
        Binding("u", "publish", "Publish", tooltip="Publish to the Hugging Face Hub with a card", id="run.publish"),
        Binding("e", "evaluate", "Evaluate", tooltip="Evaluate this run's adapter against its base on a dataset",
                id="run.evaluate"),
        Binding("v", "results", "Results", tooltip="This evaluation's compare table and rows", id="run.results"),
        *explain_bindings("run"),
        Binding("l", "tab('log')", "Log", show=False, id="run.tab.log"),
        Binding("i", "tab('config')", "Config", show=False, id="run.tab.config"),
        Binding("g", "tab('gpu')", "GPU", show=False, id="run.tab.gpu"),
    ]

    AUTO_FOCUS = "LogTail"  # (the tabs' contents mount after the screen's on_mount)

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.mode_title = f"Run {run_id}"
        self.run_row: dict | None = None
        self.poller = Poller(self, self.refresh_run, 1.0)
        self._config_key: tuple | None = None
        self._seen: dict | None = None  # the last probe of the row, to skip unchanged polls
        self._queue: tuple[int, str] | None = None  # while queued: (place, why it waits)
        self._was_queued = False

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        yield Static(f"run {self.run_id}", id="run-title")
        yield Static("", id="run-progress")
        yield Static("", id="run-warning")
        with Horizontal(id="run-top"):
            yield LossChart(id="run-chart")
            yield RewardChart(id="run-rewards")
            yield Static("", id="run-metrics")
        with TabbedContent(id="run-tabs", initial="log"):
            with TabPane("Log (l)", id="log"):
                yield LogTail(id="run-log")
            with TabPane("Config (i)", id="config"):
                with VerticalScroll():
                    yield Static("", id="run-config")
            with TabPane("GPU (g)", id="gpu"):
                yield GpuPanel()

    def on_mount(self) -> None:
        self.query_one("#run-warning").display = False
        self.query_one("#run-rewards").display = False
        self.poller.interval = getattr(self.app, "poll_s", 1.0)
        self.call_after_refresh(self.poller.start)  # once the tabs have mounted their panes

    def on_screen_resume(self) -> None:
        self.poller.now()

    def selected_run_id(self) -> int:
        return self.run_id

    def selected_status(self) -> str | None:
        return self.run_row["status"] if self.run_row else None

    async def refresh_run(self) -> None:
        """Re-read the run only when it changed (a cheap probe first: the row holds 500 log lines)."""
        from ffui.db import get_logs, get_training_run, run_change_probe

        probe = await run_change_probe(self.app.db, self.run_id)
        if probe is None:
            self.query_one("#run-title", Static).update(f"run {self.run_id} no longer exists")
            self.poller.stop()
            return
        queue = None
        if probe["status"] == "pending":  # its place moves as other runs start or go
            from ffui.jobs.describe import queue_places

            queue = (await queue_places(self.app.db)).get(self.run_id)
        if probe == self._seen and queue == self._queue and self.run_row is not None:
            return
        self._seen, self._queue = probe, queue
        run = await get_training_run(self.app.db, self.run_id)
        if run is None:
            return
        warnings = await get_logs(self.app.db, 1, "WARNING", run_id=self.run_id, source="events")
        had_adapter = bool(self.run_row and self.run_row.get("adapter_path"))
        if self.run_row is None or self.run_row["status"] != run["status"]:
            self.call_after_refresh(self.refresh_bindings)  # the keys that apply change with the state
        self.run_row = run
        if bool(run.get("adapter_path")) != had_adapter:
            self.refresh_bindings()  # p (chat) shows once the run has an adapter
        self.show(run, warnings[-1]["message"] if warnings else None)
        if run.get("storage_path"):
            for tail in self.query(LogTail):
                tail.start(Path(run["storage_path"]) / "train.log")
        await self.show_config(run)

    async def show_config(self, run: dict) -> None:
        key = (run["status"], run.get("checkpoint_path"), run.get("adapter_path"), json.dumps(run.get("hp"), default=str))
        if key != self._config_key:
            self._config_key = key
            from ffui.jobs.manager import list_checkpoints

            from ffui.jobs.describe import dataset_label

            steps = [s for s, _ in await asyncio.to_thread(list_checkpoints, run)]
            dataset = await dataset_label(self.app.db, run)
            self.query_one("#run-config", Static).update(config_text(run, steps, dataset))

    def show(self, run: dict, last_warning: str | None) -> None:
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"run {run['id']} ", style="bold")
        title.append(f"{run['name']}  ")
        title.append_text(status_text(run["status"]))
        title.append(f"  {run.get('backend') or ''}", style="dim")
        update_if_changed(self.query_one("#run-title", Static), title, layout=False)
        # one line (no layout needed), unless it says why a queued run waits, wrapped
        update_if_changed(self.query_one("#run-progress", Static), progress_text(run, self._queue),
                          layout=self._queue is not None or self._was_queued)
        self._was_queued = self._queue is not None
        warn = warning_text(run, last_warning)
        box = self.query_one("#run-warning", Static)
        box.display = warn is not None
        if warn is not None:
            update_if_changed(box, warn)
        metrics = run.get("metrics") or {}
        self.query_one("#run-chart", LossChart).set_data(metrics.get("history"), metrics.get("eval_history"),
                                                         run.get("total_steps"))
        charts = metrics.get("charts") or {}
        rewards = self.query_one("#run-rewards", RewardChart)
        rewards.display = bool(charts)
        if charts:
            rewards.set_data(charts.get("rewards/chosen"), charts.get("rewards/rejected"), run.get("total_steps"))
        update_if_changed(self.query_one("#run-metrics", Static), metrics_table(run),
                          key=tuple(sorted(metric_values(run).items(), key=str)), layout=False)  # (7 rows)

    def on_line_view_follow_changed(self, event: LineView.FollowChanged) -> None:
        tail = event.view
        state = "following" if tail.follow else f"paused, {tail.pending_count} new lines (f or end to follow)"
        self.query_one("#run-tabs", TabbedContent).get_tab("log").label = f"Log (l) · {state}"

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "log":
            self.query_one(LogTail).focus()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        kind = ((self.run_row or {}).get("metadata") or {}).get("kind") or "training"
        if action in ("chat", "export", "publish"):  # only a run with an adapter has something to chat with
            return bool(self.run_row and self.run_row.get("adapter_path"))
        if action == "evaluate":  # ... or to score
            return bool(self.run_row and self.run_row.get("adapter_path")) and kind == "training"
        if action == "results":
            return kind == "evaluation"
        if action in ("duplicate", "checkpoint") and kind == "evaluation":  # no training config, no checkpoints
            return False
        return super().check_action(action, parameters)

    async def action_evaluate(self) -> None:
        from screens.eval_start import ask_to_evaluate

        if self.run_row:
            await ask_to_evaluate(self, self.run_row)

    def action_results(self) -> None:
        self.app.open_evaluation(self.run_id)

    async def action_chat(self) -> None:
        await self.app.chat_with_run(self.run_id)

    def action_export(self) -> None:
        from screens.run_export import export_run

        self.run_worker(export_run(self, self.run_id), group="run-action", exit_on_error=False)

    def action_publish(self) -> None:
        from screens.run_export import publish_run

        self.run_worker(publish_run(self, self.run_id), group="run-action", exit_on_error=False)

    def action_back(self) -> None:
        self.app.pop_screen()

    def after_run_action(self) -> None:
        self.poller.now()

    def after_delete(self, run_id: int) -> None:
        self.poller.stop()
        self.app.pop_screen()
