"""Creating, starting, queueing, cancelling and resuming runs.

These are the functions the CLI and the TUI call. A run is created ``pending`` with its
run directory filled (config.json, dataset.jsonl); ``schedule`` starts as many pending runs
as the concurrency limit allows, each under a detached supervisor process.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from ffui.db import (
    Database,
    FINAL_STATUSES,
    create_training_run,
    get_setting,
    get_training_config,
    get_training_run,
    list_training_runs,
    update_training_run,
)
from ffui.db.catalog import one_line
from ffui import procs
from ffui.jobs import health
from ffui.jobs.errors import JobError

SUPERVISOR_MODULE = "ffui.jobs.supervisor"


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
    data = data.get("hp", data) if isinstance(data.get("hp"), dict) else data
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
            saved = row["config"]
            cfg = dict(saved.get("hp", saved)) if isinstance(saved.get("hp"), dict) else dict(saved)
    cfg.update(parse_sets(sets))
    return cfg


def validate_config(cfg: dict[str, Any]):
    from ffui.train.config import TrainConfig

    return TrainConfig.from_dict(cfg)


# -- models and datasets -----------------------------------------------------------------


async def resolve_model(db: Database, model: str) -> tuple[str, str | None]:
    """(what the trainer loads: a path or a hub id, the models-table id if registered)."""
    row = await db.fetchone(
        "SELECT * FROM models WHERE id = ? OR name = ? OR huggingface_model_name = ? OR location = ? "
        "ORDER BY (id = ?) DESC LIMIT 1",
        (model, model, model, model, model),
    )
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


# -- runs --------------------------------------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


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
) -> dict:
    """Make a pending run: its row (hp_json = the full resolved config) and its directory."""
    from ffui.data import store

    cfg = dict(hp or {})
    cfg.update(await resolve_config(db, config, sets))
    base_model, model_id = await resolve_model(db, model)
    cfg["base_model"] = base_model
    session = await store.resolve(db, dataset)
    rows = await db.scalar("SELECT COUNT(*) FROM scraped_pairs WHERE session_id = ?", (session["id"],))
    if not rows:
        raise JobError(f"dataset {session.get('name') or session['id']!r} is empty; import rows first (ffui data import)")
    prompt_row = None
    if prompt:
        prompt_row = await store.get_prompt_by_name(db, prompt)
        cfg["prompt_template"] = {
            k: prompt_row.get(k) for k in ("prompt_template", "input_template", "completion_template")
        }
    resolved = validate_config(cfg).to_dict()
    run_name = name or one_line(f"{Path(base_model).name}-{session.get('name') or session['id']}")
    run = await create_training_run(
        db, run_name, base_model=base_model, dataset_source="database", dataset_id=str(session["id"]), hp=resolved,
        base_model_id=model_id, prompt_id=prompt_row["id"] if prompt_row else None, num_gpu=resolved.get("num_gpu"),
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


def gpu_count() -> int:
    """GPUs visible to the trainer, without importing torch (nvidia-smi when present)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    exe = shutil.which("nvidia-smi")
    return _nvidia_smi_gpus(exe) if exe else 0


@functools.lru_cache(maxsize=4)
def _nvidia_smi_gpus(exe: str) -> int:
    """Asked once per process: the UI asks each second while runs are queued, and GPUs stay."""
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


async def concurrency_limit(db: Database) -> int:
    """Runs at once: the jobs.max_concurrent setting, else one per GPU, else one on the CPU."""
    return (await concurrency_rule(db))[0]


async def concurrency_rule(db: Database) -> tuple[int, str]:
    """The concurrency limit and where it comes from, in words (a queued run says why it waits)."""
    value = await get_setting(db, "jobs.max_concurrent")
    if value:
        try:
            limit = max(1, int(value))
            return limit, f"jobs.max_concurrent={limit}"
        except ValueError:
            pass
    gpus = gpu_count()
    if gpus:
        return gpus, f"one run per GPU, {gpus} GPU{'s' if gpus > 1 else ''}; the setting jobs.max_concurrent changes it"
    return 1, "no GPU: one run at a time; the setting jobs.max_concurrent changes it"


