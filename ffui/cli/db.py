"""ffui db init|info|backup|check|export|import"""

from __future__ import annotations

from pathlib import Path

import click

from ffui.cli import UserError, get_paths, with_db


@click.group()
def db() -> None:
    """Create, inspect, export and import the ffui database."""


@db.command("init")
def db_init() -> None:
    """Create the database (or upgrade it in place); safe to run again."""
    from ffui.db import init_db

    paths = get_paths()
    from ffui.cli import run

    version = run(init_db(paths.db, paths.home))
    click.echo(f"database ready: {paths.db} (schema v{version})")


async def _info(dbh) -> dict:
    from ffui.db import last_check, schema_version, table_counts

    return {"version": await schema_version(dbh), "counts": await table_counts(dbh), "last_check": await last_check(dbh)}


@db.command("info")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def db_info(as_json: bool) -> None:
    """Show the home, the database path, the schema version and rows per table."""
    paths = get_paths()
    info = with_db(_info)
    if as_json:
        import json

        click.echo(json.dumps({"home": str(paths.home), "db": str(paths.db), **info}, indent=2))
        return
    click.echo(f"home:             {paths.home}")
    click.echo(f"database:         {paths.db}")
    click.echo(f"training outputs: {paths.training_outputs}")
    click.echo(f"schema version:   {info['version']}")
    last = info["last_check"]
    if last is None:
        click.echo("last check:       never (run: ffui db check)")
    else:
        click.echo(f"last check:       {last.get('checked_at')} UTC, " + ("no damage" if last.get("ok") else "DAMAGE FOUND"))
        if not last.get("ok"):
            click.echo(f"ffui: warning: the last check ({last.get('checked_at')} UTC) found damage in {paths.db}: "
                       f"{_first_problem(last)}; {DAMAGE_ADVICE}", err=True)
    click.echo("rows per table:")
    for table, n in info["counts"].items():
        click.echo(f"  {table:<20} {n:>10,}")


DAMAGE_ADVICE = ("restore your latest backup (ffui db backup makes them), or save what is readable with "
                 "ffui db export FILE.json and import it into a new database")


def _first_problem(check: dict) -> str:
    problems = (check.get("problems") or []) + (check.get("foreign_key_problems") or [])
    return problems[0] if problems else "unknown"


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(path: Path) -> None:
    """Copy the database to PATH consistently, while ffui keeps running (a plain cp is not a backup)."""
    import sys

    from ffui.db import PAGES_PER_STEP, backup_database

    paths = get_paths()
    if not paths.db.exists():
        raise UserError(f"there is no database at {paths.db} to back up (see: ffui db info)")
    shown = [-1]

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if total > PAGES_PER_STEP and tenth > shown[0]:  # only files that take several steps say how far
            shown[0] = tenth
            click.echo(f"backing up: {tenth * 10}% ({done:,} of {total:,} pages)", err=True)
            sys.stderr.flush()

    size = backup_database(paths.db, path, progress)
    click.echo(f"backed up {paths.db} to {path} ({size / 1e6:,.1f} MB, checked, mode 0600)")


@db.command("check")
def db_check() -> None:
    """Check the database for damage (integrity_check and foreign_key_check)."""
    from ffui.db import check_database

    paths = get_paths()
    if not paths.db.exists():
        raise UserError(f"there is no database at {paths.db} to check (see: ffui db info)")
    result = check_database(paths.db)
    if result.ok:
        click.echo(f"{paths.db}: no damage found (integrity_check and foreign_key_check passed)")
    else:
        click.echo(f"{paths.db}: DAMAGE FOUND")
        for problem in result.problems:
            click.echo(f"  integrity: {problem[:300]}")
        for problem in result.foreign_key_problems:
            click.echo(f"  foreign key: {problem}")
        click.echo(f"what to do: {DAMAGE_ADVICE}")
    if not result.stored:
        click.echo("ffui: warning: the result could not be stored in the database (it is too damaged to write)",
                   err=True)
    if not result.ok:
        click.get_current_context().exit(1)


@db.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--include-secrets", is_flag=True, help="also export secret settings (tokens, API keys)")
def db_export(path: Path, include_secrets: bool) -> None:
    """Write the whole database to PATH as JSON (seed-000 format)."""
    from ffui.db import export_database

    counts = with_db(export_database, path, include_secrets=include_secrets)
    total = sum(counts.values())
    click.echo(f"exported {total:,} rows from {len(counts)} tables to {path}")
    if not include_secrets:
        click.echo("secret settings were left out (use --include-secrets to keep them)")


@db.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def db_import(path: Path) -> None:
    """Import an export made by ffui (or by the Fine Tuning Studio) into this database."""
    from ffui.db import import_database

    report = with_db(import_database, path)
    for line in report.lines():
        click.echo(line)
