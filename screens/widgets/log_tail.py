"""A live tail of a growing text file (a run's train.log), by byte offset.

The file is never re-read: the widget keeps the offset it has read up to and, in a
thread, reads only what was appended since (``ffui.jobs.tail.read_lines``: whole lines,
1 MiB at a time). The first read starts near the end, so opening a 100k-line log costs
the same as opening a short one. Polls never overlap: the next one is scheduled when the
previous one has finished (Dolphie's pattern), and a hidden screen skips its polls.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from pathlib import Path

from rich.text import Text

from screens.widgets.base import is_shown, report_failed_worker
from screens.widgets.lines import LineView

POLL_S = 1.0  # live data is drawn at most once a second: each new line repaints the whole view
START_BYTES = 256 * 1024  # how far back from the end the first read starts
CATCH_UP_BYTES = 8 * 1024 * 1024  # most a single poll reads when far behind


def read_tail(path: Path, offset: int | None, keep: int) -> tuple[list[str], int]:
    """Lines appended after ``offset`` (None: the last ``keep`` lines) and the new offset.

    Runs in a thread. When far behind, only the last ``keep`` lines are returned; the offset
    still moves past everything read, so a writer at 1,000 lines/s never piles up work.
    """
    from ffui.jobs.tail import read_lines
    from ffui.runfiles import open_run_file

    if offset is None:
        try:
            fh = os.fdopen(open_run_file(path), "rb")  # a link in the run directory is not followed
        except OSError:
            return [], 0
        with fh:
            offset = max(0, fh.seek(0, os.SEEK_END) - START_BYTES)
            if offset:  # skip the partial line we landed in
                fh.seek(offset)
                offset += len(fh.readline())
    lines: deque[str] = deque(maxlen=keep)
    budget = CATCH_UP_BYTES
    while budget > 0:
        new, end = read_lines(path, offset)
        if end < offset:  # truncated or replaced: read_lines started again from the top
            lines.clear()
        if end == offset:
            break
        budget -= end - offset if end > offset else end
        lines.extend(new)
        offset = end
    return list(lines), offset


def line_style(line: str) -> str:
    low = line.lower()
    if "traceback" in low or "error" in low or "out of memory" in low or " nan" in low:
        return "bold red"
    if "warn" in low:
        return "yellow"
    return ""


class LogTail(LineView):
    """Follows ``path``; call ``start()`` once the path is known."""

    def __init__(self, *, max_lines: int = 2000, poll_s: float = POLL_S, **kw) -> None:
        super().__init__(max_lines=max_lines, **kw)
        self.path: Path | None = None
        self.byte_offset: int | None = None
        self.poll_s = poll_s
        self._tail_running = False

    def start(self, path: str | Path) -> None:
        if self.path == Path(path) and self._tail_running:
            return
        self.path, self.byte_offset = Path(path), None
        self.clear()
        if not self._tail_running:
            self._tail_running = True
            self.run_worker(self._poll_loop, exclusive=True, group="tail", exit_on_error=False)

    def on_worker_state_changed(self, event) -> None:
        report_failed_worker(self, event)

    def render_item(self, item: str) -> Text:
        return Text(item, style=line_style(item), no_wrap=True)

    async def _poll_loop(self) -> None:
        while self.is_attached:
            if is_shown(self.screen) or self.byte_offset is None:
                await self.poll_once()
            await asyncio.sleep(self.poll_s)

    async def poll_once(self) -> int:
        """Read what is new now; returns how many lines arrived."""
        if self.path is None:
            return 0
        lines, self.byte_offset = await asyncio.to_thread(read_tail, self.path, self.byte_offset, self.max_lines)
        self.append(lines)
        return len(lines)
