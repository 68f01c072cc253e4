"""A bounded, follow-able view of many lines (the Line API: only visible lines are drawn).

Toolong's lesson: a view of a growing log must not hold or re-render the whole log. This
widget keeps at most ``max_lines`` items, draws just the rows on screen with
``render_line``, and follows the end until the user scrolls up; ``end`` (or ``f``) follows
again. While it is not following, appended lines wait in a bounded buffer so the text the
user is reading does not move under them.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineView(ScrollView, can_focus=True):
    """Items rendered one per row; subclasses override ``render_item``."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="lines.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="lines.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="lines.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="lines.page_down"),
        Binding("home", "top", "Top", show=False, id="lines.top"),
        Binding("end", "follow", "Follow", show=False, id="lines.end"),
        Binding("left", "scroll_x(-8)", "Left", show=False, id="lines.left"),
        Binding("right", "scroll_x(8)", "Right", show=False, id="lines.right"),
        Binding("f", "toggle_follow", "Follow", tooltip="Pause or follow the end (end follows too)", id="lines.follow"),
    ]

    follow: reactive[bool] = reactive(True)

    class FollowChanged(Message):
        def __init__(self, view: "LineView", follow: bool) -> None:
            super().__init__()
            self.view, self.follow = view, follow

    class ReachedTop(Message):
        """The user tried to go above the first line (a paged owner can load older lines)."""

        def __init__(self, view: "LineView") -> None:
            super().__init__()
            self.view = view

    class Selected(Message):
        """enter on the cursor row (only when the view has a cursor)."""

        def __init__(self, view: "LineView", item: Any) -> None:
            super().__init__()
            self.view, self.item = view, item

    def __init__(self, *, max_lines: int = 2000, cursor: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.max_lines = max_lines
        self.items: list[Any] = []
        self.pending: deque[Any] = deque(maxlen=max_lines)  # arrived while paused
        self.has_cursor = cursor
        self.cursor = -1
        self._width = 0

    # -- data ------------------------------------------------------------------------

    def clear(self) -> None:
        self.items, self._width, self.cursor = [], 0, -1
        self.pending.clear()
        self._resize()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def append(self, items: Iterable[Any]) -> None:
        """Add lines at the end; while paused they wait (bounded) until follow resumes."""
        items = list(items)
        if not items:
            return
        if not self.follow:
            self.pending.extend(items)
            self.post_message(self.FollowChanged(self, False))  # lets the owner show "N new"
            return
        self._add(items)
        self._to_end()

    def prepend(self, items: list[Any]) -> int:
        """Put older lines before the first; the view stays on the line it showed.

        When this would exceed ``max_lines`` the newest lines go (the view stops following);
        returns how many were dropped from the end.
        """
        if not items:
            return 0
        self.follow = False
        self.items[:0] = items
        dropped = max(0, len(self.items) - self.max_lines)
        if dropped:
            del self.items[-dropped:]
        self._width = max(self._width, *(self.measure(i) for i in items[:200]))
        if self.has_cursor:
            self.cursor = max(0, self.cursor) + len(items) - 1
        self._resize()
        self.scroll_to(y=self.scroll_y + len(items) - 1, animate=False, immediate=True)
        self._show_cursor()
        return dropped

    def _add(self, items: list[Any]) -> None:
        self.items.extend(items)
        overflow = len(self.items) - self.max_lines
        if overflow > 0:
            del self.items[:overflow]
        self._width = max(self._width, *(self.measure(i) for i in items[-200:]))
        self._resize()

    def _resize(self) -> None:
        self.virtual_size = Size(self._width + 1, len(self.items))
        self.refresh()

    def _to_end(self) -> None:
        if self.has_cursor:
            self.cursor = len(self.items) - 1
        if self.size.height:  # scroll now: new lines and the scroll in one frame, not two
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        # and after the next refresh, in case the new width brought a scroll bar that moved the end
        self.call_after_refresh(self._scroll_to_last)

    def on_resize(self, event) -> None:
        if self.follow:  # lines may have arrived before the view had its size
            self._to_end()

    def _scroll_to_last(self) -> None:
        if self.follow and self.scroll_y != self.max_scroll_y:  # (an unmoved view is not drawn again)
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
            self.refresh()

    def measure(self, item: Any) -> int:
        return len(str(item))

    def render_item(self, item: Any) -> Text:
        return Text(str(item))

    @property
    def pending_count(self) -> int:
        return len(self.pending)

    # -- follow ----------------------------------------------------------------------

    def watch_follow(self, follow: bool) -> None:
        if follow and self.pending:
            items = list(self.pending)
            self.pending.clear()
            self._add(items)
        if follow and self.is_mounted:
            self._to_end()
        self.post_message(self.FollowChanged(self, follow))

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_follow(self) -> None:
        self.follow = True
        self._to_end()

    def action_top(self) -> None:
        self.follow = False
        self.cursor = 0 if self.items and self.has_cursor else -1
        self.scroll_to(y=0, animate=False)
        self.refresh()

    def action_scroll_x(self, delta: int) -> None:
        self.scroll_to(x=max(0, self.scroll_x + delta), animate=False)

    def action_cursor(self, delta: int) -> None:
        if not self.items:
            return
        if delta < 0:
            self.follow = False
            if (self.cursor if self.has_cursor else self.scroll_y) <= 0:
                self.post_message(self.ReachedTop(self))
                return
        if not self.has_cursor:
            self.scroll_to(y=self.scroll_y + delta, animate=False)
            return
        self.cursor = max(0, min(len(self.items) - 1, (self.cursor if self.cursor >= 0 else len(self.items) - 1) + delta))
        self._show_cursor()

    def action_page(self, direction: int) -> None:
        if direction < 0:
            self.follow = False
            if (self.cursor if self.has_cursor else self.scroll_y) <= 0:
                self.post_message(self.ReachedTop(self))
                return
        page = max(1, self.scrollable_content_region.height - 1)
        if self.has_cursor and self.items:
            self.cursor = max(0, min(len(self.items) - 1, max(self.cursor, 0) + direction * page))
            self._show_cursor()
        else:
            self.scroll_to(y=self.scroll_y + direction * page, animate=False)

    def _show_cursor(self) -> None:
        height = self.scrollable_content_region.height
        if self.cursor < self.scroll_y:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= self.scroll_y + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)
        self.refresh()

    def on_mouse_scroll_up(self, event) -> None:
        self.follow = False  # scrolling up means "let me read": stop following (Widget still scrolls)

    def key_enter(self) -> None:
        if self.has_cursor and 0 <= self.cursor < len(self.items):
            self.post_message(self.Selected(self, self.items[self.cursor]))

    # -- drawing ---------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.items):
            return Strip.blank(width, base)
        text = self.render_item(self.items[index])
        segments = list(text.render(self.app.console, end=""))
        strip = Strip(Segment.apply_style(segments, base), text.cell_len)
        strip = strip.crop_extend(scroll_x, scroll_x + width, base)
        if self.has_cursor and index == self.cursor:
            strip = strip.apply_style(self._cursor_style())
        return strip

    def _cursor_style(self) -> Style:
        styles = self.get_component_rich_style("lineview--cursor", partial=True)
        return styles if styles else Style(reverse=True)

    COMPONENT_CLASSES = {"lineview--cursor"}
