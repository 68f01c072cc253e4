"""Settings (key-value, seed 001) and app_state.

Keys use dot notation (``huggingface.token``, ``runpod.api_key``). Secret keys are stored
like any other but are masked when listed, left out of exports by default, and their values
are redacted from logs (which keys are secret, and the redaction: ``ffui.db.secrets``).
"""

from __future__ import annotations

import json
from typing import Any

from ffui.db.core import Database
from ffui.db.secrets import is_secret_key, mask_secret, register_secret


async def get_setting(db: Database, key: str, default: Any = None) -> Any:
    row = await db.fetchone("SELECT value FROM settings WHERE key = ?", (key,))
    return row["value"] if row else default


async def set_setting(db: Database, key: str, value: Any) -> None:
    if not isinstance(value, str):
        value = json.dumps(value)
    await db.write(
        "INSERT INTO settings(key, value, updated_at) VALUES(?, ?, datetime('now')) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (key, value),
    )
    if is_secret_key(key):
        register_secret(value)


async def delete_setting(db: Database, key: str) -> bool:
    cur = await db.write("DELETE FROM settings WHERE key = ?", (key,))
    return cur.rowcount > 0


async def list_settings(db: Database, *, mask_secrets: bool = True) -> list[dict]:
    rows = await db.fetchall("SELECT key, value, updated_at FROM settings ORDER BY key")
    for r in rows:
        r["secret"] = is_secret_key(r["key"])
        if mask_secrets and r["secret"]:
            r["value"] = mask_secret(r["value"])
    return rows


async def secret_values(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT key, value FROM settings")
    return [r["value"] for r in rows if is_secret_key(r["key"]) and r["value"]]


async def get_state(db: Database, key: str, default: str | None = None) -> str | None:
    row = await db.fetchone("SELECT value FROM app_state WHERE key = ?", (key,))
    return row["value"] if row else default


async def set_state(db: Database, key: str, value: str | None) -> None:
    await db.write(
        "INSERT INTO app_state(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
