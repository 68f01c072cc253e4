"""What the database holds, in numbers: rows per table, the schema version, the last check.

One reading for both places that show it (Settings' database line and ``ffui db info``).
"""

from __future__ import annotations

from ffui.db.core import Database
from ffui.db.maintenance import CHECK_STATE_KEY, parse_last_check
from ffui.db.settings import get_state


async def table_counts(db: Database) -> dict[str, int]:
    """Rows in each table of the file (ffui's and any other), by table name in name order."""
    tables = [r["name"] for r in await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {t: await db.scalar(f'SELECT COUNT(*) FROM "{t}"') for t in tables}


async def schema_version(db: Database) -> int:
    return await db.scalar("PRAGMA user_version")


async def last_check(db: Database) -> dict | None:
    """The verdict ``ffui db check`` stored last (None: never checked, or unreadable)."""
    return parse_last_check(await get_state(db, CHECK_STATE_KEY))
