"""Creating, starting, queueing, cancelling and resuming runs.

These are the functions the CLI and the TUI call. A run is created ``pending`` with its
run directory filled (config.json, dataset.jsonl); ``schedule`` starts as many pending runs
as the concurrency limit allows, each under a detached supervisor process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

from ffui.db import (
    Database,
    FINAL_STATUSES,
    config_settings,
    create_training_run,
    find_model,
    get_training_config,
    get_training_run,
    update_training_run,
)
from ffui.db.catalog import one_line
from ffui.jobs.errors import JobError
from ffui.jobs.executors import executor_for
from ffui.jobs.executors.local import gpu_count  # noqa: F401 (its old home)
from ffui.jobs.scheduler import (  # noqa: F401 (the queue's names, as the CLI and the TUI import them from here)
    SUPERVISOR_MODULE,
    concurrency_limit,
    concurrency_rule,
    kill_stale_supervisor,
    needs_supervisor,
    reconcile,
    replace_supervisor,
    schedule,
    spawn_supervisor,
    supervisor_alive,
)
from ffui.jobs.settings import supervisor_stale_s


# -- configuration -----------------------------------------------------------------------


def parse_sets(sets: Iterable[str]) -> dict[str, Any]:
    """``key=value`` pairs, each value read by the training config's one parser of a setting's
    text (``1e-4``, ``1_000``, ``q_proj,v_proj``, ``[q_proj, v_proj]``, ``true``)."""
    from ffui.bounded import brief
    from ffui.train.config import parse_setting

    out: dict[str, Any] = {}
    problems: list[str] = []
    for item in sets:
        if "=" not in item:
            raise JobError(f"--set {brief(item)}: expected key=value, for example --set learning_rate=1e-4")
        key, raw = (part.strip() for part in item.split("=", 1))  # (shown cut short: never unbounded)
        try:
            out[key] = parse_setting(key, raw)
        except ValueError as e:
            problems.append(f"--set {key[:60]}={raw if len(raw) <= 60 else raw[:57] + '...'}: {key[:60]} {e}")
    if problems:
        raise JobError("; ".join(problems))
    return out


def load_config_file(path: Path) -> dict[str, Any]:
    import yaml

    from ffui.bounded import TooComplex, load_yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except TooComplex as exc:
        raise JobError(f"config {path} is refused: {exc}; write the settings out plainly") from None
    except OSError as exc:
        raise JobError(f"cannot read config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise JobError(f"config {path} is not valid YAML/JSON{where}; fix it or pass settings with --set") from None
    if not isinstance(data, dict):
        raise JobError(f"config {path} must be a mapping of settings, for example 'learning_rate: 2e-4'")
    data = config_settings(data)
    if True in data:  # YAML 1.1 reads the key of `on: runpod` as true
        data["on"] = data.pop(True)
    return _parsed(data, f"config {path}")


def _parsed(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Text values of typed settings read by the config's parser (YAML 1.1 leaves 1e-4 a string)."""
    from ffui.train.config import ConfigError, parse_settings

    try:
        return parse_settings(data)
    except ConfigError as e:
        raise JobError(f"{where}: {'; '.join(e.problems)}") from None


async def resolve_config(db: Database, config: str | None, sets: Iterable[str] = ()) -> dict[str, Any]:
    """Saved config by name, or a YAML/JSON file, with ``--set`` overrides on top."""
    cfg: dict[str, Any] = {}
    if config:
        path = Path(config).expanduser()
        if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
            if not path.exists():
                raise JobError(f"config file {path} does not exist")
            cfg = load_config_file(path)
        else:
            row = await get_training_config(db, config)
            if row is None:
                raise JobError(f"no saved config named {config!r} (see: ffui configs list)")
            cfg = config_settings(row["config"])
    cfg.update(parse_sets(sets))
    return cfg


def validate_config(cfg: dict[str, Any]):
    from ffui.train.config import TrainConfig

    return TrainConfig.from_dict(cfg)


