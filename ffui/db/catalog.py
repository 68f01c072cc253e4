"""The seed-000 registry: models, datasets, adapters, prompts, configs, evaluation_jobs.

Primary keys are UUID strings (as in seed 000). Each table gets create/get/list/update/
delete functions with plain names (``create_model``, ``list_adapters`` ...), all thin
wrappers around one table description, so the tables cannot drift apart in behaviour.
"""

from __future__ import annotations

import sqlite3
import unicodedata
import uuid
from typing import Any

from ffui.db.core import Database
from ffui.errors import FfuiError

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "models": (
        "id", "type", "framework", "name", "description", "huggingface_model_name", "location",
        "cml_registered_model_id", "mlflow_experiment_id", "mlflow_run_id",
    ),
    "datasets": ("id", "type", "name", "description", "huggingface_name", "location", "features"),
    "adapters": (
        "id", "type", "name", "description", "huggingface_name", "model_id", "location", "fine_tuning_job_id",
        "prompt_id", "cml_registered_model_id", "mlflow_experiment_id", "mlflow_run_id",
    ),
    "prompts": (
        "id", "type", "name", "description", "dataset_id", "prompt_template", "input_template", "completion_template",
    ),
    "configs": ("id", "type", "description", "config", "model_family", "is_default"),
    "evaluation_jobs": (
        "id", "type", "cml_job_id", "parent_job_id", "base_model_id", "dataset_id", "prompt_id", "num_workers",
        "adapter_id", "num_cpu", "num_gpu", "num_memory", "evaluation_dir", "model_bnb_config_id",
        "adapter_bnb_config_id", "generation_config_id", "model_bnb_config", "adapter_bnb_config", "generation_config",
    ),
}


class CatalogError(FfuiError, ValueError):
    """A row the user asked for cannot be written; str() is one line."""


MAX_NAME_CHARS = 200
_KIND = {"models": "model", "datasets": "dataset", "adapters": "adapter", "configs": "config",
         "prompts": "prompt", "evaluation_jobs": "evaluation job"}


