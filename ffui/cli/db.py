"""ffui db init|info|export|import"""

from __future__ import annotations

from pathlib import Path

import click

from ffui.cli import get_paths, with_db


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
    tables = [r["name"] for r in await dbh.fetchall(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    counts = {t: await dbh.scalar(f'SELECT COUNT(*) FROM "{t}"') for t in tables}
    return {"version": await dbh.scalar("PRAGMA user_version"), "counts": counts}


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
    click.echo("rows per table:")
    for table, n in info["counts"].items():
        click.echo(f"  {table:<20} {n:>10,}")


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