# -- models and datasets -----------------------------------------------------------------


async def resolve_model(db: Database, model: str) -> tuple[str, str | None]:
    """(what the trainer loads: a path or a hub id, the models-table id if registered)."""
    row = await find_model(db, model)
    if row is not None and model not in (row["id"], row.get("name"), row.get("huggingface_model_name"),
                                         row.get("location")) and Path(model).expanduser().exists():
        row = None  # an existing directory wins over a model whose id merely starts with its name
    if row:
        target = row.get("location") or row.get("huggingface_model_name")
        if not target:
            raise JobError(f"model {model!r} has neither a location nor a hub name; fix it with ffui models add")
        return target, row["id"]
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve()), None
    if model.startswith(("/", ".", "~")) or os.sep in model and model.count("/") > 1:
        raise JobError(f"model path {model} does not exist; build one with 'ffui model tiny DIR' or give a hub id")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", model):
        raise JobError(f"{model!r} is neither a registered model, a directory, nor a hub id like org/name (see: ffui models list)")
    return model, None


async def resolve_training_config(db: Database, *, model: str, config: str | None = None, sets: Iterable[str] = (),
                                  prompt: str | None = None, hp: dict[str, Any] | None = None
                                  ) -> tuple[dict[str, Any], str | None, dict | None]:
    """(the full config a run of these choices trains with, the model's registry id, the prompt's row):
    what ``create_run`` writes as config.json, and what ``ffui data render`` renders with."""
    from ffui.data import store
    from ffui.runpod.options import split_placement

    cfg = dict(hp or {})
    cfg.update(await resolve_config(db, config, sets))
    cfg, _ = split_placement(cfg)  # where it runs is the run's metadata (the caller's), never the worker's config
    base_model, model_id = await resolve_model(db, model)
    cfg["base_model"] = base_model
    prompt_row = None
    if prompt:
        prompt_row = await store.get_prompt_by_name(db, prompt)
        cfg["prompt_template"] = {
            k: prompt_row.get(k) for k in ("prompt_template", "input_template", "completion_template")
        }
    return validate_config(cfg).to_dict(), model_id, prompt_row


# -- runs --------------------------------------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _check_objective(layout, objective: str) -> None:
    """Preference data needs a preference objective and the other way round: say so before a run
    is made (the trainer checks each row again)."""
    from ffui.data.preference_layout import preference_fields
    from ffui.train import preference

    fields = preference_fields(layout)
    if objective in ("sft", "pretrain") and fields:
        raise JobError(preference.SFT_REFUSAL if "rejected" in fields else preference.KTO_SFT_REFUSAL)
    if objective in preference.PREFERENCE_OBJECTIVES and not fields:
        raise JobError(f"objective={objective} needs preference data (chosen/rejected, or completions labelled "
                       "true/false) and this dataset has none; see docs/datasets.md, Preference data")
    if objective in preference.PAIRED_OBJECTIVES and "rejected" not in fields:
        raise JobError("this is KTO data (completions labelled true/false), not chosen/rejected pairs: "
                       "use --set objective=kto")
    if objective == "kto" and "label" not in fields:
        raise JobError("this is paired preference data (chosen/rejected): use --set objective=dpo, orpo or simpo")


