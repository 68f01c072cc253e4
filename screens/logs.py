"""Logs (mode 5): app_logs with level, logger and run filters, a search, and follow mode.

The table is never loaded whole: the screen shows the newest page that matches the
filters, follows new lines by id (``after_id``) while following, and loads older pages by
id (``before_id``) when the cursor goes above the first line. At most ``MAX_LINES`` lines
are held; the list draws only the rows on screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Input, Select, Static

from screens.widgets.base import FfuiScreen, Poller
from screens.widgets.lines import LineView
from screens.widgets.modals import TextModal

PAGE = 500
MAX_LINES = 3000
LEVEL_STYLE = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red reverse"}
LEVEL_SHORT = {"DEBUG": "DBG", "INFO": "INF", "WARNING": "WRN", "ERROR": "ERR", "CRITICAL": "CRT"}
LEVEL_CHOICES = [("all levels", ""), ("debug+", "DEBUG"), ("info+", "INFO"), ("warning+", "WARNING"), ("error+", "ERROR")]


LOGGER_W = 18  # "jobs.supervisor#12": the logger filter takes what this column shows


def short_logger(row: dict) -> str:
    """The logger without "ffui.", and its run: cut in the name, so the run number stays."""
    name = (row.get("logger") or row.get("source") or "").removeprefix("ffui.")
    run = f"#{row['run_id']}" if row.get("run_id") is not None else ""
    if len(name) + len(run) > LOGGER_W:
        name = name[:LOGGER_W - len(run) - 1] + "…"
    return name + run


class LogList(LineView):
    """One app_logs row per line: time, level, logger#run, message."""

    def measure(self, row: dict) -> int:
        return 14 + LOGGER_W + len(row.get("message") or "")

    def render_item(self, row: dict) -> Text:
        level = (row.get("level") or "INFO").upper()
        stamp = (row.get("timestamp") or "")[11:19]
        text = Text(no_wrap=True)
        text.append(f"{stamp} ", style="dim")
        text.append(f"{LEVEL_SHORT.get(level, level[:3]):<3} ", style=LEVEL_STYLE.get(level, ""))
        text.append(f"{short_logger(row):<{LOGGER_W}} ", style="cyan")
        text.append((row.get("message") or "").replace("\n", " ⏎ "), style=LEVEL_STYLE.get(level, "") if level != "INFO" else "")
        return text


