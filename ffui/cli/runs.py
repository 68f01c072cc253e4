"""ffui runs list|show|logs|cancel|resume|checkpoint|rm"""

from __future__ import annotations

import json
import sys

import click

from ffui.cli import UserError, confirm_destructive, get_paths, run, with_db
from ffui.fmt import run_eta

EXIT_BY_STATUS = {"completed": 0, "failed": 1, "cancelled": 3}


def _eta_s(r: dict):
    """Only a running run has an ETA (an ended run may keep the last one its trainer reported)."""
    return r.get("eta_s") if r.get("status") == "running" else None


def job_kind(r: dict) -> str:
    """What the job does: training (the default), evaluation, export, publish..."""
    return (r.get("metadata") or {}).get("kind") or "training"


def fmt_loss(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "--"


def progress_line(r: dict, width: int = 24) -> str:
    from ffui.jobs.describe import scrape_progress

    scraping = scrape_progress(r)
    if scraping:
        return scraping
    frac = float(r.get("progress") or 0)
    filled = int(frac * width)
    bar = "#" * filled + "-" * (width - filled)
    step = f"{r.get('current_step') or 0}/{r.get('total_steps') or '?'}"
    eta = run_eta(r)  # a run that has ended (or not started) has no ETA
    return f"[{bar}] {frac * 100:5.1f}% step {step} loss {fmt_loss(r.get('last_loss'))}" + (f" eta {eta}" if eta else "")


def wait_for_run(run_id: int) -> int:
    """Progress until the run ends; returns the exit status for its outcome."""
    from ffui.db import FINAL_STATUSES, connect, get_training_run

    paths = get_paths()
    tty = sys.stdout.isatty()

    async def go():
        last, seen_log = "", 0
        async with connect(paths.db, paths.home) as db:
            while True:
                r = await get_training_run(db, run_id)
                seen_log = await _echo_data_summary(db, run_id, seen_log, tty)
                line = f"{r['status']:<9} {progress_line(r)}"
                if line != last:
                    click.echo(("\r" + line) if tty else line, nl=not tty)
                    last = line
                if r["status"] in FINAL_STATUSES:
                    return r
                import asyncio

                await asyncio.sleep(0.5)

    try:
        r = run(go())
    except KeyboardInterrupt:
        click.echo(f"\nstopped watching; run {run_id} goes on (ffui runs show {run_id})")
        return 130
    if tty:
        click.echo()
    click.echo(summary(r))
    return EXIT_BY_STATUS.get(r["status"], 1)


DATA_SUMMARY_PREFIXES = ("training data:", "eval data:")  # the trainer's lines before it trains


async def _echo_data_summary(db, run_id: int, after_id: int, tty: bool) -> int:
    """Print the trainer's summary of what it trains on (examples, tokens, truncated, dropped)
    as it appears in the run's log; returns the last log id read."""
    from ffui.db import get_logs

    rows = await get_logs(db, limit=1000, run_id=run_id, after_id=after_id)
    for row in rows:
        if row["message"].startswith(DATA_SUMMARY_PREFIXES):
            click.echo(("\r\x1b[K" if tty else "") + row["message"])
    return rows[-1]["id"] if rows else after_id


def summary(r: dict) -> str:
    hist = (r.get("metrics") or {}).get("history") or []
    lines = [f"run {r['id']} {r['name']!r}: {r['status']}"]
    if hist:
        lines.append(f"  loss: {fmt_loss(hist[0][1])} at step {hist[0][0]} -> {fmt_loss(hist[-1][1])} at step {hist[-1][0]}")
    if r.get("adapter_path"):
        lines.append(f"  adapter: {r['adapter_path']}")
    final = (r.get("metrics") or {}).get("final") or {}
    for key, label in (("export_path", "exported to"), ("gguf_path", "GGUF"), ("url", "published at")):
        if final.get(key) and r["status"] == "completed":  # what an export or publish job made
            lines.append(f"  {label}: {final[key]}")
    if r.get("error_message"):
        lines.append(f"  reason: {r['error_message']}")
    if r["status"] in ("failed", "cancelled") and r.get("checkpoint_path"):
        from ffui.cli import ffui_command

        lines.append(f"  resume: {ffui_command()} runs resume {r['id']}")  # as it runs from here
    return "\n".join(lines)


@click.group()
def runs() -> None:
    """Watch and control training runs."""


@runs.command("list")
@click.option("--status", type=click.Choice(["pending", "running", "completed", "failed", "cancelled"]))
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=50, show_default=True)
def runs_list(status, as_json, limit) -> None:
    """Runs, newest first."""
    from ffui.db import list_training_runs

    rows = with_db(list_training_runs, status=status, limit=limit)
    if as_json:
        keep = ("id", "name", "kind", "status", "base_model", "dataset_id", "backend", "progress", "current_step", "total_steps",
                "last_loss", "eta_s", "created_at", "started_at", "completed_at", "adapter_path", "error_message")
        click.echo(json.dumps([{k: r.get(k) for k in keep} | {"eta_s": _eta_s(r), "kind": job_kind(r)} for r in rows],
                              indent=2))
        return
    if not rows:
        click.echo("no runs yet (start one: ffui train --dataset NAME --model PATH)")
        return
    click.echo(f"{'id':>4}  {'status':<9}  {'kind':<10}  {'progress':>8}  {'loss':>8}  {'eta':>7}  name")
    from ffui.jobs.health import stall_text

    for r in rows:
        click.echo(
            f"{r['id']:>4}  {'stalled' if stall_text(r) else r['status']:<9}  {job_kind(r):<10}  {float(r.get('progress') or 0) * 100:7.1f}%  {fmt_loss(r.get('last_loss')):>8}  "
            f"{'' if stall_text(r) else run_eta(r):>7}  {r['name']}"
        )


