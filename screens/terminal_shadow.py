"""Write only the cells that changed: a copy of what the terminal shows (curses' idea).

Textual repaints whole regions: a followed log that moves by a line rewrites every row, a
seven-row table whose one number moved rewrites seven rows, a scroll bar is rewritten when
its thumb stays put. Over a slow SSH link every byte costs. The app keeps the cells it last
wrote; each partial update (``ChopsUpdate``) is cut down to the runs of cells that differ
from that copy. A full frame (``LayoutUpdate``) is written as it comes and becomes the copy;
any other kind of update, a resize or a resume after a suspend forgets the copy, so the next
frame is written whole.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any, Iterator

from rich.cells import get_character_cell_size
from rich.segment import Segment
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.strip import Strip

Cell = tuple[str, Any]  # (the character, its rich Style)
# Unchanged cells between two changed runs that are cheaper to write again than to jump over
# (a cursor move and the style cost ~10-20 bytes).
GAP = 8


def segment_cells(x: int, segment: Segment) -> Iterator[tuple[int, Cell]]:
    """The cells a segment covers from column ``x`` (a wide character takes two)."""
    style = segment.style
    for char in segment.text:
        width = get_character_cell_size(char)
        if width == 0:
            continue  # (a combining mark: drawn with the cell before; rare enough to ignore)
        yield x, (char, style)
        if width == 2:
            yield x + 1, ("", style)
        x += width


def line_cells(line: dict, x1: int, x2: int) -> dict[int, Cell]:
    """The cells in columns x1..x2 of a line of a ``ChopsUpdate`` (its strips by column)."""
    cells: dict[int, Cell] = {}
    for x, strip in line.items():
        if strip is None:
            continue
        for segment in strip:
            if x >= x2:
                break
            if x + segment.cell_length > x1:
                cells.update((at, cell) for at, cell in segment_cells(x, segment) if x1 <= at < x2)
            x += segment.cell_length
    return cells


def runs_of(columns: list[int]) -> list[tuple[int, int]]:
    """Changed columns as [start, end) runs, a gap of up to GAP unchanged cells joined in."""
    runs: list[list[int]] = []
    for x in columns:
        if runs and x - runs[-1][1] < GAP:
            runs[-1][1] = x + 1
        else:
            runs.append([x, x + 1])
    return [(start, end) for start, end in runs]


def strip_of(cells: dict[int, Cell], start: int, end: int) -> Strip:
    """The cells start..end as one strip, a segment per style."""
    segments = [Segment("".join(char for _, (char, _) in group), style)
                for style, group in groupby(((x, cells[x]) for x in range(start, end) if x in cells),
                                            key=lambda item: item[1][1])]
    return Strip(segments)


class TerminalShadow:
    """The cells on the terminal, as this app wrote them; cuts updates to what changed."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[int, Cell]] = {}

    def forget(self) -> None:
        self.rows = {}

    def cut(self, update: Any) -> Any:
        """The update to write instead of ``update`` (None: nothing changed)."""
        if isinstance(update, LayoutUpdate):
            self._remember_layout(update)
            return update
        if not isinstance(update, ChopsUpdate):
            self.forget()
            return update
        runs: dict[int, list[tuple[int, int, Strip]]] = {}  # by line: (start, end, the cells)
        for y, x1, x2 in update.spans:
            row, new = self.rows.setdefault(y, {}), line_cells(update.chops[y], x1, x2)
            for start, end in runs_of([x for x in sorted(new) if row.get(x) != new[x]]):
                if new[start][0] == "" and start - 1 in new:  # (the right half of a wide character)
                    start -= 1
                if new.get(end, ("x",))[0] == "":  # (a wide character's right half: it goes whole)
                    end += 1
                runs.setdefault(y, []).append((start, end, strip_of(new, start, end)))
                row.update((x, new[x]) for x in range(start, end) if x in new)
        if not runs:
            return None
        # one span a line, holding only the changed runs: the gaps between them are not written
        chops: list[dict[int, Strip]] = [{} for _ in update.chops]
        ends: list[list[int]] = [[] for _ in update.chops]
        for y, line in runs.items():
            for start, end, strip in sorted(line, key=lambda run: run[0]):
                chops[y][start] = strip
                ends[y].append(end)
        spans = [(y, min(r[0] for r in line), max(r[1] for r in line)) for y, line in sorted(runs.items())]
        return ChopsUpdate(chops, spans, ends)

    def _remember_layout(self, update: LayoutUpdate) -> None:
        for y, line in enumerate(update.strips, update.region.y):
            row, x = self.rows.setdefault(y, {}), update.region.x
            for strip in line:
                for segment in strip:
                    row.update(segment_cells(x, segment))
                    x += segment.cell_length
