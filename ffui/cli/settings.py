"""ffui settings get|set|list|unset

Secret values (tokens, API keys) are never taken from the command line, where other
users could read them in the process list: ``ffui settings set huggingface.token``
asks for the value without echoing it, or reads it from standard input.
"""

from __future__ import annotations

import sys

import click

from ffui.cli import UserError, with_db


@click.group()
def settings() -> None:
    """Read and change settings (secrets are masked)."""


@settings.command("get")
@click.argument("key")
@click.option("--reveal", is_flag=True, help="print a secret in full")
def settings_get(key: str, reveal: bool) -> None:
    """Print the value of KEY."""
    from ffui.db import get_setting, is_secret_key, mask_secret

    from ffui.setting_keys import unknown_key_problem

    value = with_db(get_setting, key)
    if value is None:
        unknown = unknown_key_problem(key)
        raise UserError(unknown.split(";")[0] if unknown else f"setting {key!r} is not set (see: ffui settings list)")
    click.echo(value if reveal or not is_secret_key(key) else mask_secret(value))


@settings.command("set")
@click.argument("key")
@click.argument("value", required=False)
def settings_set(key: str, value: str | None) -> None:
    """Set KEY to VALUE. For a secret KEY, leave VALUE out: it is prompted for or read from stdin."""
    from ffui.db import is_secret_key, set_setting
    from ffui.setting_keys import unknown_key_problem, value_problem

    problem = unknown_key_problem(key)
    if problem:
        raise UserError(problem)
    secret = is_secret_key(key)
    if secret and value not in (None, "-"):
        raise UserError(
            f"{key} is a secret: do not put it on the command line (other users can see it in the process list); "
            f"run 'ffui settings set {key}' and type it, or pipe it in"
        )
    if value in (None, "-"):
        if sys.stdin.isatty():
            value = click.prompt(f"{key}", hide_input=secret)
        else:
            value = sys.stdin.readline().rstrip("\r\n")
    if value == "" and secret:
        raise UserError(f"no value given for {key}; nothing was changed")
    problem = value_problem(key, value)
    if problem:
        raise UserError(problem)
    if key == "ui.keymap":
        from ffui.cli.keys import check_keymap

        check_keymap(value)
    with_db(set_setting, key, value)
    click.echo(f"{key} set" + (" (stored as a secret)" if secret else ""))


@settings.command("unset")
@click.argument("key")
def settings_unset(key: str) -> None:
    """Remove KEY."""
    from ffui.db import delete_setting

    if not with_db(delete_setting, key):
        raise UserError(f"setting {key!r} is not set")
    click.echo(f"{key} removed")


@settings.command("list")
def settings_list() -> None:
    """Every setting ffui uses, with its value (secrets masked) and meaning."""
    from ffui.db import list_settings
    from ffui.setting_keys import KNOWN

    stored = {r["key"]: r["value"] for r in with_db(list_settings)}
    width = max(len(k) for k in [*KNOWN, *stored])
    for key, spec in KNOWN.items():
        value = stored.get(key)
        shown = "(not set)" if value is None else _one_line(value)
        click.echo(f"{key:<{width}}  {shown:<12} {spec.meaning}")
    for key in sorted(set(stored) - set(KNOWN)):  # from an older ffui, or an imported database
        click.echo(f"{key:<{width}}  {_one_line(stored[key]):<12} (not used by ffui; ffui settings unset {key})")


def _one_line(value: str, width: int = 24) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"
