"""ffui keys: every key binding of the UI, with the id a keymap uses to change it.

The bindings belong to the screens (Textual), which ffui never imports: they are read from
``python -m screens.keymap`` in a child process, as JSON. The keymap setting itself is
parsed here (``ffui.keymap``), as the app parses it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import click

from ffui.cli import UserError, with_db
from ffui.keymap import SETTING, KeyInfo, parse_keymap

BINDINGS_MODULE = "screens.keymap"


def ui_bindings() -> list[KeyInfo]:
    """The UI's key bindings, listed by the UI's own package in a child process."""
    if importlib.util.find_spec("screens") is None:  # an install without the UI package
        raise UserError("the terminal UI is not installed here (screens is missing)")
    done = subprocess.run([sys.executable, "-m", BINDINGS_MODULE], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"listing the UI's key bindings failed ({BINDINGS_MODULE}): {last}")
    return [KeyInfo(**b) for b in json.loads(done.stdout)]


@click.command("keys")
def keys() -> None:
    """List the UI's key bindings: id, key (after your ui.keymap), what it does, where."""
    from ffui.db import get_setting

    bindings = ui_bindings()
    mine, problems = parse_keymap(with_db(get_setting, SETTING), {b.id for b in bindings})
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    width = max(len(b.id) for b in bindings)
    for b in bindings:
        key = mine.get(b.id, b.key)
        mark = "*" if b.id in mine else " "
        click.echo(f"{b.id:<{width}}  {key:<14}{mark} {b.description}  ({b.where})")
    click.echo("\n* changed by your keymap. Change keys with:  "
               "ffui settings set ui.keymap '{\"app.mode.runs\": \"f2\"}'")


def check_keymap(text: str) -> None:
    """Refuse a keymap setting that the app could not use, before it is stored."""
    _, problems = parse_keymap(text, {b.id for b in ui_bindings()})
    if problems:
        raise UserError(problems[0] + ("" if len(problems) == 1 else f" (and {len(problems) - 1} more)"))
