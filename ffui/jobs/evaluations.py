"""Making evaluation jobs: resolve the adapters and the dataset a user names, write the job's
spec, make its training_runs row (``metadata.kind = "evaluation"``) and its evaluation_jobs
record, and queue it. What the job then does is its kind's (ffui.jobs.kinds.evaluation); this
module is to evaluation what ffui.jobs.exports is to export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ffui.db import (Database, adapter_named, create_evaluation, delete_training_run, get_adapter, get_model,
                     get_setting, get_training_run, get_training_run_by_uuid, latest_adapter_run)
from ffui.db.catalog import one_line
from ffui.jobs.errors import JobError
from ffui.jobs.kinds.training import base_model_id
from ffui.jobs.kinds.evaluation import DATA_KEYS, DEFAULT_METRICS, METRICS


def parse_metrics(metrics: str | list[str] | None) -> list[str]:
    if not metrics:
        return list(DEFAULT_METRICS)
    names = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise JobError(f"unknown metric {', '.join(map(repr, bad)) or '(none)'}: choose from {','.join(METRICS)}")
    return list(dict.fromkeys(names))


async def resolve_adapter(db: Database, ref: str) -> dict:
    """What ``--adapter REF`` names: a run (its id or name) with an adapter, or an adapter of the
    registry (id or name). Returns name, adapter_path, adapter_id, run (or None), base_model."""
    text = str(ref).strip()
    run = None
    if text.lstrip("#").isdigit():
        run = await get_training_run(db, int(text.lstrip("#")))
    if run is None:
        run = await latest_adapter_run(db, text)
    if run is not None:
        return await _adapter_of_run(db, run)
    row = await get_adapter(db, text) or await adapter_named(db, text)
    if row is None:
        raise JobError(f"no run or adapter named {text!r} (see: ffui runs list, ffui models list)")
    run = await get_training_run_by_uuid(db, row["fine_tuning_job_id"]) if row.get("fine_tuning_job_id") else None
    model = await get_model(db, row["model_id"]) if row.get("model_id") else None
    base = (run or {}).get("base_model") or (model or {}).get("location") or (model or {}).get("huggingface_model_name")
    if not base:
        raise JobError(f"adapter {row.get('name') or text!r} names no base model; register it with its model first")
    return _checked({"name": row.get("name") or text, "adapter_path": row.get("location"), "adapter_id": row["id"],
                     "run": run, "base_model": base})


async def _adapter_of_run(db: Database, run: dict) -> dict:
    if (run.get("metadata") or {}).get("kind", "training") != "training":
        raise JobError(f"run {run['id']} is an {(run['metadata'] or {}).get('kind')} job, not a training run; "
                       "evaluate a training run's adapter")
    if run["status"] != "completed" or not run.get("adapter_path"):
        raise JobError(f"run {run['id']} ({run['name']}) is {run['status']} and has no adapter yet; "
                       "evaluate a completed run")
    return _checked({"name": run["name"], "adapter_path": run["adapter_path"], "adapter_id": run.get("adapter_id"),
                     "run": run, "base_model": run.get("base_model")})


def _checked(source: dict) -> dict:
    path = Path(str(source.get("adapter_path") or ""))
    if not (path / "adapter_config.json").is_file():
        raise JobError(f"{source['name']}: {path} is not a LoRA adapter (no adapter_config.json); "
                       "a full fine-tune is a model of its own, not an adapter of its base")
    return source


async def resolve_eval_dataset(db: Database, dataset: str, split: str | None) -> dict:
    """The dataset to evaluate on: NAME itself, or with ``split`` its part NAME-SPLIT (also from
    a sibling part: chat-train with --split validation is chat-validation)."""
    from ffui.data import store
    from ffui.data.errors import DataError

    if not split:
        return await store.resolve(db, dataset)
    try:
        return await store.resolve(db, f"{dataset}-{split}")  # NAME is the split's group
    except DataError:
        pass
    row = await store.resolve(db, dataset)
    meta = store.session_meta(row).get("split") or {}
    if meta.get("part") == split:
        return row
    if meta.get("group"):
        try:
            return await store.resolve(db, f"{meta['group']}-{split}")
        except DataError:
            pass
    raise JobError(f"dataset {dataset!r} has no {split} split; make one with: ffui data split {dataset}")


def unique_names(sources: list[dict]) -> None:
    """Two adapters of the same name get their run id (or a number) added: names key the results."""
    seen: dict[str, int] = {}
    for s in sources:
        seen[s["name"]] = seen.get(s["name"], 0) + 1
    for i, s in enumerate(sources):
        if seen[s["name"]] > 1 or s["name"] == "base":
            s["name"] = f"{s['name']}#{(s.get('run') or {}).get('id') or i + 1}"


async def create_evaluation_job(db: Database, *, adapters: list[str], base: bool, dataset: str,
                                split: str | None = None, limit: int | None = None,
                                metrics: str | list[str] | None = None, max_new_tokens: int = 128,
                                batch_size: int = 8) -> dict:
    """A pending evaluation job (its training_runs row, its evaluation_jobs row, its directory
    with evaluation.json and dataset.jsonl); returns the job's row with ``evaluation_id``."""
    from ffui.data import store

    chosen = parse_metrics(metrics)
    if not adapters:
        raise JobError("nothing to evaluate: give --adapter RUN|ADAPTER (add --base to compare with its base model)")
    if limit is not None and limit < 1:
        raise JobError(f"--limit must be 1 or more, got {limit}")
    sources = [await resolve_adapter(db, ref) for ref in adapters]
    bases = list(dict.fromkeys(s["base_model"] for s in sources))
    if len(bases) > 1:
        raise JobError(f"the adapters were trained on different base models ({', '.join(bases)}); "
                       "compare adapters of one base model at a time")
    unique_names(sources)
    session = await resolve_eval_dataset(db, dataset, split)
    rows = await store.count(db, session)
    if not rows:
        raise JobError(f"dataset {store.display_name(session)!r} is empty; import rows first (ffui data import)")
    spec = await _spec(db, sources, bases[0], base, chosen, limit, max_new_tokens, batch_size)
    shown = store.display_name(session)
    job = await _create_job(db, spec, sources, session, shown, split, limit, chosen)
    return job