async def create_run(
    db: Database,
    *,
    dataset: str | int,
    model: str,
    config: str | None = None,
    sets: Iterable[str] = (),
    name: str | None = None,
    prompt: str | None = None,
    hp: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict:
    """Make a pending run: its row (hp_json = the full resolved config) and its directory.
    ``metadata``: where it runs (``executor``, and its choices: ``runpod``), set before it can start."""
    from ffui.data import store

    resolved, model_id, prompt_row = await resolve_training_config(db, model=model, config=config, sets=sets,
                                                                   prompt=prompt, hp=hp)
    session = await store.resolve(db, dataset)
    rows = await db.scalar("SELECT COUNT(*) FROM scraped_pairs WHERE session_id = ?", (session["id"],))
    if not rows:
        raise JobError(f"dataset {session.get('name') or session['id']!r} is empty; import rows first (ffui data import)")
    _check_objective(store.session_layout(session), resolved["objective"])
    base_model = resolved["base_model"]
    run_name = name or one_line(f"{Path(base_model).name}-{session.get('name') or session['id']}")
    run = await create_training_run(
        db, run_name, base_model=base_model, dataset_source="database", dataset_id=str(session["id"]), hp=resolved,
        base_model_id=model_id, prompt_id=prompt_row["id"] if prompt_row else None, num_gpu=resolved.get("num_gpu"),
        **({"metadata": metadata} if metadata else {}),
    )
    run_dir = Path(run["storage_path"])
    try:
        _write_json(run_dir / "config.json", resolved)
        await store.write_training_file(db, session, run_dir / "dataset.jsonl")
    except BaseException:
        await db.write("DELETE FROM training_runs WHERE id = ?", (run["id"],))
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return await get_training_run(db, run["id"])


async def get_run(db: Database, run_id: int) -> dict:
    run = await get_training_run(db, run_id)
    if run is None:
        raise JobError(f"no run with id {run_id} (see: ffui runs list)")
    return run


async def request_cancel(db: Database, run_id: int, grace_s: float | None = None) -> dict:
    """Ask a run to stop: a pending run is cancelled at once; for a running one the cancel is
    recorded, and its supervisor enforces it (a stop request, a kill after the grace period).
    A run whose supervisor is gone gets a new one, which does."""
    run = await get_run(db, run_id)
    if run["status"] in FINAL_STATUSES:
        raise JobError(f"run {run_id} has already ended ({run['status']}); there is nothing to cancel")
    cur = await db.write(
        "UPDATE training_runs SET status = 'cancelled', completed_at = datetime('now') WHERE id = ? AND status = 'pending'",
        (run_id,),
    )
    if cur.rowcount:
        return await get_run(db, run_id)
    # The first of several concurrent cancels records the request (and its grace); the rest find it.
    await db.write(
        "UPDATE training_runs SET metadata_json = json_set(json_set(COALESCE(metadata_json, '{}'), "
        "'$.cancel_requested', ?), '$.cancel_grace_s', ?) "
        "WHERE id = ? AND json_extract(COALESCE(metadata_json, '{}'), '$.cancel_requested') IS NULL",
        (time.time(), grace_s, run_id),
    )
    run = await get_run(db, run_id)
    if run["status"] == "running" and await needs_supervisor(db, run, await supervisor_stale_s(db)):
        await replace_supervisor(db, run)
    return run


async def cancel_run(db: Database, run_id: int, *, wait: bool = True, grace_s: float | None = None) -> dict:
    """Cancel and (with ``wait``) return once the run has ended and none of its processes is left."""
    run = await request_cancel(db, run_id, grace_s)
    if not wait or run["status"] in FINAL_STATUSES:
        return run
    return await wait_cancelled(db, run_id, grace_s)


async def wait_cancelled(db: Database, run_id: int, grace_s: float | None = None) -> dict:
    """Wait for the outcome of a cancel asked with ``request_cancel``, which the run's supervisor
    enforces. ``grace_s`` (if given) replaces the grace period of a cancel not yet enforced. A
    supervisor that dies or stops beating meanwhile is replaced, and its replacement enforces it."""
    if grace_s is not None:
        await db.write(
            "UPDATE training_runs SET metadata_json = json_set(metadata_json, '$.cancel_grace_s', ?) "
            "WHERE id = ? AND status = 'running' AND json_extract(metadata_json, '$.cancel_killed') IS NULL",
            (grace_s, run_id))
    replaced_at = 0.0
    while True:
        run = await get_run(db, run_id)
        executor = executor_for(run)
        if run["status"] in FINAL_STATUSES and not executor.leftovers(run):
            return run
        killed = (run.get("metadata") or {}).get("cancel_killed")
        if killed and time.time() - float(killed) > CANCEL_RECORD_S and executor.leftovers(run):
            raise JobError(f"run {run_id} is {run['status']} but its worker ({executor.describe(run)}) does not die "
                           f"after a kill (stuck in the kernel?); check it with: ps -g {run.get('trainer_pgid')}")
        now = time.monotonic()
        if run["status"] == "running" and now - replaced_at > CANCEL_RECORD_S \
                and await needs_supervisor(db, run, CANCEL_RECORD_S):
            await replace_supervisor(db, run)
            replaced_at = now
        await asyncio.sleep(0.2)


CANCEL_RECORD_S = 5.0  # a supervisor silent this long while a cancel waits is replaced; a kill this old failed


def list_checkpoints(run: dict) -> list[tuple[int, Path]]:
    folder = Path(run["storage_path"]) / "checkpoints"
    found = []
    if folder.is_dir():
        for entry in folder.iterdir():
            m = re.fullmatch(r"checkpoint-(\d+)", entry.name)
            if m and entry.is_dir():
                found.append((int(m.group(1)), entry))
    return sorted(found)


async def resume_run(db: Database, run_id: int, checkpoint_step: int | None = None) -> dict:
    """Queue a failed or cancelled run again, continuing from its last (or a chosen) checkpoint."""
    async with db.transaction():  # the check and the change at once: of two resumes, the second is refused
        return await _resume_locked(db, run_id, checkpoint_step)


async def _resume_locked(db: Database, run_id: int, checkpoint_step: int | None) -> dict:
    run = await get_run(db, run_id)
    if run["status"] not in ("failed", "cancelled"):
        raise JobError(f"run {run_id} is {run['status']}; only a failed or cancelled run can be resumed")
    if not executor_for(run).reset(run):
        raise JobError(f"run {run_id}'s trainer is still exiting; try again in a moment")
    checkpoints = list_checkpoints(run)
    if not checkpoints:
        raise JobError(f"run {run_id} saved no checkpoint to resume from; start it again with ffui train")
    if checkpoint_step is None:
        step, path = checkpoints[-1]
    else:
        match = [c for c in checkpoints if c[0] == checkpoint_step]
        if not match:
            have = ", ".join(str(s) for s, _ in checkpoints)
            raise JobError(f"run {run_id} has no checkpoint at step {checkpoint_step} (it has: {have})")
        step, path = match[0]
    run_dir = Path(run["storage_path"])
    config_path = run_dir / "config.json"
    cfg = json.loads(config_path.read_text(encoding="utf-8"))
    cfg["resume_from_checkpoint"] = str(path)
    _write_json(config_path, cfg)
    meta = {k: v for k, v in (run.get("metadata") or {}).items() if not k.startswith("cancel_") and k != "stalled"}
    meta.setdefault("resumes", []).append({"from_step": step, "checkpoint": str(path), "at": time.time()})
    hp = dict(run.get("hp") or {})
    hp["resume_from_checkpoint"] = str(path)
    await update_training_run(
        db, run_id, status="pending", completed_at=None, exit_code=None, exit_signal=None, error_message=None,
        trainer_pid=None, trainer_pgid=None, supervisor_pid=None, metadata=meta, hp=hp,
    )
    return await get_run(db, run_id)


async def request_checkpoint(db: Database, run_id: int) -> None:
    """Make the running trainer save a checkpoint at its next step, without stopping."""
    run = await get_run(db, run_id)
    if run["status"] != "running":
        raise JobError(f"run {run_id} is {run['status']}, not running; nothing to checkpoint")
    executor_for(run).request_checkpoint(run)


async def start_run(db: Database, **kwargs: Any) -> dict:
    """create_run + schedule: the run starts now, or waits as pending for a free slot."""
    run = await create_run(db, **kwargs)
    await schedule(db)
    return await get_run(db, run["id"])