class LogsScreen(FfuiScreen):
    mode_title = "Logs"
    HELP = (
        "The app's log (app_logs): trainer output, supervisors, the CLI. Filters: level, the logger as "
        "its column shows it (jobs, train#2), run id, and a search in the message. f pauses/follows; "
        "going above the first line loads older lines; enter shows a line in full."
    )
    BINDINGS = [
        Binding("slash", "focus_search", "Search", id="logs.search"),
        Binding("escape", "focus_list", "To list", show=False, id="logs.to_list"),
        Binding("ctrl+l", "clear_filters", "Clear filters", id="logs.clear_filters"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.last_id: int | None = None  # newest id held (for following)
        self.first_id: int | None = None  # oldest id held (for older pages)
        self.has_newest = True  # False once older pages pushed the newest lines out
        self.total = 0
        self.poller = Poller(self, self.follow_new, 1.0)  # at most a redraw a second while lines arrive
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        with Horizontal(id="log-filters"):
            yield Select(LEVEL_CHOICES, value="", allow_blank=False, compact=True, id="log-level")
            yield Input(placeholder="logger", compact=True, id="log-logger")
            yield Input(placeholder="run", compact=True, id="log-run", restrict=r"[0-9]*")
            yield Input(placeholder="search (/)", compact=True, id="log-search")
        yield Static("", id="log-status")
        yield LogList(id="log-list", cursor=True, max_lines=MAX_LINES)

    def on_mount(self) -> None:
        self.query_one(LogList).focus()
        self.run_worker(self.reload, group="logs-load", exclusive=True, exit_on_error=False)

    def on_screen_resume(self) -> None:
        self.poller.now()

    # -- filters -----------------------------------------------------------------------

    def filters(self) -> dict:
        run = self.query_one("#log-run", Input).value.strip()
        return {
            "min_level": self.query_one("#log-level", Select).value or None,
            "logger": self.query_one("#log-logger", Input).value.strip() or None,
            "run_id": int(run) if run else None,
            "search": self.query_one("#log-search", Input).value.strip() or None,
        }

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.3, self._reload_soon)  # one query per pause in typing

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._reload_soon()
        self.query_one(LogList).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._reload_soon()

    def _reload_soon(self) -> None:
        self.run_worker(self.reload, group="logs-load", exclusive=True, exit_on_error=False)

    def action_focus_search(self) -> None:
        self.query_one("#log-search", Input).focus()

    def action_focus_list(self) -> None:
        self.query_one(LogList).focus()

    def action_clear_filters(self) -> None:
        for input_id in ("#log-logger", "#log-run", "#log-search"):
            self.query_one(input_id, Input).value = ""
        self.query_one("#log-level", Select).value = ""
        self._reload_soon()

    # -- loading -----------------------------------------------------------------------

    async def reload(self) -> None:
        """The newest page matching the filters, and how many lines match in all."""
        from ffui.db import get_log_count, get_logs

        if self.app.db is None:
            return
        self.poller.stop()
        f = self.filters()
        rows = await get_logs(self.app.db, PAGE, **f)
        self.total = await get_log_count(self.app.db, **f)
        view = self.query_one(LogList)
        view.clear()
        view.follow = True
        view.append(rows)
        self.first_id = rows[0]["id"] if rows else None
        self.last_id = rows[-1]["id"] if rows else 0
        self.has_newest = True
        self.show_status()
        self.poller.start(self.poller.interval)

    async def follow_new(self) -> None:
        """While following: the lines after the newest held, a bounded batch at a time."""
        from ffui.db import get_logs

        view = self.query_one(LogList)
        if self.last_id is None or self.app.db is None or not self.has_newest:
            return  # (while paused the view keeps new lines aside, bounded, until f)
        f = self.filters()
        added = 0
        while True:
            rows = await get_logs(self.app.db, 1000, after_id=self.last_id, **f)
            if not rows:
                break
            self.last_id = rows[-1]["id"]
            self.total += len(rows)
            added += len(rows)
            view.append(rows)
            if len(rows) < 1000:
                break
        if self.first_id is None and view.items:
            self.first_id = view.items[0]["id"]
        if added:
            self.show_status()

    def on_line_view_reached_top(self, event: LineView.ReachedTop) -> None:
        self.run_worker(self.load_older, group="logs-older", exclusive=True, exit_on_error=False)

    async def load_older(self) -> None:
        from ffui.db import get_logs

        if self.first_id is None:
            return
        rows = await get_logs(self.app.db, PAGE, before_id=self.first_id, **self.filters())
        if not rows:
            self.notify("this is the first line", timeout=2)
            return
        view = self.query_one(LogList)
        if view.prepend(rows):
            self.has_newest = False
        self.first_id = rows[0]["id"]
        self.show_status()

    def on_line_view_follow_changed(self, event: LineView.FollowChanged) -> None:
        if event.follow and not self.has_newest:
            self._reload_soon()  # the newest lines were dropped for older ones: fetch them again
        self.show_status()

    def on_line_view_selected(self, event: LineView.Selected) -> None:
        row = event.item
        body = f"{row.get('timestamp')} {row.get('level')} {row.get('logger') or ''}"
        if row.get("run_id") is not None:
            body += f" run {row['run_id']}"
        body += f" ({row.get('source') or 'app'})\n\n{row.get('message') or ''}"
        if row.get("exc_info"):
            body += f"\n\n{row['exc_info']}"
        self.app.push_screen(TextModal(f"Log line {row.get('id')}", body))

    def show_status(self) -> None:
        view = self.query_one(LogList)
        state = "following" if view.follow else f"paused ({view.pending_count} new; f or end to follow)"
        held = len(view.items)
        self.query_one("#log-status", Static).update(
            Text(f"{self.total:,} matching lines · {held:,} loaded · {state}", style="dim"))
