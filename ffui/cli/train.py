"""ffui train: start a fine-tuning run as a detached job."""

from __future__ import annotations

import click

from ffui.cli import ffui_command, get_paths, run


@click.command()
@click.option("--dataset", "-d", required=True, help="dataset name or id (ffui data list)")
@click.option("--model", "-m", required=True, help="registered model, model directory, or hub id (org/name)")
@click.option("--config", "-c", help="saved config name (ffui configs list) or a YAML/JSON file")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override one setting; repeatable")
@click.option("--prompt", help="prompt template name (ffui prompts list)")
@click.option("--name", "-n", help="run name (default: MODEL-DATASET)")
@click.option("--wait", "-w", is_flag=True, help="show progress until the run ends; exit status tells the outcome")
def train(dataset, model, config, sets, prompt, name, wait) -> None:
    """Fine-tune MODEL on DATASET as a job that outlives this command (and your SSH session)."""
    from ffui.db import connect
    from ffui.jobs.manager import start_run

    paths = get_paths()

    async def go():
        async with connect(paths.db, paths.home) as db:
            return await start_run(db, dataset=dataset, model=model, config=config, sets=sets, name=name, prompt=prompt)

    r = run(go())
    state = "started" if r["status"] == "running" else f"queued ({r['status']}: waiting for a free slot)"
    click.echo(f"run {r['id']} {r['name']!r} {state}")
    click.echo(f"  artifacts: {r['storage_path']}")
    if not wait:
        ffui = ffui_command(paths)
        click.echo(f"  follow it: {ffui} runs logs {r['id']} --follow")
        click.echo(f"  progress:  {ffui} runs show {r['id']}")
        return
    from ffui.cli.runs import wait_for_run

    raise SystemExit(wait_for_run(r["id"]))
