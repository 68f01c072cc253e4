"""The ``export`` kind: a training_runs row (``metadata.kind = "export"``) whose worker,
``python -m ffui.train.export RUN_DIR``, exports another run's adapter, or merges it into its
base (docs/export.md). Its row, queue, cancel and logs are training's; its end registers a
merged model in ``models``, with its path.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

from ffui import events
from ffui.db import Database
from ffui.jobs.kinds.training import TrainingKind


class ExportKind(TrainingKind):
    name = "export"
    noun = "exporter"
    module = "ffui.train.export"

    def command(self, run: dict) -> list[str]:
        return [sys.executable, "-m", self.module, str(run["storage_path"])]  # one process, whatever the GPUs

    def apply_event(self, run: dict, event: dict, fields: dict[str, Any]) -> list[tuple[str, str]]:
        notes = super().apply_event(run, event, fields)
        if event["type"] == events.DONE and event.get("export_path"):
            fields["output_dir"] = event["export_path"]
            notes.append(("INFO", f"exported to {event['export_path']}"))
        return notes

    async def on_end(self, db: Database, run: dict, out: dict[str, Any], terminal: dict[str, dict]) -> None:
        done = terminal.get(events.DONE) or {}
        if out["status"] == "completed" and (done.get("metrics") or {}).get("merged"):
            await register_export(db, run, done)


async def register_export(db: Database, run: dict, done: dict) -> None:
    """A merged export is a model of its own: into ``models`` with its path (in the outcome's transaction)."""
    meta = run.get("metadata") or {}
    path = done["export_path"]
    await db.execute(
        "INSERT INTO models(id, type, framework, name, description, location) VALUES (?, ?, ?, ?, ?, ?)",
        (str(uuid.uuid4()), "local", "transformers", Path(path).name,
         f"run {meta.get('source_run')} merged into {run.get('base_model')} "
         f"({(done.get('metrics') or {}).get('dtype')})", path))
