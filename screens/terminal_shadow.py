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
from typing import Any

from rich.cells import get_character_cell_size
from rich.segment import Segment
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.strip import Strip

Cell = tuple[str, Any]  # (the character, its rich Style)
# Unchanged cells between two changed runs that are cheaper to write again than to jump over
# (a cursor move and the style cost ~10-20 bytes).
GAP = 8


def segment_cells(segment: Segment) -> list[Cell]:
    """The cells a segment covers, left to right (a wide character takes two)."""
    style, text = segment.style, segment.text
    if len(text) == segment.cell_length:  # (the common case: one cell a character)
        return [(char, style) for char in text]
    cells: list[Cell] = []
    for char in text:
        width = get_character_cell_size(char)
        if width:  # (a combining mark, width 0, is drawn with the cell before: rare, ignored)
            cells.append((char, style))
            if width == 2:
                cells.append(("", style))
    return cells


def line_cells(line: dict, x1: int, x2: int) -> list[Cell | None]:
    """The cells in columns x1..x2 of a line of a ``ChopsUpdate`` (its strips by column)."""
    cells: list[Cell | None] = [None] * (x2 - x1)
    for x, strip in line.items():
        if strip is None or x >= x2:
            continue
        row: list[Cell] = []
        for segment in strip:
            row.extend(segment_cells(segment))
        start, end = max(x, x1), min(x + len(row), x2)
        if start < end:
            cells[start - x1:end - x1] = row[start - x:end - x]
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


def strip_of(cells: list[Cell | None], start: int, end: int) -> Strip:
    """The cells start..end (indexes into ``cells``) as one strip, a segment per style."""
    present = [cell for cell in cells[start:end] if cell is not None]
    return Strip([Segment("".join(char for char, _ in group), style)
                  for style, group in groupby(present, key=lambda cell: cell[1])])


class TerminalShadow:
    """The cells on the terminal, as this app wrote them; cuts updates to what changed."""

    def __init__(self) -> None:
        self.rows: dict[int, list[Cell | None]] = {}

    def forget(self) -> None:
        self.rows = {}

    def _row(self, y: int, width: int) -> list[Cell | None]:
        row = self.rows.setdefault(y, [])
        if len(row) < width:
            row.extend([None] * (width - len(row)))
        return row

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
            row, new = self._row(y, x2), line_cells(update.chops[y], x1, x2)
            old = row[x1:x2]
            if old == new:
                continue
            changed = [x1 + i for i, (was, cell) in enumerate(zip(old, new)) if cell is not None and was != cell]
            for start, end in runs_of(changed):
                if new[start - x1][0] == "" and start > x1:  # (the right half of a wide character)
                    start -= 1
                if end < x2 and (new[end - x1] or ("x",))[0] == "":  # (it goes whole)
                    end += 1
                runs.setdefault(y, []).append((start, end, strip_of(new, start - x1, end - x1)))
                row[start:end] = [cell if cell is not None else was
                                  for was, cell in zip(row[start:end], new[start - x1:end - x1])]
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
            cells: list[Cell] = []
            for strip in line:
                for segment in strip:
                    cells.extend(segment_cells(segment))
            x = update.region.x
            self._row(y, x + len(cells))[x:x + len(cells)] = cells
