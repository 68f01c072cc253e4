"""Small keyboard-first forms and helpers shared by the Datasets, Train and Playground screens.

``FormModal`` asks for a few values (text, numbers, a choice, a check box, several datasets)
and returns them as a dict, or None on escape. Values are checked as they are submitted; a
bad one keeps the form open with one line saying why. ``PathSuggester`` completes file paths
as you type (directory listings are read in a thread).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Button, Input, Label, Select, SelectionList, Static
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

from screens.widgets.tick import Tick

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: Any, *, one_line: bool = False, limit: int | None = None) -> str:
    """Text safe to draw: no terminal control characters (a model or a file may hold some);
    with ``one_line`` newlines and tabs become visible marks."""
    s = "" if text is None else str(text)
    if one_line:
        s = s.replace("\r\n", "⏎").replace("\n", "⏎").replace("\t", " ")
    s = _CONTROL.sub("�", s)
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s


def notify_error(node, exc: BaseException) -> None:
    """One line for an error: the shell's helper when there is one."""
    handler = getattr(node.app, "notify_error", None)
    if handler is not None:
        handler(exc)
    else:
        node.app.notify(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, severity="error",
                        markup=False)


class TickList(SelectionList):
    """A SelectionList whose marks read without colour: X for selected, blank otherwise."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        if len(segments) > 1 and segments[1].text == ToggleButton.BUTTON_INNER:
            segments[1] = Segment("X" if option.value in self.selected else " ", segments[1].style)
            return Strip(segments, strip.cell_length)
        return strip


class PathSuggester(Suggester):
    """Complete the last component of a path from the directory's entries."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(os.sep + os.sep):
            return None
        expanded = os.path.expanduser(value)
        folder, prefix = os.path.split(expanded)
        folder = folder or "."
        def first_match() -> str | None:  # in a thread: a slow disk never stalls typing
            if prefix and os.path.isdir(expanded):
                return prefix + os.sep  # a folder named in full: into it, not to a longer name
            if prefix and os.path.exists(expanded):
                return None  # a file named in full: nothing to complete, tab moves on
            for name in sorted(os.listdir(folder)):
                if name.startswith(prefix) and name != prefix and (prefix.startswith(".") or not name.startswith(".")):
                    return name + (os.sep if os.path.isdir(os.path.join(folder, name)) else "")
            return None

        try:
            name = await asyncio.to_thread(first_match)
        except OSError:
            return None
        return value + name[len(prefix):] if name else None


class PathInput(Input):
    """An Input for paths: tab takes the completion shown (else moves on, as tab does); down and
    up always move on (a folder always has a completion to offer)."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, id="path.complete"),
                Binding("down", "app.focus_next", "Next field", show=False, id="path.next"),
                Binding("up", "app.focus_previous", "Previous field", show=False, id="path.previous")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("suggester", PathSuggester())
        super().__init__(*args, **kwargs)

    def action_complete(self) -> None:
        if self._suggestion and len(self._suggestion) > len(self.value):
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


@dataclass
class Field:
    """One input of a FormModal. kind: text | int | float | select | check | multi."""

    name: str
    label: str
    kind: str = "text"
    value: Any = ""
    options: list[tuple[str, Any]] = field(default_factory=list)
    placeholder: str = ""
    help: str = ""
    required: bool = False
    path: bool = False  # complete file paths


class FormModal(ModalScreen[dict | None]):
    """A few labelled inputs; ctrl+s (or enter in the last input) submits, escape cancels."""

    CSS_PATH = "datasets.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "OK", id="form.submit"),
    ]

    def __init__(self, title: str, fields: list[Field], *, submit: str = "OK", note: str = "",
                 check: Callable[[dict], str | None] | None = None) -> None:
        super().__init__()
        self.title_text, self.fields, self.submit_label, self.note, self.check = title, fields, submit, note, check

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-dialog form-dialog"):
            yield Label(self.title_text, classes="modal-title")
            if self.note:
                yield Static(Text(self.note), classes="form-note")
            with VerticalScroll(classes="form-body"):
                for f in self.fields:
                    wid = f"f-{f.name}"
                    if f.kind == "check":
                        yield Tick(f.label, value=bool(f.value), id=wid, compact=True, classes="form-check")
                    else:
                        yield Label(f.label, classes="form-label")
                        if f.kind == "select":
                            yield Select(f.options, value=f.value, allow_blank=False, id=wid, compact=True)
                        elif f.kind == "multi":
                            yield TickList(*[(label, v, v in (f.value or [])) for label, v in f.options], id=wid)
                        else:
                            kind = PathInput if f.path else Input
                            yield kind(str(f.value if f.value is not None else ""), placeholder=f.placeholder,
                                       id=wid, compact=True)
                    if f.help:
                        yield Static(Text(f.help), classes="form-help")
            yield Static("", id="form-error", classes="form-error")
            with Horizontal(classes="modal-buttons"):
                yield Button(f"{self.submit_label} (ctrl+s)", id="ok", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        first = self.query("Input, Select, SelectionList, Checkbox").first()
        first.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        if inputs and event.input is inputs[-1]:
            self.action_submit()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.action_cancel()

    def values(self) -> dict:
        """The values, converted; raises ValueError with one line for a bad one."""
        out: dict[str, Any] = {}
        for f in self.fields:
            w = self.query_one(f"#f-{f.name}")
            if f.kind == "check":
                out[f.name] = bool(w.value)
            elif f.kind == "select":
                out[f.name] = w.value
            elif f.kind == "multi":
                out[f.name] = list(w.selected)
            else:
                raw = w.value.strip()
                if not raw:
                    if f.required:
                        raise ValueError(f"{f.label.rstrip(':')} is required")
                    out[f.name] = None
                    continue
                try:
                    out[f.name] = int(raw) if f.kind == "int" else float(raw) if f.kind == "float" else raw
                except ValueError:
                    kind = "a whole number" if f.kind == "int" else "a number"
                    raise ValueError(f"{f.label.rstrip(':')} must be {kind}, got {raw!r}") from None
        return out

    def action_submit(self) -> None:
        err = self.query_one("#form-error", Static)
        try:
            vals = self.values()
            problem = self.check(vals) if self.check else None
        except ValueError as e:
            problem = str(e)
        if problem:
            err.update(Text(problem))
            return
        self.dismiss(vals)

    def action_cancel(self) -> None:
        self.dismiss(None)
