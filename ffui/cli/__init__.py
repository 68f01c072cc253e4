"""The ``ffui`` command line.

``ffui`` alone opens the terminal UI (screens.app, imported only then). Each command
group lives in its own module in this package and is registered here by name; groups
whose module is not present in this build are simply absent. Errors a user can cause are
printed as one line on stderr with a non-zero exit status; anything unexpected is one
line too, with the traceback saved to a crash file in the home instead of the screen (the
words come from ``ffui.errors.user_message``, which the app uses too).
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import click

from ffui.errors import user_message
from ffui.paths import Paths, keep_files_private, resolve_paths

T = TypeVar("T")

# (module, attribute): the click commands/groups that make up `ffui`.
COMMAND_MODULES = (
    ("db", "db"),
    ("settings", "settings"),
    ("data", "data"),
    ("prompts", "prompts"),
    ("models", "models"),
    ("models", "model"),
    ("configs", "configs"),
    ("train", "train"),
    ("runs", "runs"),
    ("export", "export"),
    ("export", "publish"),
    ("scrape", "scrape"),
    ("scrape", "synth"),
    ("eval", "eval"),
    ("demo", "demo"),
    ("keys", "keys"),
    ("pods", "pods"),
    ("doctor", "doctor"),
)


WARNED_KEY = "ffui.warned"  # ctx.meta: the database problem the start-up warning already named


class UserError(click.ClickException):
    """An error the user can fix; shown as one line."""

    def show(self, file=None) -> None:
        click.echo(f"ffui: {self.format_message()}", err=True)


def confirm_destructive(what: str, yes: bool, flag: str = "--yes") -> None:
    """Ask before something that cannot be undone: a prompt at a terminal; elsewhere (a
    script, a pipe) the caller must have said ``--yes``, so nothing goes by accident."""
    import sys

    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError(f"this would {what}, which cannot be undone; add {flag} to do it without a prompt")
    if not click.confirm(f"{what[0].upper()}{what[1:]}?", default=False, err=True):
        raise UserError("nothing was changed")


class FfuiGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("ffui: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `ffui keys | head`: the reader left; that is not an error
            import os
            import sys

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second complaint when Python flushes at exit
            ctx.exit(0)
        except Exception as exc:  # a user's error in its own words; a bug as one line, details in the crash log
            paths: Paths | None = ctx.obj if isinstance(ctx.obj, Paths) else None
            message = user_message(exc, paths.home if paths else None, paths.db if paths else None)
            if message == ctx.meta.get(WARNED_KEY):
                ctx.exit(1)  # the start-up warning said it already: one line is enough
            raise UserError(message) from None


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)


def get_paths(ctx: click.Context | None = None) -> Paths:
    ctx = ctx or click.get_current_context()
    return ctx.find_root().obj


def ffui_command(paths: Paths | None = None) -> str:
    """How to run ffui on this home from the current directory, for hints the user copies:
    ``ffui`` if that is on the PATH, else the path this one was started as (``.venv/bin/ffui``),
    with ``--home``/``--db`` unless they are the defaults a bare ``ffui`` would use."""
    import os
    import shlex
    import shutil
    import sys

    paths = paths or get_paths()
    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    on_path = shutil.which("ffui")
    if argv0.endswith("__main__.py") or not os.path.basename(argv0).startswith("ffui"):
        exe = f"{shlex.quote(sys.executable)} -m ffui"
    elif on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        exe = "ffui"
    else:
        exe = shlex.quote(_from_here(Path(argv0)))
    default = resolve_paths(None, None)
    words = [exe]
    if paths.home.resolve() != default.home.resolve():
        words.append(f"--home {shlex.quote(_from_here(paths.home))}")
    if paths.db.resolve() != resolve_paths(paths.home, None).db.resolve():
        words.append(f"--db {shlex.quote(_from_here(paths.db))}")
    return " ".join(words)


def _from_here(path: Path) -> str:
    """``path`` relative to the current directory when it is below it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def with_db(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Open the database of the current command's home, run ``fn(db, ...)``, close it."""
    from ffui.db import connect

    paths = get_paths()

    async def main():
        async with connect(paths.db, paths.home) as db:
            return await fn(db, *args, **kwargs)

    return run(main())


@click.group(cls=FfuiGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help="ffui home (db + training_outputs/); env FFUI_HOME; default: current directory")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="database file; env FFUI_DB; default: HOME/ffui.db")
@click.version_option(package_name="ffui")
@click.pass_context
def main(ctx: click.Context, home: Path | None, db_path: Path | None) -> None:
    """ffui: a fine-tuning studio for the terminal. Run without a command to open the UI."""
    keep_files_private()
    ctx.obj = resolve_paths(home, db_path)
    _note_empty_database(ctx.obj.db)
    if ctx.invoked_subcommand is None:
        _open_ui(ctx)
    elif ctx.invoked_subcommand not in ("db", "model") and ctx.obj.db.exists():
        _reconcile(ctx)


def _note_empty_database(db: Path) -> None:
    """An empty file is made a new database (as SQLite would): fine, but not silently."""
    try:
        empty = db.is_file() and db.stat().st_size == 0
    except OSError:
        return
    if empty:
        click.echo(f"ffui: {db} is an empty file; making it a new ffui database", err=True)


def _reconcile(ctx: click.Context) -> None:
    """Every start gives orphaned runs a supervisor again and starts queued runs.

    A database problem is left to the command itself to report.
    """
    paths: Paths = ctx.obj
    from ffui.db import DatabaseError, connect
    from ffui.jobs.manager import reconcile

    async def go():
        async with connect(paths.db, paths.home) as db:
            return await reconcile(db)

    try:
        orphans = run(go()).get("orphan_pods") or []
        if orphans and ctx.invoked_subcommand != "pods":  # `ffui pods` shows them itself
            cost = sum(float(p.get("costPerHr") or 0) for p in orphans)
            click.echo(f"ffui: warning: {len(orphans)} RunPod pod{'s' if len(orphans) > 1 else ''} of ffui "
                       f"belong{'s' if len(orphans) == 1 else ''} to no running run (${cost:.2f}/hr); "
                       "see ffui pods list, end them with: ffui pods terminate --orphans", err=True)
    except DatabaseError:
        pass  # the command opens the database itself and says what is wrong
    except Exception as exc:  # the command still runs; say why runs were not checked
        from ffui.errors import describe_sqlite_error

        meaning = describe_sqlite_error(exc, paths.db)
        ctx.meta[WARNED_KEY] = meaning  # a command failing for the same reason then adds no second line
        click.echo(f"ffui: warning: running jobs were not checked: {meaning or f'{exc.__class__.__name__}: {exc}'}",
                   err=True)


def _open_ui(ctx: click.Context) -> None:
    try:
        app_module = importlib.import_module("screens.app")
    except ModuleNotFoundError as exc:
        if exc.name not in ("screens", "screens.app"):
            raise
        click.echo(ctx.get_help())
        return
    app_module.run_app(ctx.obj)


def _register() -> None:
    for module, attr in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"ffui.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ffui.cli.{module}":
                continue
            raise
        command = getattr(mod, attr, None)
        if command is not None:
            main.add_command(command, attr)


_register()


if __name__ == "__main__":  # pragma: no cover
    main()
