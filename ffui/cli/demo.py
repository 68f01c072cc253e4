"""ffui demo: a whole fine-tuning run, start to finish, with nothing to download.

Builds the tiny model, imports a bundled chat dataset, trains a LoRA adapter on the CPU
(about a minute) with live progress, and prints the run's summary. Re-running it reuses the
model and the dataset and trains a new run.
"""

from __future__ import annotations

from importlib import resources

import click

from ffui.cli import UserError, ffui_command, get_paths, run

DEMO_DATASET = "demo-chat"
DEMO_CONFIG = {
    "method": "lora",
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "max_steps": 60,
    "learning_rate": 3e-3,
    "warmup_steps": 5,
    "per_device_train_batch_size": 8,
    "max_seq_len": 256,
    "logging_steps": 1,
    "save_steps": 30,
    "eval_split": 0.0,
    "seed": 7,
    "num_gpu": 0,
}


@click.command()
@click.option("--steps", type=int, default=DEMO_CONFIG["max_steps"], show_default=True, help="optimizer steps")
def demo(steps: int) -> None:
    """Train a LoRA adapter on a tiny local model and a bundled dataset, start to finish."""
    paths = get_paths()
    model_dir = paths.home / "models" / "tiny-llama"
    if not (model_dir / "config.json").exists():
        click.echo(f"building a tiny llama model in {model_dir} ...")
        try:
            from ffui.train.tiny import build_tiny_model
        except ImportError as exc:
            raise UserError(f"the demo needs the training extras ({exc.name} is missing): pip install 'ffui[train]'") from None
        build_tiny_model(model_dir, arch="llama")
    from ffui.cli.runs import wait_for_run
    from ffui.data import store
    from ffui.db import connect, create_model, find_model
    from ffui.jobs.manager import start_run

    async def go():
        async with connect(paths.db, paths.home) as db:
            if DEMO_DATASET not in {d["name"] for d in await store.list_datasets(db)}:  # (an interrupted one goes)
                sample = resources.files("ffui") / "samples" / "demo_chat.jsonl"
                with resources.as_file(sample) as path:
                    info = await store.import_dataset(db, str(path), name=DEMO_DATASET)
                click.echo(f"imported {info['rows']} conversations as dataset {DEMO_DATASET!r} ({info['format']})")
            if await find_model(db, str(model_dir)) is None:
                await create_model(db, type="local", framework="transformers", name="tiny-llama", location=str(model_dir))
            return await start_run(db, dataset=DEMO_DATASET, model=str(model_dir), name="demo",
                                   hp={**DEMO_CONFIG, "max_steps": steps})

    r = run(go())
    click.echo(f"run {r['id']} started: LoRA on {model_dir.name}, {steps} steps on the CPU (artifacts: {r['storage_path']})")
    code = wait_for_run(r["id"])
    if code == 0:
        ffui = ffui_command(paths)
        nexts = [(ffui, "the terminal UI, with this run in it"), (f"{ffui} runs list", "every run"),
                 (f"{ffui} runs logs {r['id']}", "this run's log")]
        width = max(len(cmd) for cmd, _ in nexts)
        click.echo("next, from this directory:")
        for cmd, meaning in nexts:
            click.echo(f"  {cmd:<{width}}   {meaning}")
    raise SystemExit(code)
