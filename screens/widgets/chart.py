"""A small line chart in braille characters: training loss and eval loss against step.

Braille cells hold 2x4 dots, so an 40x8 cell chart has 80x32 points: enough to see a loss
curve over SSH without a plotting library. Each series has its own colour; a cell shared
by both shows the eval colour (eval points are rare and matter more).
"""

from __future__ import annotations

import math
from itertools import groupby

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# Dot bits of a braille cell, indexed [row 0..3][column 0..1] (Unicode braille order).
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
LABEL_W = 7  # y-axis label width, e.g. "10.2345"


def _clean(points) -> list[tuple[float, float]]:
    out = []
    for p in points or []:
        try:
            x, y = float(p[0]), float(p[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(x) and math.isfinite(y):
            out.append((x, y))
    return out


def round_bounds(low: float, high: float) -> tuple[float, float]:
    """The y range widened to whole steps of a round unit (1, 2 or 5 times a power of ten, a
    tenth of the range or so), so a new loss point seldom moves the axis and redraws every column."""
    if high - low < 1e-12:
        return low - 0.5, high + 0.5
    magnitude = 10 ** math.floor(math.log10((high - low) / 10))
    unit = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= (high - low) / 10)
    return math.floor(low / unit) * unit, math.ceil(high / unit) * unit


def _label(v: float) -> str:
    text = f"{v:.4g}" if abs(v) < 1e4 else f"{v:.2e}"
    return text[:LABEL_W].rjust(LABEL_W)


class BrailleCanvas:
    """Dots on a width x height cell grid; each cell remembers which series touched it."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.bits = [[0] * width for _ in range(height)]
        self.owner = [[0] * width for _ in range(height)]

    def dot(self, px: int, py: int, series: int) -> None:
        cx, cy = px // 2, py // 4
        if 0 <= cx < self.width and 0 <= cy < self.height:
            self.bits[cy][cx] |= _DOTS[py % 4][px % 2]
            self.owner[cy][cx] = max(self.owner[cy][cx], series)

    def line(self, a: tuple[int, int], b: tuple[int, int], series: int) -> None:
        steps = max(abs(b[0] - a[0]), abs(b[1] - a[1]), 1)
        for i in range(steps + 1):
            self.dot(round(a[0] + (b[0] - a[0]) * i / steps), round(a[1] + (b[1] - a[1]) * i / steps), series)


class LossChart(Widget):
    """Loss (and eval loss) over steps, with the y range on the left and steps below."""

    DEFAULT_CSS = """
    LossChart { height: 8; }
    """

    EMPTY = "no loss reported yet"
    LEGEND: tuple[tuple[str, str], ...] = ()  # (words, style) in place of "step N" under the chart

    history: reactive[list] = reactive(list, always_update=True)
    eval_history: reactive[list] = reactive(list, always_update=True)
    planned_steps: reactive[float] = reactive(0.0)

    def set_data(self, history, eval_history, planned_steps=None) -> None:
        """Redraws only when the points changed (an unchanged chart costs the terminal nothing).

        The x axis spans the run's planned steps: a new step adds a column instead of
        squeezing every column to the left (which redraws the whole chart over SSH).
        """
        history, eval_history = _clean(history), _clean(eval_history)
        planned = float(planned_steps) if isinstance(planned_steps, (int, float)) and planned_steps > 0 else 0.0
        if planned != self.planned_steps:
            self.planned_steps = planned
        if history != self.history:
            self.history = history
        if eval_history != self.eval_history:
            self.eval_history = eval_history

    def render(self) -> Text:
        width = max(4, self.size.width - LABEL_W - 1)
        height = max(2, self.size.height - 1)
        series = [s for s in (self.history, self.eval_history)]
        points = [p for s in series for p in s]
        if not points:
            return Text(self.EMPTY, style="dim")
        return self._draw(width, height, points)

    def _draw(self, width: int, height: int, points: list[tuple[float, float]]) -> Text:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, x1 = min(xs), max(max(xs), self.planned_steps)
        y0, y1 = round_bounds(min(ys), max(ys))
        pw, ph = width * 2, height * 4

        def to_px(p):
            fx = (p[0] - x0) / (x1 - x0) if x1 > x0 else 0.0
            return round(fx * (pw - 1)), round((1 - (p[1] - y0) / (y1 - y0)) * (ph - 1))

        canvas = BrailleCanvas(width, height)
        for n, s in enumerate((self.history, self.eval_history), start=1):
            pts = [to_px(p) for p in s]
            for a, b in zip(pts, pts[1:]):
                canvas.line(a, b, n)
            for p in pts[-1:] if len(pts) > 1 else pts:
                canvas.dot(*p, n)
        return self._text(canvas, (x0, x1, y0, y1))

    def _text(self, canvas: BrailleCanvas, bounds) -> Text:
        x0, x1, y0, y1 = bounds
        # Plain ANSI colour names: they exist in every theme and on 16-colour terminals.
        styles = {1: "bold cyan", 2: "bold yellow"}
        text = Text(no_wrap=True, overflow="crop")
        for row in range(canvas.height):
            label = _label(y1) if row == 0 else _label(y0) if row == canvas.height - 1 else " " * LABEL_W
            text.append(label + "│", style="dim")
            # A run of cells of one series is one span, and an empty cell is a space, not a blank
            # braille (3 bytes): a live chart is redrawn each step and goes over SSH each time.
            for owner, cells in groupby(range(canvas.width), key=lambda col: canvas.owner[row][col]):
                text.append("".join(chr(0x2800 + canvas.bits[row][col]) if canvas.bits[row][col] else " "
                                    for col in cells), style=styles.get(owner, ""))
            text.append("\n")
        left, right = f"step {x0:g}", f"{x1:g}"
        if not self.LEGEND:
            gap = max(1, canvas.width - len(left) - len(right))
            text.append(" " * LABEL_W + "└" + left + " " * gap + right, style="dim")
            return text
        text.append(" " * LABEL_W + "└", style="dim")
        for words, style in self.LEGEND:
            text.append(words, style=style)
        text.append(" " * max(1, canvas.width - sum(len(w) for w, _ in self.LEGEND) - len(right)) + right, style="dim")
        return text
