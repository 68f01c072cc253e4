"""ffui prompts add|list|show|render|rm

A prompt template fills named placeholders ({instruction}, {input}, {output}, or any original
column of its dataset) to make what the model is given (input template) and what it learns to
write (completion template). Bound to a dataset; the trainer renders every row with it.
"""

from __future__ import annotations

import json

import click

from ffui.cli import with_db


@click.group()
def prompts() -> None:
    """Prompt templates bound to datasets."""


@prompts.command("add")
@click.argument("name")
@click.option("--dataset", required=True, help="the dataset the template is for")
@click.option("--input-template", "-i", help="what the model is given, e.g. "
              "'### Instruction:\\n{instruction}\\n\\n### Response:\\n' (default {input})")
@click.option("--completion-template", "-c", help="what the model learns to write "
              "(default {output})")
@click.option("--template", "prompt_template", help="the full prompt (default: input + "
              "completion templates)")
@click.option("--description")
@click.option("--type", "ptype", default="instruction", show_default=True)
def prompts_add(name, dataset, input_template, completion_template, prompt_template, description,
                ptype) -> None:
    """Add prompt NAME for a dataset (placeholders are checked against its fields)."""
    from ffui.data import store

    res = with_db(store.add_prompt, name, dataset, input_template=_unescape(input_template),
                  completion_template=_unescape(completion_template),
                  prompt_template=_unescape(prompt_template), description=description,
                  type=ptype)
    click.echo(f"added prompt {res['name']} for {res['dataset']} "
               f"(fields: {', '.join(res['fields'])})")


def _unescape(s: str | None) -> str | None:
    """Let '\\n' and '\\t' typed on a command line mean newline and tab."""
    if s is None:
        return None
    return s.replace("\\n", "\n").replace("\\t", "\t")


@prompts.command("list")
@click.option("--dataset", help="only prompts for this dataset")
@click.option("--json", "as_json", is_flag=True)
def prompts_list(dataset, as_json) -> None:
    """List prompt templates."""
    from ffui.data import store

    rows = with_db(store.list_prompts, dataset)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no prompts yet (ffui prompts add NAME --dataset DATASET -i TEMPLATE)")
        return
    w = max(len(r["name"] or "") for r in rows)
    for r in rows:
        it = (r["input_template"] or "").replace("\n", "⏎")
        click.echo(f"{r['name']:<{w}}  {r['dataset'] or '(no dataset)':<20} {it[:60]}")


@prompts.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def prompts_show(name, as_json) -> None:
    """Show prompt NAME."""
    from ffui.data import store

    async def go(db):
        p = await store.get_prompt_by_name(db, name)
        s = await store.prompt_dataset(db, p)
        p["dataset"] = store.display_name(s) if s else None
        return p

    p = with_db(go)
    if as_json:
        click.echo(json.dumps(p, ensure_ascii=False, indent=2))
        return
    click.echo(f"prompt {p['name']} ({p['type']}), dataset {p['dataset'] or '(none)'}, id {p['id']}")
    if p.get("description"):
        click.echo(p["description"])
    click.echo("--- input template ---")
    click.echo(p["input_template"] or "")
    click.echo("--- completion template ---")
    click.echo(p["completion_template"] or "")


@prompts.command("render")
@click.argument("name")
@click.option("--dataset", help="render against this dataset instead of the bound one")
@click.option("--row", "offset", default=0, show_default=True, help="first row (0-based)")
@click.option("-n", "n", default=1, show_default=True, help="rows to render")
@click.option("--json", "as_json", is_flag=True)
def prompts_render(name, dataset, offset, n, as_json) -> None:
    """Show prompt NAME filled with sample rows of its dataset."""
    from ffui.data import store

    rows = with_db(store.render_prompt_samples, name, dataset=dataset, n=n, offset=offset)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("the dataset has no rows there")
    for r in rows:
        click.echo(f"=== row {r['id']} — input ===")
        click.echo(r["input"])
        click.echo("=== completion ===")
        click.echo(r["completion"])


@prompts.command("rm")
@click.argument("name")
def prompts_rm(name) -> None:
    """Remove prompt NAME."""
    from ffui.data import store
    from ffui.db import delete_prompt

    async def go(db):
        p = await store.get_prompt_by_name(db, name)
        await delete_prompt(db, p["id"])
        return p

    p = with_db(go)
    click.echo(f"removed prompt {p['name']}")
