"""Small modal dialogs: confirm (with an optional extra choice), pick one of a list, read text.

All are keyboard-first: ``y``/``enter`` confirm, ``n``/``escape`` cancel; ``space`` toggles
the extra choice. They return their answer through ``push_screen(..., callback)`` or
``push_screen_wait``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, Static
from textual.widgets.option_list import Option

from screens.widgets.tick import Tick


@dataclass(frozen=True)
class Confirmed:
    """The answer of a ConfirmModal: ``ok`` and, if it offered one, the extra choice."""

    ok: bool
    extra: bool = False

    def __bool__(self) -> bool:
        return self.ok


class ConfirmModal(ModalScreen[Confirmed]):
    """Ask before doing something that cannot be undone (cancel a run, delete, quit)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, title: str, message: str, *, yes: str = "Yes", no: str = "No",
                 extra: str | None = None, danger: bool = False) -> None:
        super().__init__()
        self.title_text, self.message, self.yes, self.no = title, message, yes, no
        self.extra_label, self.danger = extra, danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="modal-dialog"):
            yield Label(self.title_text, classes="modal-title", markup=False)
            yield Static(self.message, classes="modal-message", markup=False)
            if self.extra_label:
                yield Tick(self.extra_label, id="extra")
            with Horizontal(classes="modal-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#extra" if self.extra_label else "#no" if self.danger else "#yes").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")

    def action_answer(self, ok: bool) -> None:
        extra = bool(self.extra_label) and self.query_one("#extra", Tick).value
        self.dismiss(Confirmed(ok, extra and ok))


class ChoiceModal(ModalScreen[object | None]):
    """Pick one of a list (enter) or nothing (escape); returns the chosen value."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice.cancel")]

    def __init__(self, title: str, choices: list[tuple[str, object]], *, highlight: int | None = None,
                 note: str = "") -> None:
        super().__init__()
        self.title_text, self.choices, self.highlight, self.note = title, choices, highlight, note

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-dialog"):
            yield Label(self.title_text, classes="modal-title", markup=False)
            if self.note:
                yield Static(self.note, classes="modal-message", markup=False)
            yield OptionList(*[Option(label, id=str(i)) for i, (label, _) in enumerate(self.choices)], id="choices")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        if self.highlight is not None and self.choices:
            options.highlighted = self.highlight % len(self.choices)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id)][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextModal(ModalScreen[None]):
    """Read a long text (a full log record, a traceback) and close it with escape."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="text.close"),
        Binding("q", "close", "Close", show=False, id="text.close_q"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-dialog modal-wide"):
            yield Label(self.title_text, classes="modal-title", markup=False)
            with VerticalScroll(classes="modal-body"):
                yield Static(self.body, markup=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
