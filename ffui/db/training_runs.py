"""Training runs: seed 001's training_runs, which also holds seed 000's fine_tuning_jobs.

Each run has an integer id (seed 001) and a ``job_uuid`` (seed 000's job id, which
adapters reference). Statuses: pending -> running -> completed | failed | cancelled.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

from ffui.db.catalog import check_name
from ffui.db.core import Database

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
FINAL_STATUSES = ("completed", "failed", "cancelled")
_JSON_FIELDS = {"hp": "hp_json", "logs": "logs_json", "metadata": "metadata_json", "metrics": "metrics_json"}
_columns_cache: set[str] | None = None


async def _columns(db: Database) -> set[str]:
    global _columns_cache
    if _columns_cache is None:
        rows = await db.fetchall("PRAGMA table_info(training_runs)")
        _columns_cache = {r["name"] for r in rows}
    return _columns_cache


def decode_run(row: dict | None) -> dict | None:
    if row is None:
        return None
    for key, col in _JSON_FIELDS.items():
        raw = row.get(col)
        try:
            row[key] = json.loads(raw) if raw else ({} if key != "logs" else [])
        except ValueError:
            row[key] = {} if key != "logs" else []
    return row


def get_managed_storage_root(db: Database) -> Path:
    """Where run artifacts live: ``<home>/training_outputs``."""
    return db.training_outputs


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


async def _encode(db: Database, fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if key in _JSON_FIELDS:
            key, value = _JSON_FIELDS[key], json.dumps(value, default=str)
        elif key.endswith("_json") and value is not None and not isinstance(value, str):
            value = json.dumps(value, default=str)
        out[key] = value
    bad = (set(out) - await _columns(db)) | ({"id"} & set(out))
    if bad:
        raise ValueError(f"unknown training_runs fields: {', '.join(sorted(bad))}")
    return out


async def create_training_run(
    db: Database,
    name: str,
    base_model: str | None = None,
    dataset_source: str | None = None,
    dataset_id: str | None = None,
    hp: dict | None = None,
    *,
    create_storage: bool = True,
    **fields: Any,
) -> dict:
    """Create a run (status pending) and its storage directory; returns the row."""
    name = check_name("run", name)
    stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    root = get_managed_storage_root(db)
    storage = root / f"{_safe_name(name)}_{stamp}"
    n = 1
    while storage.exists():
        n += 1
        storage = root / f"{_safe_name(name)}_{stamp}_{n}"
    if create_storage:
        storage.mkdir(parents=True, exist_ok=False)
    fields.setdefault("job_uuid", str(uuid.uuid4()))
    fields.setdefault("storage_path", str(storage))
    fields.setdefault("output_dir", str(storage))
    values = await _encode(
        db,
        {
            "name": name,
            "status": "pending",
            "base_model": base_model,
            "dataset_source": dataset_source,
            "dataset_id": None if dataset_id is None else str(dataset_id),
            "hp": hp or {},
            **fields,
        },
    )
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cur = await db.write(f"INSERT INTO training_runs({cols}) VALUES ({marks})", tuple(values.values()))
    return await get_training_run(db, cur.lastrowid)


async def get_training_run(db: Database, run_id: int) -> dict | None:
    return decode_run(await db.fetchone("SELECT * FROM training_runs WHERE id = ?", (run_id,)))


async def get_training_run_by_uuid(db: Database, job_uuid: str) -> dict | None:
    return decode_run(await db.fetchone("SELECT * FROM training_runs WHERE job_uuid = ?", (job_uuid,)))


async def update_training_run(db: Database, run_id: int, **fields: Any) -> None:
    """Set columns of a run; ``hp``/``logs``/``metadata``/``metrics`` take Python objects."""
    if not fields:
        return
    values = await _encode(db, fields)
    values.setdefault("updated_at", _now())
    cols = ", ".join(f"{k} = ?" for k in values)
    await db.write(f"UPDATE training_runs SET {cols} WHERE id = ?", (*values.values(), run_id))


async def list_training_runs(
    db: Database, status: str | tuple[str, ...] | None = None, limit: int | None = None, after_id: int | None = None
) -> list[dict]:
    """Runs, newest first (or oldest first after ``after_id``, for polling new rows)."""
    sql, params = "SELECT * FROM training_runs", []
    where = []
    if status:
        statuses = (status,) if isinstance(status, str) else tuple(status)
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params += list(statuses)
    if after_id is not None:
        where.append("id > ?")
        params.append(after_id)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id ASC" if after_id is not None else " ORDER BY id DESC"
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return [decode_run(r) for r in await db.fetchall(sql, params)]


async def delete_training_run(db: Database, run_id: int, *, delete_artifacts: bool = False,
                              statuses: tuple[str, ...] | None = None) -> str | None:
    """Delete a run row (and its log lines); its files stay unless ``delete_artifacts``.

    Returns one line on what became of the run's files (None: there is no such run, or, with
    ``statuses``, it is in none of them: checked in the delete's own transaction, so a run
    resumed meanwhile by another process is left alone). Adapters it produced stay
    registered, with their job reference cleared.
    """
    from ffui.runfiles import remove_run_dir

    async with db.transaction():
        run = await db.fetchone("SELECT id, status, job_uuid, storage_path FROM training_runs WHERE id = ?", (run_id,))
        if run is None or (statuses is not None and run["status"] not in statuses):
            return None
        if run.get("job_uuid"):
            await db.execute("UPDATE adapters SET fine_tuning_job_id = NULL WHERE fine_tuning_job_id = ?", (run["job_uuid"],))
        await db.execute("DELETE FROM app_logs WHERE run_id = ?", (run_id,))
        await db.execute("DELETE FROM training_runs WHERE id = ?", (run_id,))
    if not run.get("storage_path"):
        return "it had no files"
    if not delete_artifacts:
        return f"its files stay in {run['storage_path']}"
    # Only ever remove a directory of the managed root, and never through a link.
    return remove_run_dir(Path(run["storage_path"]), get_managed_storage_root(db))


# -- what the screens and the CLI show ------------------------------------------------------

def _json_field(column: str, path: str) -> str:
    """SQL for ``path`` in a JSON column, NULL where the text is not JSON (seed 001's columns may
    hold what another tool wrote; one such row must not break a whole list)."""
    return f"(CASE WHEN json_valid({column}) THEN json_extract({column}, '{path}') END)"


#: a run as a list shows it: its progress and trend, not its config or its 500 log lines
SUMMARY_COLUMNS = ("id, name, status, progress, current_step, total_steps, last_loss, eta_s, backend, updated_at, pod_id, "
                   f"{_json_field('metadata_json', '$.stalled.since')} AS stalled_since, "
                   f"{_json_field('metadata_json', '$.kind')} AS kind")


async def list_run_summaries(db: Database, limit: int = 500) -> list[dict]:
    """The newest ``limit`` runs, as the Runs table shows them (``stalled_since``: a stalled run's
    silence began then, else None)."""
    return await db.fetchall(f"SELECT {SUMMARY_COLUMNS} FROM training_runs ORDER BY id DESC LIMIT ?", (limit,))


async def loss_histories(db: Database, run_ids: list[int]) -> dict[int, list[float]]:
    """Each run's training losses, oldest first (what its trend line draws), in one query.

    The parsing (up to 2,000 points a run, hundreds of runs on a first look) runs in a thread.
    """
    if not run_ids:
        return {}
    marks = ", ".join("?" for _ in run_ids)
    rows = await db.fetchall(
        f"SELECT id, {_json_field('metrics_json', '$.history')} AS history FROM training_runs WHERE id IN ({marks})",
        list(run_ids))
    return await asyncio.to_thread(lambda: {r["id"]: _losses(r["history"]) for r in rows})


def _losses(raw: str | None) -> list[float]:
    """The loss of each ``[step, loss, ...]`` point of a stored history (a damaged one: none)."""
    try:
        points = json.loads(raw) if raw else []
        return [p[1] for p in points if isinstance(p, list) and len(p) > 1]
    except (ValueError, TypeError):
        return []


async def run_change_probe(db: Database, run_id: int) -> dict | None:
    """A few columns that change whenever a run does, so a view re-reads the whole row (which
    holds 500 log lines) only then; None: there is no such run. A stalled run's probe changes
    every 10 s, so that its "stalled for" keeps counting."""
    return await db.fetchone(
        "SELECT status, updated_at, current_step, checkpoint_path, "
        f"CASE WHEN {_json_field('metadata_json', '$.stalled')} IS NOT NULL "
        "THEN CAST(strftime('%s', 'now') AS INTEGER) / 10 END AS stalled_tick "
        "FROM training_runs WHERE id = ?", (run_id,))


async def get_run_status(db: Database, run_id: int) -> str | None:
    """A run's status alone (None: there is no such run): cheap enough to poll."""
    return await db.scalar("SELECT status FROM training_runs WHERE id = ?", (run_id,))


async def list_recent_runs(db: Database, limit: int = 200) -> list[dict]:
    """The newest runs by id, name, status, progress and adapter path (for pickers and the palette)."""
    return await db.fetchall(
        "SELECT id, name, status, progress, adapter_path FROM training_runs ORDER BY id DESC LIMIT ?", (limit,))


async def recent_base_models(db: Database, limit: int = 20) -> list[str]:
    """The base models runs were trained on, the most recently used first."""
    rows = await db.fetchall(
        "SELECT base_model FROM training_runs WHERE base_model IS NOT NULL "
        "GROUP BY base_model ORDER BY MAX(id) DESC LIMIT ?", (limit,))
    return [r["base_model"] for r in rows]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