async def _spec(db: Database, sources: list[dict], base_model: str, with_base: bool, metrics: list[str],
                limit: int | None, max_new_tokens: int, batch_size: int) -> dict:
    """evaluation.json: ONE tokenizer, chat template and set of generation settings for all models
    (the first adapter's run's own)."""
    if max_new_tokens < 1 or batch_size < 1:
        raise JobError("--max-new-tokens and --batch-size must be 1 or more")
    hp = next(((s["run"] or {}).get("hp") or {} for s in sources if s.get("run")), {})
    first = Path(sources[0]["adapter_path"])
    models = ([{"name": "base", "adapter_path": None}] if with_base else []) + [
        {"name": s["name"], "adapter_path": s["adapter_path"]} for s in sources]
    judge = None
    if "judge" in metrics:
        judge = {"url": await get_setting(db, "eval.judge_url"), "model": await get_setting(db, "eval.judge_model")}
        if not judge["url"] or not judge["model"]:
            raise JobError("the judge metric needs an OpenAI-compatible server: ffui settings set eval.judge_url "
                           "http://HOST:PORT/v1 and ffui settings set eval.judge_model MODEL")
    return {"base_model": base_model, "tokenizer": str(first) if (first / "tokenizer_config.json").is_file() else None,
            "models": models, "metrics": metrics, "limit": limit, "num_gpu": hp.get("num_gpu", 0),
            "data": {k: hp[k] for k in DATA_KEYS if hp.get(k) is not None},
            "generation": {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "do_sample": False},
            "judge": judge}


async def _create_job(db: Database, spec: dict, sources: list[dict], session: dict, shown: str,
                      split: str | None, limit: int | None, metrics: list[str]) -> dict:
    from ffui.data import store
    from ffui.db import create_training_run

    name = one_line(f"{', '.join(s['name'] for s in sources)} on {shown}")  # its kind column says eval
    model_id = await base_model_id(db, spec["base_model"])
    run = await create_training_run(db, name, base_model=spec["base_model"], dataset_source="database",
                                    dataset_id=str(session["id"]), hp=spec, metadata={"kind": "evaluation"},
                                    base_model_id=model_id, num_gpu=spec["num_gpu"])
    run_dir = Path(run["storage_path"])
    try:
        (run_dir / "evaluation.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
        await store.write_training_file(db, session, run_dir / "dataset.jsonl")
        by_name = {s["name"]: s for s in sources}
        eval_id = await create_evaluation(
            db, job_run_id=run["id"], name=name, models=[
                {"name": m["name"], "adapter_path": m["adapter_path"],
                 "adapter_id": (by_name.get(m["name"]) or {}).get("adapter_id"),
                 "source_run_id": ((by_name.get(m["name"]) or {}).get("run") or {}).get("id")}
                for m in spec["models"]],
            base_model_id=model_id, dataset_name=shown, split=split, row_limit=limit,
            metrics_requested=metrics, generation_config=spec["generation"], evaluation_dir=str(run_dir))
    except BaseException:
        await delete_training_run(db, run["id"], delete_artifacts=True)
        raise
    return {**await get_training_run(db, run["id"]), "evaluation_id": eval_id}


async def start_evaluation(db: Database, **kwargs: Any) -> dict:
    """create_evaluation_job + schedule: it starts now, or waits in the queue."""
    from ffui.jobs.scheduler import schedule

    job = await create_evaluation_job(db, **kwargs)
    await schedule(db)
    return {**await get_training_run(db, job["id"]), "evaluation_id": job["evaluation_id"]}
