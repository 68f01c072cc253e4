"""Help for the screen underneath: what it is for, and every key that works there right now.

The keys come from the screen's active bindings (the focused widget's, the screen's and
the app's), so the help never disagrees with the footer.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

GENERAL = (
    "1-6 switch modes (each keeps its place; `ffui keys` and the ui.keymap setting change keys); in a text field "
    "digits are text: escape leaves the field, then 1-6 switch · ctrl+p command palette (switches from anywhere) · "
    "F1/? this help · q quit (running jobs keep running) · tab moves between fields · escape closes dialogs"
)


def key_table(screen: Screen) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    seen: set[str] = set()
    app = screen.app
    items = sorted(screen.active_bindings.items(), key=lambda kv: key_order(screen, kv[1]))
    for key, active in items:
        binding: Binding = active.binding
        desc = binding.tooltip or binding.description or binding.action
        if not desc or (binding.action, desc) in seen:
            continue
        seen.add((binding.action, desc))
        table.add_row(app.get_key_display(binding), desc + ("" if active.enabled else " (not now)"))
    return table


def key_order(screen: Screen, active) -> int:
    """The footer's keys first, then the screen's other keys, then the app's (ffui's bindings
    all have an id), and last the generic ones: the focused widget's moving and scrolling, tab."""
    binding, node = active.binding, active.node
    if binding.show:
        return 0
    if binding.id and node is screen:
        return 1
    if binding.id and node is screen.app:
        return 2
    return 3


def reflow(text: str) -> str:
    """Help text as paragraphs that wrap to the dialog: the line breaks of the source go,
    blank lines (paragraphs) and list items ('- ') stay."""
    out: list[str] = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            out.append("")
        elif out and out[-1] and not line.startswith(("- ", "• ")):
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("q", "close", "Close", show=False, id="help.close_q"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_question_mark"),
    ]

    def __init__(self, target: Screen) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        title = getattr(self.target, "mode_title", None) or self.target.__class__.__name__.replace("Screen", "")
        with Vertical(classes="modal-dialog modal-wide", id="help"):
            yield Label(f"Help: {title}", classes="modal-title")
            yield Label("↑/↓ and page up/down scroll this help · escape closes it", classes="help-scroll-note")
            with VerticalScroll(classes="modal-body"):
                about = reflow(self.target.HELP or "")
                if about:
                    yield Static(about, classes="help-about")
                yield Static(key_table(self.target), classes="help-keys")
                yield Static(Text(GENERAL, style="dim"), classes="help-general")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
