"""A check box that reads without colour: X when ticked, blank when not.

Textual's Checkbox always draws an X and tells on from off by colour alone, which a 16-colour
terminal or a monochrome tmux capture cannot show; "also delete its files" must not be
ambiguous.
"""

from __future__ import annotations

from textual.widgets import Checkbox


class Tick(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        return "X" if self.value else " "
