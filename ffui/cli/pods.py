"""ffui pods list|terminate|gpus: the RunPod pods ffui made, and the GPU types RunPod has."""

from __future__ import annotations

import click

from ffui.cli import UserError, confirm_destructive, with_db


@click.group()
def pods() -> None:
    """RunPod pods made by ffui (named ffui-<run uuid>), and the GPU types RunPod offers."""


async def _pods_with_runs(db) -> list[dict]:
    from ffui.runpod.api import account
    from ffui.runpod.orphans import pods_with_runs

    rp = await account(db)
    return await pods_with_runs(db, rp)


@pods.command("list")
def list_pods() -> None:
    """Every ffui pod on the RunPod account, whose run it is, and which are orphans."""
    found = with_db(_pods_with_runs)
    if not found:
        click.echo("no ffui pods on the RunPod account")
        return
    click.echo(f"{'POD':<16} {'$/HR':>6} {'UP':>8}  RUN")
    for pod in found:
        run = pod["run"]
        owner = f"run {run['id']} {run['name']!r} ({run['status']})" if run else "no run in this home"
        up = f"{int(pod.get('uptimeSeconds') or 0) // 60} min"
        click.echo(f"{pod['id']:<16} {float(pod.get('costPerHr') or 0):>6.2f} {up:>8}  {owner}"
                   + ("  ORPHAN" if pod["orphan"] else ""))
    orphans = [p for p in found if p["orphan"]]
    if orphans:
        click.echo(f"{len(orphans)} orphan pod{'s' if len(orphans) > 1 else ''} bill with no run to end them: "
                   "ffui pods terminate --orphans")


@pods.command("terminate")
@click.argument("pod_id", required=False)
@click.option("--orphans", is_flag=True, help="every ffui pod whose run has ended or is not in this home")
@click.option("--yes", "-y", is_flag=True, help="do not ask")
def terminate(pod_id: str | None, orphans: bool, yes: bool) -> None:
    """Terminate POD_ID (what is on its disk is lost), or every orphan with --orphans."""
    if bool(pod_id) == orphans:
        raise UserError("give a pod id (ffui pods list shows them) or --orphans, not both")

    async def go(db):
        from ffui.runpod.api import account

        rp = await account(db)
        found = await _pods_with_runs(db)
        if orphans:
            targets = [p["id"] for p in found if p["orphan"]]
        else:
            match = [p for p in found if p["id"] == pod_id]
            if not match:
                raise UserError(f"no ffui pod {pod_id!r} on the RunPod account (see: ffui pods list)")
            if not match[0]["orphan"]:
                run = match[0]["run"]
                raise UserError(f"pod {pod_id} belongs to running run {run['id']}; cancel the run instead "
                                f"(ffui runs cancel {run['id']}), which brings its checkpoint home first")
            targets = [pod_id]
        if targets:
            confirm_destructive(f"terminate {len(targets)} pod{'s' if len(targets) > 1 else ''} "
                                "(what is on their disks is lost)", yes)
        for target in targets:
            rp.terminate(target)
        return targets

    done = with_db(go)
    click.echo(f"terminated {len(done)} pod{'s' if len(done) != 1 else ''}" + (f": {', '.join(done)}" if done else ""))


@pods.command("gpus")
def gpus() -> None:
    """GPU types RunPod offers, with their memory and on-demand price per hour."""

    async def go(db):
        from ffui.runpod.api import account

        return (await account(db)).gpu_types()

    rows = with_db(go)
    click.echo(f"{'GPU TYPE':<28} {'MEM':>5} {'SECURE':>7} {'COMMUNITY':>9}")
    for g in sorted(rows, key=lambda g: (g.get("securePrice") or g.get("communityPrice") or 99, g["id"])):
        click.echo(f"{g['id'][:28]:<28} {g.get('memoryInGb') or '?':>4}G {price(g.get('securePrice')):>7} "
                   f"{price(g.get('communityPrice')):>9}")


def price(value) -> str:
    return f"${float(value):.2f}" if value else "--"