def spawn_supervisor(db: Database, run_id: int) -> int:
    """Start a detached supervisor (own session; its launcher exits at once, so no zombie)."""
    log_path = db.home / "training_outputs" / ".supervisors.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        out = subprocess.run(
            [sys.executable, "-m", SUPERVISOR_MODULE, "--db", str(db.path), "--home", str(db.home),
             f"--run={run_id}", "--daemon"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True, timeout=60,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    try:
        return int(out.stdout.strip() or 0)
    except ValueError:
        return 0


async def schedule(db: Database) -> list[int]:
    """Start pending runs, oldest first, while fewer than the limit are running."""
    limit = await concurrency_limit(db)
    started: list[int] = []
    async with db.transaction():
        running = await db.scalar("SELECT COUNT(*) FROM training_runs WHERE status = 'running'")
        free = limit - running
        if free <= 0:
            return []
        rows = await db.fetchall("SELECT id FROM training_runs WHERE status = 'pending' ORDER BY id LIMIT ?", (free,))
        for r in rows:
            cur = await db.execute(
                "UPDATE training_runs SET status = 'running', started_at = COALESCE(started_at, datetime('now')), "
                "supervisor_pid = NULL, trainer_pid = NULL, trainer_pgid = NULL, updated_at = datetime('now') "
                "WHERE id = ? AND status = 'pending'",
                (r["id"],),
            )
            if cur.rowcount:
                started.append(r["id"])
    for run_id in started:
        pid = await asyncio.to_thread(spawn_supervisor, db, run_id)
        if pid:
            await db.write(
                "UPDATE training_runs SET supervisor_pid = ? WHERE id = ? AND supervisor_pid IS NULL", (pid, run_id))
        else:
            await update_training_run(db, run_id, status="failed", error_message="could not start a supervisor process; "
                                      f"see {db.home / 'training_outputs' / '.supervisors.log'}")
    return started


def supervisor_alive(run: dict) -> bool:
    return procs.alive(run.get("supervisor_pid"), SUPERVISOR_MODULE, f"--run={run['id']}")


async def supervisor_stale_s(db: Database) -> float:
    try:
        return float(await get_setting(db, "jobs.supervisor_stale_s") or health.SUPERVISOR_STALE_S)
    except ValueError:
        return health.SUPERVISOR_STALE_S


def kill_stale_supervisor(run: dict, stale_s: float) -> bool:
    """A supervisor that lives but no longer beats (SIGSTOPped, wedged) is killed, by its recorded
    identity (a reused pid is never hit). True if there was one."""
    ident = health.stale_supervisor(run, stale_s)
    if ident is None:
        return False
    procs.signal_pid(int(ident["pid"]), signal.SIGKILL)
    for _ in range(50):  # a stopped process dies on SIGKILL too; give the kernel a moment
        if not procs.identity_alive(ident):
            break
        time.sleep(0.02)
    return True


async def reconcile(db: Database) -> dict[str, list[int]]:
    """Give every running run whose supervisor is gone a new one, then start queued runs.

    The new supervisor catches up from the stored offsets, follows the trainer if it still
    runs, and otherwise records the outcome. Safe to run from several processes at once.
    """
    restarted: list[int] = []
    stale_s = await supervisor_stale_s(db)
    for run in await list_training_runs(db, status="running"):
        if supervisor_alive(run) and not kill_stale_supervisor(run, stale_s):
            continue
        age = await db.scalar(
            "SELECT (julianday('now') - julianday(updated_at)) * 86400 FROM training_runs WHERE id = ?", (run["id"],))
        if run.get("supervisor_pid") is None and run.get("trainer_pid") is None and (age or 0) < 60:
            continue  # just scheduled: its supervisor may still be starting
        cur = await db.write(
            "UPDATE training_runs SET supervisor_pid = NULL WHERE id = ? AND status = 'running' AND supervisor_pid IS ?",
            (run["id"], run.get("supervisor_pid")),
        )
        if cur.rowcount:
            await asyncio.to_thread(spawn_supervisor, db, run["id"])
            restarted.append(run["id"])
    return {"restarted": restarted, "started": await schedule(db)}


async def get_run(db: Database, run_id: int) -> dict:
    run = await get_training_run(db, run_id)
    if run is None:
        raise JobError(f"no run with id {run_id} (see: ffui runs list)")
    return run


async def request_cancel(db: Database, run_id: int) -> dict:
    """Ask a run to stop: a pending run is cancelled at once; a running one is signalled."""
    run = await get_run(db, run_id)
    if run["status"] in FINAL_STATUSES:
        raise JobError(f"run {run_id} has already ended ({run['status']}); there is nothing to cancel")
    cur = await db.write(
        "UPDATE training_runs SET status = 'cancelled', completed_at = datetime('now') WHERE id = ? AND status = 'pending'",
        (run_id,),
    )
    if cur.rowcount:
        return await get_run(db, run_id)
    # Only the first of several concurrent cancels asks the trainer: one request, one signal.
    cur = await db.write(
        "UPDATE training_runs SET metadata_json = json_set(COALESCE(metadata_json, '{}'), '$.cancel_requested', ?) "
        "WHERE id = ? AND json_extract(COALESCE(metadata_json, '{}'), '$.cancel_requested') IS NULL",
        (time.time(), run_id),
    )
    if not cur.rowcount:
        return await get_run(db, run_id)
    run_dir = Path(run["storage_path"])
    (run_dir / "control").mkdir(exist_ok=True)
    (run_dir / "control" / "stop").touch()
    from ffui.jobs.supervisor import trainer_alive

    if run.get("trainer_pid") and trainer_alive(run):
        procs.signal_pid(run.get("trainer_pid"), signal.SIGTERM)
    return await get_run(db, run_id)


async def cancel_run(db: Database, run_id: int, *, wait: bool = True, grace_s: float | None = None) -> dict:
    """Cancel and (with ``wait``) return once the run has ended and none of its processes is left."""
    run = await request_cancel(db, run_id)
    if not wait or run["status"] in FINAL_STATUSES:
        return run
    return await wait_cancelled(db, run_id, grace_s)


async def wait_cancelled(db: Database, run_id: int, grace_s: float | None = None) -> dict:
    """Wait for a cancel asked with ``request_cancel``: the trainer gets ``grace_s`` to save and stop,
    is then killed, and the outcome is recorded, in this process if its supervisor cannot."""
    grace = grace_s if grace_s is not None else float(await get_setting(db, "jobs.cancel_grace_s", 30) or 30)
    deadline = time.monotonic() + grace  # the one deadline: after it, kill, then record it ourselves
    killed = False
    while True:
        run = await get_run(db, run_id)
        if run["status"] in FINAL_STATUSES and not procs.group_alive(run.get("trainer_pgid")):
            return run
        now = time.monotonic()
        if now > deadline and not killed:
            procs.signal_group(run.get("trainer_pgid"), signal.SIGKILL)
            killed = True
        if now > deadline + CANCEL_RECORD_S and run["status"] not in FINAL_STATUSES:
            return await finish_in_process(db, run)
        if now > deadline + CANCEL_RECORD_S:
            raise JobError(f"run {run_id} is {run['status']} but process group {run.get('trainer_pgid')} does not "
                           "die (stuck in the kernel?); check it with: ps -g " + str(run.get("trainer_pgid")))
        await asyncio.sleep(0.2)


CANCEL_RECORD_S = 5.0  # after the kill, how long a healthy supervisor needs to record the outcome


async def finish_in_process(db: Database, run: dict) -> dict:
    """The supervisor did not record the outcome in time (gone, stopped or wedged): kill it by its
    identity and record the outcome from this process, so a cancel never waits past its deadline."""
    from ffui.jobs.supervisor import RunSupervisor

    kill_stale_supervisor(run, 0)
    await db.write("UPDATE training_runs SET supervisor_pid = NULL WHERE id = ? AND status = 'running'", (run["id"],))
    try:
        await asyncio.wait_for(RunSupervisor(db, run["id"]).run(), timeout=CANCEL_RECORD_S)
    except asyncio.TimeoutError:
        raise JobError(f"run {run['id']} could not be stopped within its deadline; see: ffui runs logs {run['id']}")
    await schedule(db)
    return await get_run(db, run["id"])


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
    from ffui.train import worker_lock

    lock_fd = worker_lock.try_lock(run["storage_path"])
    if lock_fd is None:
        raise JobError(f"run {run_id}'s trainer is still exiting; try again in a moment")
    try:
        worker_lock.clear_owner(lock_fd)  # the next attempt starts its own worker
    finally:
        os.close(lock_fd)
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
    for name in ("stop", "checkpoint"):
        (run_dir / "control" / name).unlink(missing_ok=True)
    meta = run.get("metadata") or {}
    meta.pop("cancel_requested", None)
    meta.pop("stalled", None)
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
    control = Path(run["storage_path"]) / "control"
    control.mkdir(exist_ok=True)
    (control / "checkpoint").touch()


async def start_run(db: Database, **kwargs: Any) -> dict:
    """create_run + schedule: the run starts now, or waits as pending for a free slot."""
    run = await create_run(db, **kwargs)
    await schedule(db)
    return await get_run(db, run["id"])
