"""Datasets stored in the database: scrape_sessions (one per dataset) and their pairs.

A session is a dataset (as in seed 001). ffui adds ``scrape_sessions.name`` (unique) and
``scraped_pairs.messages_json`` (a whole multi-turn conversation, so nothing past the first
exchange is lost). Pages are read by keyset on (session_id, id), never by loading a table.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from ffui.db.core import Database

_PAIR_SQL = (
    "INSERT INTO scraped_pairs(session_id, input_text, output_text, source_url, metadata_json, messages_json) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def pair_rows(session_id: int, pairs: Iterable[dict]) -> Iterator[tuple]:
    """Turn pair dicts into insert tuples lazily, so a generator of any length streams."""
    for p in pairs:
        yield (
            session_id,
            p.get("input", p.get("input_text", "")),
            p.get("output", p.get("output_text", "")),
            p.get("source_url"),
            _dumps(p.get("metadata", p.get("metadata_json"))),
            _dumps(p.get("messages", p.get("messages_json"))),
        )


async def create_scrape_session(
    db: Database,
    source: str,
    source_details: str | None = None,
    dataset_format: str = "standard",
    metadata: dict | None = None,
    name: str | None = None,
) -> int:
    cur = await db.write(
        "INSERT INTO scrape_sessions(source, source_details, dataset_format, metadata_json, name, updated_at) "
        "VALUES (?, ?, ?, ?, ?, datetime('now'))",
        (source, source_details, dataset_format, _dumps(metadata), name),
    )
    return cur.lastrowid


async def add_scraped_pairs(db: Database, session_id: int, pairs: Iterable[dict]) -> int:
    """Insert pairs in one transaction (one executemany); returns how many were added.

    ``pairs`` may be a generator: it is consumed lazily in the database thread, so memory
    stays bounded by SQLite's page cache, not by the input. If it raises, nothing is kept.
    Each dict has ``input`` and ``output`` and optionally ``messages`` (list of
    {role, content}), ``metadata`` (dict) and ``source_url``.
    """
    async with db.transaction():
        cur = await db.conn.executemany(_PAIR_SQL, pair_rows(session_id, pairs))
        added = cur.rowcount
        await db.execute(
            "UPDATE scrape_sessions SET pair_count = COALESCE(pair_count, 0) + ?, updated_at = datetime('now') "
            "WHERE id = ?",
            (added, session_id),
        )
    return added


def decode_pair(row: dict) -> dict:
    row["metadata"] = json.loads(row["metadata_json"]) if row.get("metadata_json") else None
    row["messages"] = json.loads(row["messages_json"]) if row.get("messages_json") else None
    return row


async def get_pairs_for_session(
    db: Database, session_id: int, limit: int | None = None, offset: int = 0, after_id: int | None = None
) -> list[dict]:
    """A page of pairs in id order: keyset with ``after_id`` (fast at any depth) or offset."""
    sql = "SELECT * FROM scraped_pairs WHERE session_id = ?"
    params: list[Any] = [session_id]
    if after_id is not None:
        sql += " AND id > ?"
        params.append(after_id)
    sql += " ORDER BY id"
    if limit is not None or offset:
        sql += " LIMIT ? OFFSET ?"
        params += [limit if limit is not None else -1, 0 if after_id is not None else offset]
    return [decode_pair(r) for r in await db.fetchall(sql, params)]


async def iter_pairs(db: Database, session_id: int, batch: int = 5000):
    """All pairs of a session, page by page (keyset), without holding them all."""
    after = 0
    while True:
        page = await get_pairs_for_session(db, session_id, limit=batch, after_id=after)
        if not page:
            return
        for row in page:
            yield row
        after = page[-1]["id"]


async def count_pairs(db: Database, session_id: int) -> int:
    return await db.scalar("SELECT COUNT(*) FROM scraped_pairs WHERE session_id = ?", (session_id,))


async def get_scrape_session(db: Database, session_id: int) -> dict | None:
    return await db.fetchone("SELECT * FROM scrape_sessions WHERE id = ?", (session_id,))


async def get_scrape_session_by_name(db: Database, name: str) -> dict | None:
    return await db.fetchone("SELECT * FROM scrape_sessions WHERE name = ?", (name,))


async def list_scrape_sessions(db: Database, limit: int | None = None) -> list[dict]:
    sql = "SELECT * FROM scrape_sessions ORDER BY id DESC"
    if limit:
        return await db.fetchall(sql + " LIMIT ?", (limit,))
    return await db.fetchall(sql)


async def update_scrape_session(db: Database, session_id: int, **fields: Any) -> None:
    allowed = {"source", "source_details", "dataset_format", "pair_count", "metadata_json", "name"}
    if "metadata" in fields:
        fields["metadata_json"] = _dumps(fields.pop("metadata"))
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"unknown scrape_sessions fields: {', '.join(sorted(bad))}")
    if not fields:
        return
    cols = ", ".join(f"{k} = ?" for k in fields)
    await db.write(
        f"UPDATE scrape_sessions SET {cols}, updated_at = datetime('now') WHERE id = ?", (*fields.values(), session_id)
    )


async def delete_scrape_session(db: Database, session_id: int) -> bool:
    """Delete a dataset and (by the ON DELETE CASCADE key) its pairs."""
    cur = await db.write("DELETE FROM scrape_sessions WHERE id = ?", (session_id,))
    return cur.rowcount > 0