@runs.command("show")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def runs_show(run_id, as_json) -> None:
    """One run: status, progress, config, outcome."""
    from ffui.jobs.health import stall_text

    r = with_db(_described_run, run_id)
    if as_json:
        r = {k: v for k, v in r.items() if not k.endswith("_json") and k != "pod_agent_token"} | {"eta_s": _eta_s(r)}
        click.echo(json.dumps(r, indent=2, default=str))
        return
    click.echo(summary(r))
    click.echo(f"  {progress_line(r)}")
    stalled = stall_text(r)
    if stalled:
        click.echo(f"  {stalled} while {r['metadata']['stalled'].get('phase', 'training')}: nothing from the trainer "
                   f"since (stop it: ffui runs cancel {r['id']}; setting jobs.stall_action=fail ends such runs)")
    if r.get("queue"):
        click.echo(f"  {r['queue'][1]}")
    from ffui.jobs.describe import pod_text

    if pod_text(r):
        click.echo(f"  on RunPod: {pod_text(r)}")
    for key in ("base_model", "backend", "dataset", "storage_path", "checkpoint_path", "created_at", "started_at", "completed_at"):
        if r.get(key):
            click.echo(f"  {key}: {r[key]}")
    hp = r.get("hp") or {}
    shown = ("method", "lora_r", "lora_alpha", "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "max_seq_len")
    if any(k in hp for k in shown):  # (a scrape has no training config)
        click.echo("  config: " + ", ".join(f"{k}={hp[k]}" for k in shown if k in hp))


async def _described_run(db, run_id: int) -> dict:
    """The run, with its dataset by name and, while queued, its place and why it waits."""
    from ffui.jobs.describe import dataset_label, queue_places
    from ffui.jobs.manager import get_run

    r = await get_run(db, run_id)
    r["dataset"] = await dataset_label(db, r)
    r["queue"] = (await queue_places(db)).get(run_id)
    return r


@runs.command("logs")
@click.argument("run_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="keep printing new lines until the run ends")
@click.option("--tail", "-n", type=int, default=100, show_default=True, help="lines to show first")
def runs_logs(run_id, follow, tail) -> None:
    """A run's log, from the database."""
    import asyncio

    from ffui.db import FINAL_STATUSES, connect, get_logs, get_run_status
    from ffui.jobs.manager import get_run

    paths = get_paths()

    async def go():
        async with connect(paths.db, paths.home) as db:
            await get_run(db, run_id)
            rows = await get_logs(db, limit=tail, run_id=run_id)
            last = rows[-1]["id"] if rows else 0
            for r in rows:
                click.echo(r["message"])
            while follow:
                new = await get_logs(db, limit=1000, run_id=run_id, after_id=last)
                for r in new:
                    click.echo(r["message"])
                if new:
                    last = new[-1]["id"]
                    continue
                status = await get_run_status(db, run_id)
                if status in FINAL_STATUSES:
                    tail_rows = await get_logs(db, limit=1000, run_id=run_id, after_id=last)
                    for r in tail_rows:
                        click.echo(r["message"])
                    return
                await asyncio.sleep(0.5)

    try:
        run(go())
    except KeyboardInterrupt:
        pass


@runs.command("cancel")
@click.argument("run_id", type=int)
@click.option("--no-wait", is_flag=True, help="ask and return; do not wait for the run to stop")
@click.option("--grace", type=float, help="seconds to wait for a checkpoint before killing (default: setting jobs.cancel_grace_s or 30)")
def runs_cancel(run_id, no_wait, grace) -> None:
    """Stop a run: the trainer saves a checkpoint and exits; after a grace period it is killed."""
    from ffui.jobs.manager import request_cancel, wait_cancelled
    from ffui.jobs.runs import left_the_queue

    r = with_db(request_cancel, run_id)
    if left_the_queue(r):
        click.echo(f"run {run_id} was waiting in the queue: removed from the queue (it never started)")
        return
    if not no_wait:
        click.echo(f"cancelling run {run_id} (the trainer saves a checkpoint first)...")
        r = with_db(wait_cancelled, run_id, grace)
    click.echo(f"run {run_id}: {r['status']}" + (" requested" if r["status"] == "running" else ""))


@runs.command("resume")
@click.argument("run_id", type=int)
@click.option("--checkpoint", "step", type=int, help="the checkpoint's step (default: the last one)")
@click.option("--wait", "-w", is_flag=True)
def runs_resume(run_id, step, wait) -> None:
    """Continue a failed or cancelled run from a checkpoint; the step count goes on."""
    from ffui.jobs.runs import resume_run

    r = with_db(resume_run, run_id, step, start=True)
    click.echo(f"run {run_id} resumes from {r['hp'].get('resume_from_checkpoint')}")
    if wait:
        raise SystemExit(wait_for_run(run_id))


@runs.command("checkpoint")
@click.argument("run_id", type=int)
def runs_checkpoint(run_id) -> None:
    """Save a checkpoint at the next step, without stopping."""
    from ffui.jobs.manager import request_checkpoint

    with_db(request_checkpoint, run_id)
    click.echo(f"run {run_id} saves a checkpoint at its next step")


@runs.command("rm")
@click.argument("run_id", type=int)
@click.option("--artifacts", is_flag=True, help="also delete its directory under training_outputs/")
@click.option("-y", "--yes", is_flag=True, help="do not ask first")
def runs_rm(run_id, artifacts, yes) -> None:
    """Delete a run that has ended (its files stay unless --artifacts; asks first)."""
    from ffui.jobs.manager import get_run
    from ffui.jobs.runs import RunStillActive, delete_run, refuse_active

    r = with_db(get_run, run_id)
    try:
        refuse_active(r)  # before asking: a run that cannot go is not offered
        confirm_destructive(f"delete run {run_id} ({r['name']}, {r['status']}) and its logs"
                            + (f", with {r['storage_path']} (checkpoints, adapter)" if artifacts else ""), yes)
        files = with_db(delete_run, run_id, delete_artifacts=artifacts)
    except RunStillActive as exc:
        raise UserError(f"{exc} (ffui runs cancel {run_id})") from None
    click.echo(f"run {run_id} deleted; {files}")
