"""ffui configs list|show|save|rm|keys: named training configurations."""

from __future__ import annotations

import json

import click

from ffui.cli import UserError, with_db


@click.group()
def configs() -> None:
    """Saved training configurations."""


@configs.command("list")
def configs_list() -> None:
    from ffui.db import config_settings, list_training_configs

    rows = with_db(list_training_configs)
    if not rows:
        click.echo("no saved configs (ffui configs save NAME --set key=value ...)")
    for r in rows:
        hp = config_settings(r["config"])
        click.echo(f"{r['name']:<24} {len(hp)} settings  updated {r['updated_at']}")


@configs.command("show")
@click.argument("name")
def configs_show(name: str) -> None:
    from ffui.db import get_training_config

    row = with_db(get_training_config, name)
    if row is None:
        raise UserError(f"no saved config named {name!r} (see: ffui configs list)")
    click.echo(json.dumps(row["config"], indent=2, sort_keys=True))


@configs.command("save")
@click.argument("name")
@click.option("--from", "source", help="start from a saved config or a YAML/JSON file")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
def configs_save(name: str, source: str | None, sets: tuple[str, ...]) -> None:
    """Save (or replace) config NAME; settings are checked before saving.

    Besides training settings (ffui configs keys), a config can say where it trains, under the
    names of ffui train's flags: on=runpod, gpu, gpu_fallback, gpu_count, cloud, max_cost, image."""
    from ffui.db import save_training_config
    from ffui.jobs.manager import resolve_config
    from ffui.runpod.options import pod_choices, resolve, split_placement, unused_pod_keys
    from ffui.train.config import TrainConfig

    async def go(db):
        cfg = await resolve_config(db, source, sets)
        settings, placement = split_placement(cfg)
        TrainConfig.from_dict({"base_model": settings.get("base_model") or "placeholder/model", **settings})
        if unused_pod_keys(placement):
            raise UserError(f"{unused_pod_keys(placement)}: add --set on=runpod (or leave them out)")
        if placement.get("on") == "runpod":
            await resolve(db, **pod_choices(placement))  # GPU and image names checked now, not at the run
        await save_training_config(db, name, {"hp": {**settings, **placement}})
        return cfg

    cfg = with_db(go)
    click.echo(f"config {name!r} saved ({len(cfg)} settings)")


@configs.command("rm")
@click.argument("name")
def configs_rm(name: str) -> None:
    from ffui.db import delete_training_config

    if not with_db(delete_training_config, name):
        raise UserError(f"no saved config named {name!r}")
    click.echo(f"config {name!r} removed")


@configs.command("keys")
def configs_keys() -> None:
    """Every setting a config can carry, with its default."""
    from ffui.runpod.options import PLACEMENT_HELP
    from ffui.train.config import field_help

    for key, (default, text) in field_help().items():
        click.echo(f"{key:<30} {json.dumps(default):<14} {text}")
    for key, text in PLACEMENT_HELP.items():  # where it trains: the run's, never the trainer's
        click.echo(f"{key:<30} {json.dumps('local' if key == 'on' else None):<14} {text}")
