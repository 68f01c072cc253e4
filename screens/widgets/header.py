"""The one-line header every mode shows: the modes with their keys, the home, the GPUs."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from screens.widgets.format import short_path

# (mode, key, label) in key order; the app defines the modes with the same names.
MODE_TABS = (
    ("runs", "1", "Runs"),
    ("datasets", "2", "Data"),
    ("train", "3", "Train"),
    ("playground", "4", "Play"),
    ("logs", "5", "Logs"),
    ("settings", "6", "Settings"),
)


class AppHeader(Widget):
    """Docked at the top; redraws when the mode or the GPU summary changes."""

    DEFAULT_CSS = """
    AppHeader { dock: top; height: 1; background: $panel; color: $foreground; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "gpu_summary", lambda _: self.refresh(), init=False)
        self.app.mode_change_signal.subscribe(self, lambda _: self.refresh())

    def render(self) -> Text:
        app = self.app
        current = getattr(app, "current_mode", "")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" ffui ", style="bold reverse")
        keymap = getattr(app, "_keymap", {})  # the user's keymap (ui.keymap) moves the mode keys
        for mode, key, label in MODE_TABS:
            mine = keymap.get(f"app.mode.{mode}")
            if mine:
                key = app.get_key_display(Binding(mine.split(",")[0], ""))
            style = "bold reverse" if mode == current else ""
            text.append(" ")
            text.append(f"{key} {label}" if mode == current else f"{key}", style=style or "dim")
            if mode != current:
                text.append(label)
        right = f"{short_path(getattr(app, 'home_label', ''), 40)} · {getattr(app, 'gpu_summary', '')}"
        room = self.size.width - text.cell_len - 2
        if room > 8:
            right = right if len(right) <= room else "…" + right[-(room - 1):]
            text.append(" " * (room - len(right) + 1))
            text.append(right, style="dim")
        return text
