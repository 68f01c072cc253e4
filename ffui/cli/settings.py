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

    value = with_db(get_setting, key)
    if value is None:
        raise UserError(f"setting {key!r} is not set (see: ffui settings list)")
    click.echo(value if reveal or not is_secret_key(key) else mask_secret(value))


@settings.command("set")
@click.argument("key")
@click.argument("value", required=False)
def settings_set(key: str, value: str | None) -> None:
    """Set KEY to VALUE. For a secret KEY, leave VALUE out: it is prompted for or read from stdin."""
    from ffui.db import is_secret_key, set_setting

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
    """List all settings, secrets masked."""
    from ffui.db import list_settings

    rows = with_db(list_settings)
    if not rows:
        click.echo("no settings yet (ffui settings set KEY VALUE)")
    for r in rows:
        click.echo(f"{r['key']:<32} {r['value']}")
