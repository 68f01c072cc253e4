"""The ``publish`` kind: a training_runs row (``metadata.kind = "publish"``) whose worker,
``python -m ffui.train.publish RUN_DIR``, uploads a run's adapter or merged export with its card
to the Hugging Face Hub (docs/export.md). The stored token goes in its environment (never on its
command line); its end records the repo on the adapter (``adapters.huggingface_name``) or on
the merged model (``models.huggingface_model_name``).
"""

from __future__ import annotations

import sys
from typing import Any

from ffui.db import Database, get_setting
from ffui.jobs.executors.base import WorkerSpec
from ffui.jobs.kinds.training import TrainingKind


class PublishKind(TrainingKind):
    name = "publish"
    noun = "uploader"
    module = "ffui.train.publish"

    def command(self, run: dict) -> list[str]:
        return [sys.executable, "-m", self.module, str(run["storage_path"])]

    async def worker(self, db: Database, run: dict) -> WorkerSpec:
        spec = WorkerSpec(self.command(run), {"PYTHONUNBUFFERED": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
                          noun=self.noun)
        token = await get_setting(db, "huggingface.token")
        if token:  # in the environment, never on the command line
            spec.env["HF_TOKEN"] = token
        return spec

    async def on_end(self, db: Database, run: dict, out: dict[str, Any], terminal: dict[str, dict]) -> None:
        if out["status"] != "completed":
            return
        meta = run.get("metadata") or {}
        repo_id = meta.get("repo_id")
        if meta.get("model_id"):
            await db.execute("UPDATE models SET huggingface_model_name = ? WHERE id = ?", (repo_id, meta["model_id"]))
        elif meta.get("adapter_id"):
            await db.execute("UPDATE adapters SET huggingface_name = ? WHERE id = ?", (repo_id, meta["adapter_id"]))
