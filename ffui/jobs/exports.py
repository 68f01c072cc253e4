"""Queueing export jobs (the ``export`` kind, ffui/jobs/kinds/export.py): what ``ffui export`` and
the run screen call. Every problem the user can fix is found here, before a job is queued."""

from __future__ import annotations

import json
from pathlib import Path

from ffui.db import Database, create_training_run, get_setting, get_training_run
from ffui.jobs.errors import JobError
from ffui.jobs.manager import get_run
from ffui.jobs.scheduler import schedule

DTYPES = ("bf16", "fp16")
GGUF_TYPES = ("q8_0", "f16", "bf16")
LLAMA_CPP_SETTING = "export.llama_cpp_dir"


async def trained_run(db: Database, run_id: int) -> dict:
    """A completed run whose adapter (or full model) is still on disk, or one line saying why not."""
    run = await get_run(db, run_id)
    if (run.get("metadata") or {}).get("kind", "training") not in ("training", "fake"):
        raise JobError(f"run {run_id} is a job of kind {run['metadata']['kind']}, not a training run; "
                       "give the id of the run it came from")
    if run["status"] != "completed":
        raise JobError(f"run {run_id} is {run['status']}; only a completed run has an adapter to export")
    adapter = run.get("adapter_path")
    if not adapter or not Path(adapter).is_dir():
        raise JobError(f"run {run_id}'s adapter {adapter or '(none)'} is not on disk any more; nothing to export")
    return run


async def start_export(db: Database, run_id: int, *, merged: bool = False, dtype: str = "bf16",
                       out: str | None = None, gguf: str | None = None) -> dict:
    """Queue an export of run ``run_id`` (see ffui.train.export for what each option makes)."""
    from ffui.train.export import gguf_problem

    if dtype not in DTYPES:
        raise JobError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    if gguf and gguf not in GGUF_TYPES:
        raise JobError(f"--gguf {gguf}: choose one of {', '.join(GGUF_TYPES)}")
    if gguf and not merged:
        raise JobError("--gguf converts a merged model: add --merged")
    run = await trained_run(db, run_id)
    llama_cpp = await get_setting(db, LLAMA_CPP_SETTING) if gguf else None
    if gguf and (problem := gguf_problem(llama_cpp)):
        raise JobError(problem)
    target = Path(out).expanduser().resolve() if out else None
    if target is not None and target.exists():
        raise JobError(f"--out {target} already exists: choose another folder, or remove it first")
    if target is not None and not target.parent.is_dir():
        raise JobError(f"--out {target}: its folder {target.parent} does not exist")
    what = f"merged-{dtype}" if merged else "adapter"
    job = await create_training_run(
        db, f"export-{run['name']}"[:120], base_model=run.get("base_model"), dataset_source=run.get("dataset_source"),
        dataset_id=run.get("dataset_id"), base_model_id=run.get("base_model_id"),
        hp={"base_model": run.get("base_model"), "merged": merged, "dtype": dtype, "gguf": gguf},
        metadata={"kind": "export", "source_run": run_id, "export": what})
    job_dir = Path(job["storage_path"])
    source_dir = Path(run["storage_path"])
    spec = {
        "source_run": run_id, "adapter_path": run["adapter_path"], "base_model": run.get("base_model"),
        "method": (run.get("hp") or {}).get("method", "lora"), "merged": merged, "dtype": dtype, "gguf": gguf,
        "llama_cpp_dir": llama_cpp, "out": str(target or job_dir / what),
        "train_config": _train_config(run), "dataset_path": str(source_dir / "dataset.jsonl"),
    }
    (job_dir / "config.json").write_text(json.dumps({"export": spec}, indent=2), encoding="utf-8")
    await schedule(db)
    return await get_training_run(db, job["id"])


def _train_config(run: dict) -> dict:
    """The run's resolved training config (its config.json, else the copy in its row)."""
    try:
        return json.loads((Path(run["storage_path"]) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict(run.get("hp") or {})
