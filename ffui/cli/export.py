"""ffui export RUN / ffui publish RUN: a trained run leaves ffui, as a detached job (docs/export.md)."""

from __future__ import annotations

import click

from ffui.cli import ffui_command, get_paths, with_db


def _started(job: dict, what: str, wait: bool) -> None:
    """Say what was queued; with ``wait``, follow it to its end and exit with its outcome."""
    state = "started" if job["status"] == "running" else f"queued ({job['status']}: waiting for a free slot)"
    click.echo(f"{what} job {job['id']} {job['name']!r} {state}")
    ffui = ffui_command(get_paths())
    if not wait:
        click.echo(f"  follow it: {ffui} runs logs {job['id']} --follow")
        click.echo(f"  progress:  {ffui} runs show {job['id']}")
        return
    from ffui.cli.runs import wait_for_run

    raise SystemExit(wait_for_run(job["id"]))  # its summary says what the job made


@click.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--merged", is_flag=True, help="merge the adapter into its base (16-bit) and save the whole model")
@click.option("--dtype", type=click.Choice(["bf16", "fp16"]), default="bf16", show_default=True,
              help="the merged model's precision")
@click.option("--out", type=click.Path(file_okay=False), help="folder to write (must not exist); default: in the job's run folder")
@click.option("--gguf", type=click.Choice(["q8_0", "f16", "bf16"]), help="also convert to GGUF with llama.cpp (needs --merged)")
@click.option("--wait", "-w", is_flag=True, help="show progress until the export ends; exit status tells the outcome")
def export(run_id, merged, dtype, out, gguf, wait) -> None:
    """Export run RUN's adapter (with its tokenizer), or with --merged the model merged with it."""
    from ffui.jobs.exports import start_export

    job = with_db(start_export, run_id, merged=merged, dtype=dtype, out=out, gguf=gguf)
    _started(job, "export", wait)


@click.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--to", "repo_id", required=True, metavar="ORG/NAME", help="the model repo to create on the hub")
@click.option("--merged", is_flag=True, help="publish the run's newest merged export (ffui export RUN --merged)")
@click.option("--private", is_flag=True, help="create the repo private")
@click.option("--update", is_flag=True, help="push a new version to a repo of yours that exists already")
@click.option("--wait", "-w", is_flag=True, help="show progress until the upload ends; exit status tells the outcome")
def publish(run_id, repo_id, merged, private, update, wait) -> None:
    """Publish run RUN's adapter (or with --merged its merged model) with a README card to the Hugging Face Hub."""
    from ffui.jobs.publishing import start_publish

    job = with_db(start_publish, run_id, repo_id, merged=merged, private=private, update=update)
    _started(job, "publish", wait)