def _breaks_lines(ch: str) -> bool:
    # control characters (newline, tab, escape) and the Unicode line/paragraph separators
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def check_name(kind: str, name: str) -> str:
    """A name as stored: stripped, one line (it is shown in lists and tables), not empty, bounded."""
    name = (name or "").strip()
    if not name:
        raise CatalogError(f"a {kind} needs a name")
    if any(_breaks_lines(ch) for ch in name):
        shown = repr(name[:60]) + ("..." if len(name) > 60 else "")
        raise CatalogError(f"a {kind} name must be one line of text, without newlines, tabs or control "
                           f"characters (got {shown}); choose another name")
    if len(name) > MAX_NAME_CHARS:
        raise CatalogError(f"a {kind} name is at most {MAX_NAME_CHARS} characters (got {len(name):,}); choose a shorter one")
    return name


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters made spaces: for names ffui makes up."""
    return " ".join("".join(" " if _breaks_lines(ch) else ch for ch in text).split())[:MAX_NAME_CHARS]


def _check(table: str, fields: dict[str, Any]) -> None:
    bad = set(fields) - set(TABLE_COLUMNS[table])
    if bad:
        raise CatalogError(f"{table} has no column {', '.join(sorted(bad))}")


async def create_row(db: Database, table: str, **fields: Any) -> str:
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.setdefault("id", str(uuid.uuid4()))
    _check(table, fields)
    if "name" in fields:
        fields["name"] = check_name(_KIND.get(table, table), fields["name"])
    cols = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    try:
        await db.write(f"INSERT INTO {table}({cols}) VALUES ({marks})", tuple(fields.values()))
    except sqlite3.IntegrityError as exc:
        raise CatalogError(f"cannot add to {table}: {_explain(exc)}") from None
    return fields["id"]


async def get_row(db: Database, table: str, row_id: str) -> dict | None:
    return await db.fetchone(f"SELECT * FROM {table} WHERE id = ?", (row_id,))


async def list_rows(db: Database, table: str, **where: Any) -> list[dict]:
    _check(table, where)
    sql = f"SELECT * FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
    order = "name" if "name" in TABLE_COLUMNS[table] else "id"
    return await db.fetchall(sql + f" ORDER BY {order}", tuple(where.values()))


async def update_row(db: Database, table: str, row_id: str, **fields: Any) -> bool:
    _check(table, fields)
    if not fields:
        return False
    if fields.get("name") is not None:
        fields["name"] = check_name(_KIND.get(table, table), fields["name"])
    cols = ", ".join(f"{k} = ?" for k in fields)
    try:
        cur = await db.write(f"UPDATE {table} SET {cols} WHERE id = ?", (*fields.values(), row_id))
    except sqlite3.IntegrityError as exc:
        raise CatalogError(f"cannot update {table} {row_id}: {_explain(exc)}") from None
    return cur.rowcount > 0


async def delete_row(db: Database, table: str, row_id: str) -> bool:
    try:
        cur = await db.write(f"DELETE FROM {table} WHERE id = ?", (row_id,))
    except sqlite3.IntegrityError:
        raise CatalogError(
            f"{table} {row_id} is still referenced by other rows (adapters, prompts, runs or evaluations); "
            "delete or re-point those first"
        ) from None
    return cur.rowcount > 0


def _explain(exc: sqlite3.IntegrityError) -> str:
    msg = str(exc)
    if "FOREIGN KEY" in msg:
        return "it refers to a model, dataset, prompt, adapter, config or run that does not exist"
    if "UNIQUE" in msg:
        return "a row with that id exists already"
    return msg


def _bind(table: str):
    async def create(db: Database, **fields: Any) -> str:
        return await create_row(db, table, **fields)

    async def get(db: Database, row_id: str) -> dict | None:
        return await get_row(db, table, row_id)

    async def list_(db: Database, **where: Any) -> list[dict]:
        return await list_rows(db, table, **where)

    async def update(db: Database, row_id: str, **fields: Any) -> bool:
        return await update_row(db, table, row_id, **fields)

    async def delete(db: Database, row_id: str) -> bool:
        return await delete_row(db, table, row_id)

    return create, get, list_, update, delete


create_model, get_model, list_models, update_model, delete_model = _bind("models")
create_dataset, get_dataset, list_datasets, update_dataset, delete_dataset = _bind("datasets")
create_adapter, get_adapter, list_adapters, update_adapter, delete_adapter = _bind("adapters")
create_prompt, get_prompt, list_prompts, update_prompt, delete_prompt = _bind("prompts")
create_config, get_config, list_configs, update_config, delete_config = _bind("configs")
(
    create_evaluation_job,
    get_evaluation_job,
    list_evaluation_jobs,
    update_evaluation_job,
    delete_evaluation_job,
) = _bind("evaluation_jobs")


# -- lookups the front ends and the job manager share ---------------------------------------


async def find_model(db: Database, ref: str) -> dict | None:
    """The registered model ``ref`` names: its id, name, hub id or location, or the start of its id
    (as ``ffui models list`` shows it). An exact id wins, then a name, hub id or location; an id
    start that fits several models is refused (None: no model fits)."""
    ref = (ref or "").strip()
    if not ref:
        return None
    row = await db.fetchone(
        "SELECT * FROM models WHERE id = ? OR name = ? OR huggingface_model_name = ? OR location = ? "
        "ORDER BY (id = ?) DESC, rowid LIMIT 1", (ref, ref, ref, ref, ref))
    if row is not None:
        return row
    # instr, not LIKE: an id start holding _ or % is not a pattern
    rows = await db.fetchall("SELECT * FROM models WHERE instr(id, ?) = 1 LIMIT 2", (ref,))
    if len(rows) > 1:
        raise CatalogError(f"{ref!r} starts the ids of several models; give more of the id (see: ffui models list)")
    return rows[0] if rows else None


async def list_recent_models(db: Database, limit: int = 200) -> list[dict]:
    """The newest registered models: id, name, hub id and location."""
    return await db.fetchall(
        "SELECT id, name, huggingface_model_name, location FROM models ORDER BY rowid DESC LIMIT ?", (limit,))


# Registered adapters (by name) with their base model and the run that made them, then the
# adapters of the newest runs that are not registered: one query, not one per adapter.
_CHAT_CHOICES_SQL = """
SELECT 0 AS part, COALESCE(NULLIF(a.name, ''), a.location) AS label, a.location AS path, r.id AS run_id,
       COALESCE(NULLIF(m.location, ''), NULLIF(m.huggingface_model_name, ''), '') AS base, a.name AS sort_name,
       0 AS sort_id
FROM adapters a
LEFT JOIN models m ON m.id = a.model_id
LEFT JOIN training_runs r ON r.job_uuid = a.fine_tuning_job_id AND a.fine_tuning_job_id != ''
WHERE a.location IS NOT NULL AND a.location != ''
UNION ALL
SELECT 1, name, adapter_path, id, COALESCE(base_model, ''), NULL, id
FROM (SELECT id, name, base_model, adapter_path FROM training_runs WHERE adapter_path IS NOT NULL
      ORDER BY id DESC LIMIT ?)
ORDER BY part, sort_name, sort_id DESC
"""


async def list_chat_choices(db: Database, runs_limit: int = 200) -> list[dict]:
    """What the Playground offers to chat with: each adapter once, by path, as
    ``{"label", "path", "run_id", "base"}`` (run_id: the run that trained it, if known; base:
    the model to load it on). Registered adapters come first, by name, then those of the newest
    ``runs_limit`` runs that are not registered."""
    found: dict[str, dict] = {}
    for r in await db.fetchall(_CHAT_CHOICES_SQL, (runs_limit,)):
        if r["part"] == 1 and r["path"] in found:
            continue  # a registered adapter says more (its name) than its run does
        label = r["label"] or r["path"]
        if r["run_id"] is not None:
            label += f" (run {r['run_id']})"
        found[r["path"]] = {"label": label, "path": r["path"], "run_id": r["run_id"], "base": r["base"] or ""}
    return list(found.values())
