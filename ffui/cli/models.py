"""ffui models add|list|rm (the registry) and ffui model tiny (a small local model for tests and demos)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from ffui.cli import UserError, with_db


@click.group()
def models() -> None:
    """Base models you train on (local directories or hub ids)."""


@models.command("add")
@click.argument("id_or_path")
@click.option("--name", help="display name (default: the directory or hub name)")
@click.option("--description")
def models_add(id_or_path: str, name: str | None, description: str | None) -> None:
    """Register a model directory or a hub id (downloaded by the trainer when a run starts)."""
    from ffui.db import create_model, find_model

    path = Path(id_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise UserError(f"{path} has no config.json, so it is not a Hugging Face model directory")
        fields = {"type": "local", "location": str(path.resolve()), "name": name or path.resolve().name}
    elif id_or_path.startswith(("/", ".", "~")):
        raise UserError(f"{id_or_path} does not exist; give a model directory or a hub id like org/name")
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", id_or_path):
        fields = {"type": "huggingface", "huggingface_model_name": id_or_path, "name": name or id_or_path}
    else:
        raise UserError(f"{id_or_path!r} is neither an existing directory nor a hub id like org/name")
    async def add(db):
        where = fields.get("location") or fields.get("huggingface_model_name")
        same = await find_model(db, where)
        if same:  # one row per model: runs and adapters point at it
            raise UserError(f"{where} is already registered as {same['name']!r} ({same['id'][:8]}); "
                            f"see: ffui models list")
        return await create_model(db, description=description, framework="transformers", **fields)

    model_id = with_db(add)
    click.echo(f"model {fields['name']!r} added ({model_id})")


@models.command("list")
def models_list() -> None:
    """Registered models."""
    from ffui.db import list_models

    rows = with_db(list_models)
    if not rows:
        click.echo("no models yet (ffui models add PATH_OR_HUB_ID, or ffui model tiny DIR)")
    for r in rows:
        where = r.get("location") or r.get("huggingface_model_name") or ""
        click.echo(f"{r['id'][:8]}  {r.get('type') or '':<11}  {r.get('name') or '':<28}  {where}")


@models.command("rm")
@click.argument("model")
def models_rm(model: str) -> None:
    """Remove a model from the registry (files are not touched)."""
    from ffui.db import delete_model, find_model

    async def go(db):
        row = await find_model(db, model)
        if row is None:
            raise UserError(f"no model {model!r} (see: ffui models list)")
        await delete_model(db, row["id"])
        return row["id"]

    click.echo(f"model {with_db(go)} removed")


@click.group()
def model() -> None:
    """Model utilities."""


@model.command("tiny")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--arch", type=click.Choice(["llama", "qwen2"]), default="llama", show_default=True)
@click.option("--text", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="text to train the tokenizer on")
@click.option("--register/--no-register", default=True, show_default=True, help="add it to the models table")
def model_tiny(directory: Path, arch: str, text: Path | None, register: bool) -> None:
    """Build a tiny random causal LM + BPE tokenizer in DIRECTORY (Hugging Face format)."""
    try:
        from ffui.train.tiny import build_tiny_model
    except ImportError as exc:
        raise UserError(f"building a model needs the training extras ({exc.name} is missing): pip install 'ffui[train]'") from None
    out = build_tiny_model(directory, arch=arch, text=text.read_text(encoding="utf-8") if text else None)
    click.echo(f"tiny {arch} model written to {out}")
    if register:
        from ffui.db import create_model

        with_db(create_model, type="local", framework="transformers", name=f"tiny-{arch}", location=str(Path(out).resolve()))
        click.echo(f"registered as model 'tiny-{arch}'")
