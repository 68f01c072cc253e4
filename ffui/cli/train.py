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
@click.option("--on", "where", type=click.Choice(["local", "runpod"]), default="local", show_default=True,
              help="where it trains: this machine, or a RunPod pod (key: setting runpod.api_key)")
@click.option("--gpu", help="RunPod GPU type (default: setting runpod.gpu, else 'NVIDIA A40'; see ffui pods gpus)")
@click.option("--gpu-fallback", metavar="TYPE,TYPE", help="RunPod GPU types to try, in order, when --gpu has no capacity")
@click.option("--gpu-count", type=click.IntRange(1, 8), help="GPUs in the pod (several: accelerate launch)")
@click.option("--cloud", type=click.Choice(["secure", "community", "all"]), help="RunPod cloud (default: all)")
@click.option("--max-cost", type=float, metavar="DOLLARS",
              help="stop with a checkpoint once the pod has cost this much (default: setting runpod.max_cost)")
@click.option("--image", help="the pod's container image (default: setting runpod.image, else a RunPod PyTorch image)")
def train(dataset, model, config, sets, prompt, name, wait, where, gpu, gpu_fallback, gpu_count, cloud, max_cost,
          image) -> None:
    """Fine-tune MODEL on DATASET as a job that outlives this command (and your SSH session)."""
    from ffui.db import connect
    from ffui.jobs.manager import start_run
    from ffui.runpod.options import run_metadata

    paths = get_paths()
    pod_choices = dict(gpu=gpu, fallback=gpu_fallback, gpu_count=gpu_count, cloud=cloud, max_cost=max_cost,
                       image=image)
    if where == "local" and any(v is not None for v in pod_choices.values()):
        raise UserError("--gpu, --gpu-fallback, --gpu-count, --cloud, --max-cost and --image are for --on runpod")
    if gpu_count and gpu_count > 1:
        sets = (*sets, f"num_gpu={gpu_count}")  # the pod's trainer is an accelerate launch over them all

    async def go():
        async with connect(paths.db, paths.home) as db:
            metadata = await run_metadata(db, **pod_choices) if where == "runpod" else None
            return await start_run(db, dataset=dataset, model=model, config=config, sets=sets, name=name, prompt=prompt,
                                   metadata=metadata)

    r = run(go())
    state = "started" if r["status"] == "running" else f"queued ({r['status']}: waiting for a free slot)"
    where_words = f" on RunPod ({' > '.join(r['metadata']['runpod']['gpus'])})" if where == "runpod" else ""
    click.echo(f"run {r['id']} {r['name']!r} {state}{where_words}")
    click.echo(f"  artifacts: {r['storage_path']}")
    if not wait:
        ffui = ffui_command(paths)
        click.echo(f"  follow it: {ffui} runs logs {r['id']} --follow")
        click.echo(f"  progress:  {ffui} runs show {r['id']}")
        return
    from ffui.cli.runs import wait_for_run

    raise SystemExit(wait_for_run(r["id"]))
