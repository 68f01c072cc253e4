"""What every ffui screen shares: header and footer, failed workers as one-line notices, polling.

Workers here are created with ``exit_on_error=False`` (Textual would otherwise end the app
and print a traceback); ``Worker.StateChanged`` does not bubble, so each screen (and each
widget that runs workers) turns a failed worker into ``app.notify_error`` itself.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.worker import Worker, WorkerState
from textual.widgets import Footer, Static

from screens.widgets.header import AppHeader


def report_failed_worker(node: Widget | Screen, event: Worker.StateChanged) -> None:
    if event.state == WorkerState.ERROR and event.worker.error is not None:
        notify = getattr(node.app, "notify_error", None)
        if notify is not None:
            notify(event.worker.error)
        else:  # not inside FfuiApp (a widget tested alone): still one line
            node.app.notify(str(event.worker.error), severity="error", markup=False)


def update_if_changed(static: Static, renderable, key=None, *, layout: bool = True) -> None:
    """``static.update`` unless it shows this already (by ``key``, else the renderable itself).

    ``Static.update`` redraws even when nothing changed, and every redraw goes to the
    terminal: over SSH, what a poll finds unchanged must cost nothing. ``layout=False``
    where the size cannot change: a layout repaints the screen's scroll bars too.
    """
    key = renderable if key is None else key
    first = not hasattr(static, "_ffui_shown")  # (the first content sizes the widget)
    if first or static._ffui_shown != key:
        static._ffui_shown = key
        static.update(renderable, layout=layout or first)


def is_shown(screen: Screen) -> bool:
    """Whether any of ``screen`` can be seen: it is on top, or only see-through screens cover it.

    Textual's ``is_current`` is also true for the screen just under the top one, opaque or not
    (a run's screen over the Runs list): polling there would redraw, unseen, and Textual then
    repaints the top screen wherever the hidden one changed, every second.
    """
    try:
        stack = screen.app.screen_stack
    except Exception:  # no screen stack yet, or no longer
        return False
    if screen not in stack:
        return False
    return all(above.styles.background.a < 1 for above in stack[stack.index(screen) + 1:])


class FfuiScreen(Screen):
    """A mode's screen: the app header on top, the footer with its keys below."""

    HELP = ""

    @property
    def is_current(self) -> bool:  # type: ignore[override]
        """Only a screen that can be seen: Textual also counts the one under the top screen, and
        then every event that screen handles (a poll's timer, a GPU reading) repaints the whole
        top screen, unchanged: 20 KB/s to the terminal for a run's screen where nothing moves."""
        return is_shown(self)

    def compose_chrome(self) -> ComposeResult:
        yield AppHeader()
        yield Footer(compact=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)

    def has_unsaved_changes(self) -> bool:
        return False

    def on_database_ready(self) -> None:
        """Called by the app once ``app.db`` is open (only screens shown before that need it)."""


class Poller:
    """Run ``fn`` every ``interval`` seconds; never two at once; skipped while the screen is hidden.

    The next poll is armed only when the previous one has finished (Dolphie's pattern), so a
    slow database stretches the interval instead of stacking queries. ``now()`` polls at
    once (for example when the screen comes back) without starting a second chain.
    """

    def __init__(self, node: Widget | Screen, fn: Callable[[], Awaitable[None]], interval: float,
                 *, when_hidden: bool = False) -> None:
        self.node, self.fn, self.interval, self.when_hidden = node, fn, interval, when_hidden
        self.busy = False
        self.polls = 0
        self._timer: Timer | None = None
        self._stopped = False
        self._last_error = ""

    def start(self, delay: float = 0.0) -> None:
        self._stopped = False
        self._arm(delay)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.stop()

    def now(self) -> None:
        self._fire()

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._stopped or not self.node.is_attached:
            return
        if delay <= 0:  # (a zero-delay Textual timer that fires late divides by zero)
            self._timer = None
            self.node.call_later(self._fire)
        else:
            self._timer = self.node.set_timer(delay, self._fire)

    def _visible(self) -> bool:
        return is_shown(self.node if isinstance(self.node, Screen) else self.node.screen)

    def _fire(self) -> None:
        if self.busy or self._stopped or not self.node.is_attached:
            return
        if not self.when_hidden and not self._visible():
            self._arm(self.interval)
            return
        self.busy = True
        self.node.run_worker(self._run, group="poll", exit_on_error=False)  # (a coroutine object would warn if never started)

    async def _run(self) -> None:
        try:
            await self.fn()
            self.polls += 1
            self._last_error = ""
        except Exception as exc:  # say it once, not every second, and keep polling
            if f"{type(exc)}{exc}" != self._last_error:
                self._last_error = f"{type(exc)}{exc}"
                notify = getattr(self.node.app, "notify_error", None)
                notify(exc) if notify else self.node.app.notify(str(exc), severity="error", markup=False)
        finally:
            self.busy = False
            self._arm(self.interval)
