"""The ``evaluation`` kind: adapters (and their base) scored on a dataset, as a detached job.

The job is a training_runs row of ``metadata.kind = "evaluation"``, so the queue, the
supervisor, cancel, reconcile and the Runs screen serve it as they serve training; its worker
is ``python -m ffui.train.evaluate RUN_DIR`` (evaluation.json + dataset.jsonl in, the
predictions files and metrics.json out). Its own record is an ``evaluation_jobs`` row (with
one ``evaluation_models`` row per model compared), whose metrics the job's end fills in from
metrics.json: also for a cancelled evaluation, which keeps the rows it finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ffui.db import Database, evaluation_for_run, get_setting, record_evaluation_results
from ffui.jobs.executors.base import WorkerSpec
from ffui.jobs.kinds.training import TrainingKind

WORKER_MODULE = "ffui.train.evaluate"  # named, not imported: the UI process never loads the worker
JUDGE_KEY_ENV = "FFUI_JUDGE_KEY"  # the worker's (ffui.train.evaluate.JUDGE_KEY_ENV), named here for the same reason
METRICS = ("loss", "perplexity", "exact_match", "rouge_l", "judge")
DEFAULT_METRICS = ("loss", "perplexity", "exact_match", "rouge_l")
DATA_KEYS = ("max_seq_len", "completion_only_loss", "prompt_template", "chat_template")  # as the run trained


class EvaluationKind(TrainingKind):
    name = "evaluation"
    noun = "evaluator"
    module = WORKER_MODULE

    def command(self, run: dict) -> list[str]:
        return [sys.executable, "-m", self.module, str(run["storage_path"])]

    async def worker(self, db: Database, run: dict) -> WorkerSpec:
        spec = await super().worker(db, run)  # the hub token only for a hub base model
        key = await get_setting(db, "eval.judge_api_key")
        if key and "judge" in ((run.get("hp") or {}).get("metrics") or ()):
            spec.env[JUDGE_KEY_ENV] = key  # in the environment, never on the command line
        return spec

    async def on_end(self, db: Database, run: dict, out: dict[str, Any], terminal: dict[str, dict]) -> None:
        eval_id = await evaluation_for_run(db, run["id"])
        try:
            summary = json.loads((Path(run["storage_path"]) / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # it ended before its first row: nothing was measured
        if eval_id:
            per_model = [{**(m.get("metrics") or {}), "same_as_base": m.get("same_as_base"), "rows": m.get("rows"),
                          "tokens": m.get("tokens")} for m in summary.get("models") or []]
            await record_evaluation_results(db, eval_id, int(summary.get("rows") or 0), per_model)


# -- making one ------------------------------------------------------------------------------
