"""Saved training configurations (seed 001's training_configs)."""

from __future__ import annotations

import json
from typing import Any

from ffui.db.catalog import check_name
from ffui.db.core import Database


def config_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The training settings a stored config holds: ffui saves them as ``{"hp": {...}}`` (beside
    the model and the dataset); older and hand-written configs are the settings themselves."""
    hp = config.get("hp")
    return dict(hp) if isinstance(hp, dict) else dict(config)


def _decode(row: dict | None) -> dict | None:
    if row is None:
        return None
    row["config"] = json.loads(row["config_json"]) if row.get("config_json") else {}
    return row


async def save_training_config(db: Database, name: str, config: dict[str, Any], train_target: str | None = None) -> int:
    """Insert or replace the named config; returns its id."""
    name = check_name("config", name)
    text = json.dumps(config, sort_keys=True)
    async with db.transaction():
        await db.execute(
            "INSERT INTO training_configs(name, config_json, train_target) VALUES(?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET config_json = excluded.config_json, "
            "train_target = excluded.train_target, updated_at = datetime('now')",
            (name, text, train_target),
        )
        return await db.scalar("SELECT id FROM training_configs WHERE name = ?", (name,))


async def get_training_config(db: Database, name_or_id: str | int) -> dict | None:
    """The config row (with ``config`` decoded) by name, or by id when given an int."""
    if isinstance(name_or_id, int):
        return _decode(await db.fetchone("SELECT * FROM training_configs WHERE id = ?", (name_or_id,)))
    return _decode(await db.fetchone("SELECT * FROM training_configs WHERE name = ?", (name_or_id,)))


async def list_training_configs(db: Database) -> list[dict]:
    rows = await db.fetchall("SELECT * FROM training_configs ORDER BY name")
    return [_decode(r) for r in rows]


async def delete_training_config(db: Database, name: str) -> bool:
    cur = await db.write("DELETE FROM training_configs WHERE name = ?", (name,))
    return cur.rowcount > 0
