"""ffui keys: every key binding of the UI, with the id a keymap uses to change it."""

from __future__ import annotations

import click

from ffui.cli import UserError, with_db


def _load_keymap_module():
    try:
        from screens import keymap
    except ModuleNotFoundError as exc:  # an install without the UI package
        raise UserError(f"the terminal UI is not installed here ({exc.name} is missing)") from None
    return keymap


@click.command("keys")
def keys() -> None:
    """List the UI's key bindings: id, key (after your ui.keymap), what it does, where."""
    from ffui.db import get_setting

    keymap = _load_keymap_module()
    bindings = keymap.all_bindings()
    mine, problems = keymap.parse_keymap(with_db(get_setting, keymap.SETTING), {b.id for b in bindings})
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
    keymap = _load_keymap_module()
    _, problems = keymap.parse_keymap(text, {b.id for b in keymap.all_bindings()})
    if problems:
        raise UserError(problems[0] + ("" if len(problems) == 1 else f" (and {len(problems) - 1} more)"))
