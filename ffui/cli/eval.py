"""ffui eval --adapter RUN|ADAPTER ... --dataset NAME | ffui eval show ID | ffui eval list"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ffui.cli import UserError, with_db


@click.group(invoke_without_command=True)
@click.option("--adapter", "adapters", multiple=True, metavar="RUN|ADAPTER",
              help="a completed run (id or name) or a registered adapter; repeat to compare several")
@click.option("--base", is_flag=True, help="also evaluate the base model the adapters were trained on")
@click.option("--dataset", help="the dataset to evaluate on (name or id)")
@click.option("--split", help="its part of that name (train|validation|test), made by ffui data split")
@click.option("--limit", type=int, help="evaluate only the first N rows")
@click.option("--metrics", default="loss,perplexity,exact_match,rouge_l", show_default=True,
              help="comma-separated: loss,perplexity,exact_match,rouge_l,judge")
@click.option("--max-new-tokens", type=int, default=128, show_default=True, help="the longest answer, for every model")
@click.option("--batch-size", type=int, default=8, show_default=True, help="rows generated at once")
@click.option("--wait", "-w", is_flag=True, help="follow it until it ends, then print the compare table")
@click.pass_context
def eval_group(ctx, adapters, base, dataset, split, limit, metrics, max_new_tokens, batch_size, wait) -> None:
    """Evaluate adapters (and their base) on a dataset, as a detached job.

    Every model answers the same prompts with the run's own chat template and one set of
    generation settings (greedy); loss and perplexity are over the reply tokens.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not adapters and not dataset:
        click.echo(ctx.get_help())
        return
    if not dataset:
        raise UserError("--dataset NAME is needed: the dataset to evaluate on (see: ffui data list)")
    from ffui.jobs.evaluations import start_evaluation

    job = with_db(start_evaluation, adapters=list(adapters), base=base, dataset=dataset, split=split, limit=limit,
                  metrics=metrics, max_new_tokens=max_new_tokens, batch_size=batch_size)
    click.echo(f"evaluation {job['id']} {job['name']!r}: {job['status']} (ffui eval show {job['id']})")
    if wait:
        from ffui.cli.runs import wait_for_run

        code = wait_for_run(job["id"])
        if code != 130:
            _show(str(job["id"]))
        raise SystemExit(code)


async def _evaluation(db, ref: str) -> dict:
    from ffui.db import get_evaluation

    found = await get_evaluation(db, ref)
    if found is None:
        raise UserError(f"no evaluation {ref!r} (see: ffui eval list)")
    return found


def _show(ref: str) -> None:
    from ffui.eval_results import text_report

    for line in text_report(with_db(_evaluation, ref)):
        click.echo(line)


@eval_group.command("show")
@click.argument("ref", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="each model compared: its name and metrics")
@click.option("--csv", "as_csv", is_flag=True, help="every row: prompt, reference, each model's answer and scores")
def eval_show(ref, as_json, as_csv) -> None:
    """An evaluation's compare table (ID: its job id, as ffui runs list shows it)."""
    from ffui.eval_results import model_results, running_summary

    found = with_db(_evaluation, ref)
    if as_json:
        summary = running_summary(found)
        click.echo(json.dumps({
            "id": found["job_run_id"], "evaluation_id": found["id"], "name": found.get("name"),
            "status": found.get("status"), "dataset": found.get("dataset_name"), "split": found.get("split"),
            "rows": found.get("rows_done") or summary.get("rows") or 0,
            "models": model_results(found)}, indent=2))
    elif as_csv:
        path = Path(found.get("storage_path") or "") / "predictions.csv"
        try:
            with path.open(encoding="utf-8", newline="") as f:
                for chunk in iter(lambda: f.read(1 << 16), ""):
                    sys.stdout.write(chunk)
        except FileNotFoundError:
            raise UserError(f"evaluation {ref} has no rows yet ({path} does not exist)") from None
    else:
        _show(ref)


@eval_group.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
def eval_list(limit) -> None:
    """Evaluations, newest first."""
    from ffui.db import list_evaluations

    rows = with_db(list_evaluations, limit=limit)
    if not rows:
        click.echo("no evaluations yet (start one: ffui eval --adapter RUN --base --dataset NAME)")
        return
    click.echo(f"{'id':>4}  {'status':<9}  {'rows':>6}  {'dataset':<20}  models")
    for r in rows:
        click.echo(f"{r['job_run_id']:>4}  {(r['status'] or 'gone'):<9}  {r['rows_done'] or 0:>6}  "
                   f"{(r['dataset_name'] or '?')[:20]:<20}  {r['model_names'] or ''}")


eval = eval_group  # noqa: A001 (the command's name, as ffui.cli.COMMAND_MODULES registers it)
