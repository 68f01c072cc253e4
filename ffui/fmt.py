"""How ffui writes a run's numbers for people, the same in the CLI, the TUI and train.log.

One place, so an ETA reads "1:05:09" in ``ffui runs list``, on the Runs screen and in the
run's log alike, and so a run that has ended never shows one.
"""

from __future__ import annotations

import math

NO_VALUE = "--"


def fmt_eta(seconds) -> str:
    """Seconds left as m:ss or h:mm:ss; ``--`` while unknown (the first steps, a NaN)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return NO_VALUE
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def run_eta(run: dict) -> str:
    """A run's ETA as shown to users: only a running run has one (an ended or queued run: empty)."""
    if run.get("status") != "running":
        return ""
    return fmt_eta(run.get("eta_s"))
