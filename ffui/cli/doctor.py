"""ffui doctor: what will work on this machine, before an hour is spent finding out."""

from __future__ import annotations

import os

import click

from ffui.cli import get_paths, with_db

MARKS = {True: "ok", False: "NO", None: "--"}


@click.command()
@click.option("--smoke", is_flag=True, help="also train the tiny model a few steps with each backend usable here")
def doctor(smoke: bool) -> None:
    """Check CUDA, GPUs, the training libraries, disk, the hub and RunPod; --smoke trains for real.

    Works offline: what it cannot reach it reports as not checked, with the reason.
    The exit status is 1 when --smoke was asked and no backend trained.
    """
    from ffui.jobs import doctor as checks

    paths = get_paths()
    click.echo(f"ffui doctor: {paths.home}")
    click.echo("probing the training libraries (each import in a child process)...")
    found = checks.probe()
    _section("machine", [checks.cuda_check(found), *checks.gpu_checks(found), checks.disk_check(paths.home)])
    _section("libraries", checks.package_checks(found))
    hf_token, runpod_key = _secrets(paths)
    _section("services", [*checks.hub_checks(hf_token), checks.runpod_check(runpod_key)])
    if not smoke:
        click.echo("\nto train the tiny model with each usable backend: ffui doctor --smoke")
        return
    raise SystemExit(_smoke(found))


def _secrets(paths) -> tuple[str | None, str | None]:
    """The stored Hugging Face token and RunPod key (else the environment's); a missing
    database is no reason to make one."""
    stored: dict[str, str | None] = {}
    if paths.db.exists():
        from ffui.db import get_setting

        async def read(db):
            return {k: await get_setting(db, k) for k in ("huggingface.token", "runpod.api_key")}

        try:
            stored = with_db(read)
        except Exception as e:  # the checks still run; say why the stored secrets were not used
            click.echo(f"ffui: warning: the stored token and key were not read ({type(e).__name__}: {e})", err=True)
    return (stored.get("huggingface.token") or os.environ.get("HF_TOKEN"),
            stored.get("runpod.api_key") or os.environ.get("RUNPOD_API_KEY"))


def _section(title: str, checks) -> None:
    click.echo(f"\n{title}")
    for c in checks:
        _echo(f"  {MARKS[c.ok]:<3} {c.name:<13} {c.detail}", indent=20)


def _echo(line: str, indent: int) -> None:
    """At a terminal, a long line wraps under its last column; piped, it stays one line for grep."""
    import shutil
    import sys
    import textwrap

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 0
    if width > indent + 20:
        line = textwrap.fill(line, width - 1, subsequent_indent=" " * indent, break_on_hyphens=False)
    click.echo(line)


def _smoke(found) -> int:
    from ffui.jobs.smoke import smoke

    click.echo("\nsmoke test: the tiny model, trained a few steps with each backend")
    click.echo(f"  {'backend':<20} {'result':<11} {'tokens/s':>9} {'peak mem':>9}  reason")

    def show(row) -> None:
        rate = f"{row.tokens_per_s:.0f}" if row.tokens_per_s is not None else "-"
        mem = f"{row.peak_mem_mb:.0f} MB" if row.peak_mem_mb is not None else "-"
        result = "ran" if row.ran else row.reason.split(":", 1)[0]
        reason = row.reason.split(": ", 1)[1] if ": " in row.reason else ""
        _echo(f"  {row.backend:<20} {result:<11} {rate:>9} {mem:>9}  {reason}", indent=56)

    rows = smoke(found, show)
    click.echo("  (peak mem: the GPU's peak allocation; CPU: the largest resident size seen)")
    return 0 if any(r.ran for r in rows) else 1
