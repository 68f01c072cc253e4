"""Evaluation jobs: seed 000's ``evaluation_jobs`` (the evaluation's record) and
``evaluation_models`` (each model it compares, with that model's metrics).

The job that runs an evaluation is a training_runs row of kind "evaluation"
(``evaluation_jobs.job_run_id``); its predictions are files in that row's directory. An
evaluation is named to the user by that job's run id (what ``ffui runs list`` shows) or by
its own uuid.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from typing import Any

from ffui.db.core import Database


async def create_evaluation(db: Database, *, job_run_id: int, name: str, models: list[dict],
                            **fields: Any) -> str:
    """The evaluation's row and one row per model compared (``models``: name, adapter_id,
    adapter_path, source_run_id, in the order the compare table shows them). Returns its id."""
    eval_id = str(uuid.uuid4())
    cols = {"id": eval_id, "type": "evaluation", "job_run_id": job_run_id, "name": name,
            "created_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"), **fields}
    for key in ("metrics_requested", "generation_config"):
        if cols.get(key) is not None and not isinstance(cols[key], str):
            cols[key] = json.dumps(cols[key])
    async with db.transaction():
        await db.execute(f"INSERT INTO evaluation_jobs({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                         tuple(cols.values()))
        await db.executemany(
            "INSERT INTO evaluation_models(evaluation_id, position, name, adapter_id, adapter_path, source_run_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(eval_id, i, m["name"], m.get("adapter_id"), m.get("adapter_path"), m.get("source_run_id"))
             for i, m in enumerate(models)])
    return eval_id


def _decoded(row: dict | None) -> dict | None:
    if row is None:
        return None
    for key in ("metrics_requested", "generation_config"):
        try:
            row[key] = json.loads(row[key]) if row.get(key) else None
        except ValueError:
            row[key] = None
    return row


async def evaluation_models(db: Database, eval_id: str) -> list[dict]:
    """The models an evaluation compares, in order, each with ``metrics`` (a dict)."""
    rows = await db.fetchall("SELECT * FROM evaluation_models WHERE evaluation_id = ? ORDER BY position", (eval_id,))
    for r in rows:
        try:
            r["metrics"] = json.loads(r.pop("metrics_json") or "{}")
        except ValueError:
            r["metrics"] = {}
    return rows


async def get_evaluation(db: Database, ref: str | int) -> dict | None:
    """An evaluation by its job's run id (a number), its id, or the start of its id; with its
    ``models`` and the job's ``status``. None: no such evaluation (or the start fits several)."""
    text = str(ref).strip()
    sql = ("SELECT e.*, r.status AS status, r.storage_path AS storage_path, r.error_message AS error_message "
           "FROM evaluation_jobs e LEFT JOIN training_runs r ON r.id = e.job_run_id ")
    if text.isdigit():
        rows = await db.fetchall(sql + "WHERE e.job_run_id = ?", (int(text),))
    else:
        rows = await db.fetchall(sql + "WHERE e.id = ?", (text,)) or (
            await db.fetchall(sql + "WHERE e.id LIKE ? LIMIT 2", (text.replace("%", "") + "%",)) if len(text) >= 4 else [])
    if len(rows) != 1:
        return None
    row = _decoded(rows[0])
    row["models"] = await evaluation_models(db, row["id"])
    return row


async def list_evaluations(db: Database, limit: int = 100) -> list[dict]:
    """The newest evaluations with their job's status and the names of the models compared."""
    rows = await db.fetchall(
        "SELECT e.id, e.job_run_id, e.name, e.dataset_name, e.split, e.rows_done, e.created_at, r.status AS status, "
        "(SELECT group_concat(name, ', ') FROM (SELECT name FROM evaluation_models m WHERE m.evaluation_id = e.id "
        "ORDER BY position)) AS model_names "
        "FROM evaluation_jobs e LEFT JOIN training_runs r ON r.id = e.job_run_id "
        "WHERE e.job_run_id IS NOT NULL ORDER BY e.job_run_id DESC LIMIT ?", (limit,))
    return rows


async def record_evaluation_results(db: Database, eval_id: str, rows_done: int, metrics: list[dict]) -> None:
    """Store what the worker measured: rows evaluated and each model's metrics (by position).
    Joins the caller's transaction (the job's outcome)."""
    async with db.transaction():
        await db.execute("UPDATE evaluation_jobs SET rows_done = ? WHERE id = ?", (rows_done, eval_id))
        await db.executemany(
            "UPDATE evaluation_models SET metrics_json = ? WHERE evaluation_id = ? AND position = ?",
            [(json.dumps(m), eval_id, i) for i, m in enumerate(metrics)])


async def evaluation_for_run(db: Database, job_run_id: int) -> str | None:
    """The id of the evaluation a job row runs (None: it runs none)."""
    return await db.scalar("SELECT id FROM evaluation_jobs WHERE job_run_id = ?", (job_run_id,))


async def latest_adapter_run(db: Database, name: str) -> dict | None:
    """The newest completed run of that name that saved an adapter (what ``--adapter NAME``
    means), else the newest run of that name (which then says why it has no adapter)."""
    from ffui.db.training_runs import get_training_run

    row_id = await db.scalar("SELECT id FROM training_runs WHERE name = ? "
                             "ORDER BY (status = 'completed' AND adapter_path IS NOT NULL) DESC, id DESC LIMIT 1",
                             (name,))
    return await get_training_run(db, row_id) if row_id else None


async def adapter_named(db: Database, name: str) -> dict | None:
    """The newest registered adapter of that name."""
    return await db.fetchone("SELECT * FROM adapters WHERE name = ? ORDER BY rowid DESC LIMIT 1", (name,))


__all__ = ["adapter_named", "latest_adapter_run", "create_evaluation", "evaluation_for_run", "evaluation_models", "get_evaluation", "list_evaluations",
           "record_evaluation_results"]
