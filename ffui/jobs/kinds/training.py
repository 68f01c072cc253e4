"""The ``training`` kind: a row of training_runs, trained by ``python -m ffui.train RUN_DIR``.

Its worker is the trainer (an ``accelerate launch`` of it for several GPUs), with the Hugging
Face token in its environment only when the base model comes from the hub (never on its command
line). Its events are the trainer protocol (ffui.events). A completed run's adapter goes into
the registry (``adapters``, and its base model in ``models``) in the outcome's transaction.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ffui import events
from ffui.db import Database, get_setting, get_training_run, update_training_run
from ffui.jobs.executors.base import WorkerSpec
from ffui.jobs.executors.local import gpu_count
from ffui.jobs.kinds.base import JobKind


class TrainingKind(JobKind):
    name = "training"
    table = "training_runs"
    noun = "trainer"
    module = "ffui.train"  # the worker's module, run with ``python -m``

    async def get(self, db: Database, job_id: int) -> dict | None:
        return await get_training_run(db, job_id)

    async def update(self, db: Database, job_id: int, **fields: Any) -> None:
        await update_training_run(db, job_id, **fields)

    def command(self, run: dict) -> list[str]:
        from ffui.train import launch  # looked up at call time: tests swap the trainer's command

        hp = run.get("hp") or {}
        num_gpu = int(run.get("num_gpu") if run.get("num_gpu") is not None else hp.get("num_gpu") or 0)
        if num_gpu < 0:  # "all visible": counted here, on the machine the trainer runs on
            num_gpu = gpu_count()
        options = {k: hp[k] for k in ("num_processes", "distributed") if hp.get(k)}
        return launch.build_trainer_command(Path(run["storage_path"]), num_gpu, module=self.module, **options)

    async def worker(self, db: Database, run: dict) -> WorkerSpec:
        from ffui.train.config import is_hub_model

        spec = WorkerSpec(self.command(run), {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"},
                          noun=self.noun)
        token = await get_setting(db, "huggingface.token")
        if not is_hub_model((run.get("hp") or {}).get("base_model") or ""):
            spec.unset_env = ("HF_TOKEN",)  # a local model needs no token: keep it out of reach
        elif token:  # in the environment, never on the command line
            spec.env["HF_TOKEN"] = token
        await tracking_env(db, run, spec.env)
        return spec

    async def on_end(self, db: Database, run: dict, out: dict[str, Any], terminal: dict[str, dict]) -> None:
        if out["status"] == "completed":
            await register_adapter(db, run, terminal[events.DONE])


async def tracking_env(db: Database, run: dict, env: dict[str, str]) -> None:
    """The W&B / MLflow settings (keys among them) of a run that reports there, as environment."""
    from ffui.train.tracking import ENV_SETTINGS

    report_to = (run.get("hp") or {}).get("report_to") or []
    for target in [report_to] if isinstance(report_to, str) else report_to:
        for key, var in ENV_SETTINGS.get(str(target).lower(), {}).items():
            value = await get_setting(db, key)
            if value:
                env[var] = value


async def register_adapter(db: Database, run: dict, done: dict) -> None:
    """A completed run's adapter goes into the registry (adapters, and its base in models)."""
    adapter_path = done.get("adapter_path")
    if not adapter_path:
        return
    model_id = run.get("base_model_id") or await base_model_id(db, run.get("base_model") or "")
    adapter_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO adapters(id, type, name, model_id, location, fine_tuning_job_id, prompt_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (adapter_id, (run.get("hp") or {}).get("method", "lora"), run["name"], model_id, adapter_path,
         run.get("job_uuid"), run.get("prompt_id")),
    )
    await db.execute("UPDATE training_runs SET adapter_id = ?, base_model_id = COALESCE(base_model_id, ?) WHERE id = ?",
                     (adapter_id, model_id, run["id"]))


async def base_model_id(db: Database, base: str) -> str | None:
    """The models-table id of a run's base model, registering it when it is not there yet."""
    if not base:
        return None
    row = await db.fetchone("SELECT id FROM models WHERE location = ? OR huggingface_model_name = ? LIMIT 1",
                            (base, base))
    if row:
        return row["id"]
    model_id = str(uuid.uuid4())
    local = Path(base).exists()
    await db.execute(
        "INSERT INTO models(id, type, name, location, huggingface_model_name) VALUES (?, ?, ?, ?, ?)",
        (model_id, "local" if local else "huggingface", Path(base).name if local else base,
         base if local else None, None if local else base),
    )
    return model_id
