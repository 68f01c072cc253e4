"""ffui train: start a fine-tuning run as a detached job."""

from __future__ import annotations

import click

from ffui.cli import UserError, ffui_command, get_paths, run


@click.command()
@click.option("--dataset", "-d", required=True, help="dataset name or id (ffui data list)")
@click.option("--model", "-m", required=True, help="registered model, model directory, or hub id (org/name)")
@click.option("--config", "-c", help="saved config name (ffui configs list) or a YAML/JSON file")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override one setting; repeatable")
@click.option("--prompt", help="prompt template name (ffui prompts list)")
@click.option("--name", "-n", help="run name (default: MODEL-DATASET)")
@click.option("--wait", "-w", is_flag=True, help="show progress until the run ends; exit status tells the outcome")
@click.option("--on", "where", type=click.Choice(["local", "runpod"]),
              help="where it trains: this machine (the default, unless the config says on: runpod), or a RunPod pod "
                   "(key: setting runpod.api_key)")
@click.option("--gpu", help="RunPod GPU type (default: setting runpod.gpu, else 'NVIDIA A40'; see ffui pods gpus)")
@click.option("--gpu-fallback", metavar="TYPE,TYPE", help="RunPod GPU types to try, in order, when --gpu has no capacity")
@click.option("--gpu-count", type=click.IntRange(1, 8), help="GPUs in the pod (several: accelerate launch)")
@click.option("--cloud", type=click.Choice(["secure", "community", "all"]), help="RunPod cloud (default: all)")
@click.option("--max-cost", type=float, metavar="DOLLARS",
              help="stop with a checkpoint once the pod has cost this much (default: setting runpod.max_cost)")
@click.option("--image", help="the pod's container image (default: setting runpod.image, else a RunPod PyTorch image)")
def train(dataset, model, config, sets, prompt, name, wait, where, gpu, gpu_fallback, gpu_count, cloud, max_cost,
          image) -> None:
    """Fine-tune MODEL on DATASET as a job that outlives this command (and your SSH session).

    A config can say where it trains (on: runpod, gpu, gpu_fallback, gpu_count, cloud, max_cost, image);
    the flags of the same names override it."""
    from ffui.db import connect
    from ffui.jobs.manager import resolve_config, start_run

    paths = get_paths()
    pod_flags = {k: v for k, v in dict(gpu=gpu, gpu_fallback=gpu_fallback, gpu_count=gpu_count, cloud=cloud,
                                       max_cost=max_cost, image=image).items() if v is not None}

    async def go():
        async with connect(paths.db, paths.home) as db:
            metadata = await placement_metadata(db, await resolve_config(db, config, sets), where, pod_flags)
            count = metadata["runpod"]["gpu_count"] if metadata else 1
            more = (f"num_gpu={count}",) if count > 1 else ()  # the pod's trainer: an accelerate launch over them all
            return await start_run(db, dataset=dataset, model=model, config=config, sets=(*sets, *more), name=name,
                                   prompt=prompt, metadata=metadata)

    r = run(go())
    state = "started" if r["status"] == "running" else f"queued ({r['status']}: waiting for a free slot)"
    on_pod = (r.get("metadata") or {}).get("executor") == "runpod"
    where_words = f" on RunPod ({' > '.join(r['metadata']['runpod']['gpus'])})" if on_pod else ""
    click.echo(f"run {r['id']} {r['name']!r} {state}{where_words}")
    click.echo(f"  artifacts: {r['storage_path']}")
    if not wait:
        ffui = ffui_command(paths)
        click.echo(f"  follow it: {ffui} runs logs {r['id']} --follow")
        click.echo(f"  progress:  {ffui} runs show {r['id']}")
        return
    from ffui.cli.runs import wait_for_run

    raise SystemExit(wait_for_run(r["id"]))


async def placement_metadata(db, cfg: dict, where: str | None, pod_flags: dict) -> dict | None:
    """The run's metadata for where it trains: the config's ``on`` and pod choices, the flags
    over them; None for this machine."""
    from ffui.runpod.options import pod_choices, run_metadata, split_placement, unused_pod_keys

    _, placement = split_placement(cfg)
    if (where or placement.get("on", "local")) == "local":
        if pod_flags:
            raise UserError("--gpu, --gpu-fallback, --gpu-count, --cloud, --max-cost and --image are for --on runpod")
        if where is None and unused_pod_keys(placement):  # (a hand-written file: configs save refuses these)
            click.echo(f"note: the config's {unused_pod_keys(placement)}; this run trains on this machine", err=True)
        return None
    return await run_metadata(db, **pod_choices({**placement, **pod_flags}))
