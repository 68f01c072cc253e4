"""Small text formatters shared by the screens (numbers, durations, bars)."""

from __future__ import annotations

import math
from pathlib import Path

from ffui.fmt import fmt_eta, run_eta  # noqa: F401  (one ETA format for the CLI and the screens)

BLOCKS = "▁▂▃▄▅▆▇█"


def fmt_num(value, digits: int = 4) -> str:
    """Losses and rates: fixed digits, scientific for tiny numbers (learning rates)."""
    if isinstance(value, str):
        return value  # the trainer writes "nan"/"inf" as strings (JSON has no NaN)
    if not isinstance(value, (int, float)):
        return "--"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def is_bad_number(value) -> bool:
    """NaN/inf losses arrive as floats or as the strings the event writer uses."""
    if isinstance(value, str):
        return value.lower() in ("nan", "inf", "-inf")
    return isinstance(value, float) and not math.isfinite(value)


def bar(fraction: float, width: int) -> str:
    """A progress bar readable without colour: filled blocks then light shade."""
    fraction = min(1.0, max(0.0, float(fraction or 0)))
    filled = int(round(fraction * width))
    return "█" * filled + "░" * (width - filled)


def sparkline(values: list[float], width: int) -> str:
    """The whole series in ``width`` block characters, each the mean of its share of the points.

    Means of buckets, not the last ``width`` points: a loss that fell from 7.7 to 3.4 with
    step-to-step noise reads as falling, not as noise.
    """
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return ""
    n = len(vals)
    if n > width:
        vals = [sum(vals[i * n // width:(i + 1) * n // width]) / ((i + 1) * n // width - i * n // width)
                for i in range(width)]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(BLOCKS[min(7, int((v - lo) / span * 7.999))] for v in vals)


def short_path(path: str | Path | None, width: int) -> str:
    """A path that fits: ~ for the user's home, then cut from the left with an ellipsis."""
    if not path:
        return ""
    text = str(path)
    home = str(Path.home())
    if home != "/" and (text == home or text.startswith(home + "/")):
        text = "~" + text[len(home):]
    return text if len(text) <= width else "…" + text[-(width - 1):]
