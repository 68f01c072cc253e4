"""Datasets stored in the database: scrape_sessions (one per dataset) and their pairs.

A session is a dataset (as in seed 001). ffui adds ``scrape_sessions.name`` (unique) and
``scraped_pairs.messages_json`` (a whole multi-turn conversation, so nothing past the first
exchange is lost). Pages are read by keyset on (session_id, id), never by loading a table.

This module is the seed-001 face (sessions: create, get, list, update, delete; pairs: add,
page, iterate, count) plus what ffui's datasets need of it: lookup by registry id, paging
backwards, whole-dataset reads on a plain sqlite3 connection (for worker threads) and deletes
that take the dataset's prompts and registry row along. The filling lifecycle and the chunked
bulk writes are in ``ffui.db.dataset_fill``.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from typing import Any, Iterable, Iterator

from ffui.db.core import Database

_PAIR_SQL = (
    "INSERT INTO scraped_pairs(session_id, input_text, output_text, source_url, metadata_json, messages_json) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
#: the columns of a pair that a dataset record is made of, in the order of a stored row tuple
PAIR_COLUMNS = "id, input_text, output_text, messages_json, metadata_json, source_url"
#: SQL: a scrape_sessions row that is not being filled (metadata written by other tools may not
#: be JSON at all)
SHOWN_SQL = ("(CASE WHEN json_valid(metadata_json) THEN json_extract(metadata_json, '$.filling') END) "
             "IS NULL")


def json_text(value: Any) -> str | None:
    """A value as it goes into a JSON column: text as it is, anything else as JSON."""
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
            json_text(p.get("metadata", p.get("metadata_json"))),
            json_text(p.get("messages", p.get("messages_json"))),
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
        (source, source_details, dataset_format, json_text(metadata), name),
    )
    return cur.lastrowid


async def add_scraped_pairs(db: Database, session_id: int, pairs: Iterable[dict]) -> int:
    """Insert pairs in one transaction (one executemany); returns how many were added.

    ``pairs`` may be a generator: it is consumed lazily in the database thread, so memory
    stays bounded by SQLite's page cache, not by the input. If it raises, nothing is kept.
    Each dict has ``input`` and ``output`` and optionally ``messages`` (list of
    {role, content}), ``metadata`` (dict) and ``source_url``. (For a new dataset of any size,
    ``ffui.db.dataset_fill`` writes in short transactions instead.)
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
    db: Database, session_id: int, limit: int | None = None, offset: int = 0, after_id: int | None = None,
    before_id: int | None = None, decode: bool = True,
) -> list[dict]:
    """A page of pairs in id order: keyset with ``after_id`` or ``before_id`` (the ``limit``
    rows just before it), or at ``offset``. All are index lookups at any depth (an offset is
    one too for a session whose ids are contiguous, as ffui writes them). ``decode``: also
    ``metadata`` and ``messages`` parsed from their JSON columns."""
    if before_id is not None:
        rows = await db.fetchall(
            "SELECT * FROM scraped_pairs WHERE session_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (session_id, before_id, -1 if limit is None else limit))
        rows.reverse()
    else:
        if after_id is None:
            after_id = await _id_before_offset(db, session_id, offset) if offset else -1
            if after_id is None:
                return []
        rows = await db.fetchall(
            "SELECT * FROM scraped_pairs WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?",
            (session_id, after_id, -1 if limit is None else limit))
    return [decode_pair(r) for r in rows] if decode else rows


async def _id_before_offset(db: Database, session_id: int, offset: int) -> int | None:
    """The id of the row just before row ``offset`` (None past the end): arithmetic when the
    session's ids are contiguous, else a walk of the (session_id, id) index."""
    b = await db.fetchone(
        "SELECT (SELECT id FROM scraped_pairs WHERE session_id = ?1 ORDER BY id LIMIT 1)"
        " AS lo, (SELECT id FROM scraped_pairs WHERE session_id = ?1 ORDER BY id DESC "
        "LIMIT 1) AS hi, (SELECT pair_count FROM scrape_sessions WHERE id = ?1) AS n",
        (session_id,))
    if b["lo"] is None:
        return None
    if b["n"] is not None and b["hi"] - b["lo"] + 1 == b["n"]:
        return b["lo"] + offset - 1
    return await db.scalar("SELECT id FROM scraped_pairs WHERE session_id = ? ORDER BY id LIMIT 1 OFFSET ?",
                           (session_id, offset - 1))


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


# -- whole sessions on a plain sqlite3 connection (worker threads: WAL readers never block writers)


def iter_stored_pairs(conn: sqlite3.Connection, session_id: int, batch: int = 2000) -> Iterator[tuple]:
    """``(id, input_text, output_text, messages_json, metadata_json, source_url)`` in id order."""
    cur = conn.execute(f"SELECT {PAIR_COLUMNS} FROM scraped_pairs WHERE session_id = ? ORDER BY id",
                       (session_id,))
    try:
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            yield from rows
    finally:
        cur.close()


def get_pair_ids(conn: sqlite3.Connection, session_id: int) -> list[int]:
    """The ids of a session's pairs, in order."""
    return [r[0] for r in conn.execute("SELECT id FROM scraped_pairs WHERE session_id = ? ORDER BY id",
                                       (session_id,))]


def iter_pairs_by_id(conn: sqlite3.Connection, ids: Iterable[int], batch: int = 500) -> Iterator[tuple]:
    """``(input_text, output_text, messages_json, metadata_json, source_url)`` of the pairs
    ``ids``, in the order given (a missing id is skipped); read ``batch`` ids a query, not one."""
    it = iter(ids)
    while chunk := list(itertools.islice(it, batch)):
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, input_text, output_text, messages_json, metadata_json, source_url FROM scraped_pairs "
            f"WHERE id IN ({','.join('?' * len(chunk))})", chunk)}
        yield from (rows[i] for i in chunk if i in rows)


# -- sessions --------------------------------------------------------------------------------------


async def get_scrape_session(db: Database, session_id: int) -> dict | None:
    return await db.fetchone("SELECT * FROM scrape_sessions WHERE id = ?", (session_id,))


async def get_scrape_session_by_name(db: Database, name: str) -> dict | None:
    return await db.fetchone("SELECT * FROM scrape_sessions WHERE name = ?", (name,))


async def get_scrape_session_by_registry_id(db: Database, registry_id: str) -> dict | None:
    """The session whose registry (``datasets``) row is ``registry_id``."""
    return await db.fetchone(
        "SELECT * FROM scrape_sessions WHERE json_extract(metadata_json, '$.registry_id') = ?", (registry_id,))


async def list_scrape_sessions(db: Database, limit: int | None = None, *, filling: bool | None = None,
                               newest_first: bool = True) -> list[dict]:
    """Sessions, newest first (or oldest first). ``filling``: None all, False only the shown
    ones (not being filled), True only those an import or merge is filling."""
    where = {None: "", False: f" WHERE {SHOWN_SQL}", True: f" WHERE NOT {SHOWN_SQL}"}[filling]
    sql = f"SELECT * FROM scrape_sessions{where} ORDER BY id {'DESC' if newest_first else 'ASC'}"
    if limit:
        return await db.fetchall(sql + " LIMIT ?", (limit,))
    return await db.fetchall(sql)


async def update_scrape_session(db: Database, session_id: int, **fields: Any) -> None:
    allowed = {"source", "source_details", "dataset_format", "pair_count", "metadata_json", "name"}
    if "metadata" in fields:
        fields["metadata_json"] = json_text(fields.pop("metadata"))
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"unknown scrape_sessions fields: {', '.join(sorted(bad))}")
    if not fields:
        return
    cols = ", ".join(f"{k} = ?" for k in fields)
    await db.write(
        f"UPDATE scrape_sessions SET {cols}, updated_at = datetime('now') WHERE id = ?", (*fields.values(), session_id)
    )


async def set_scrape_session_registry_id(db: Database, session_id: int, registry_id: str) -> None:
    """Record a session's registry (``datasets``) row in its metadata (inside the caller's
    transaction, if any)."""
    await db.write(
        "UPDATE scrape_sessions SET metadata_json = json_set(CASE WHEN json_valid(metadata_json) "
        "THEN metadata_json ELSE '{}' END, '$.registry_id', ?) WHERE id = ?", (registry_id, session_id))


def session_metadata(session: dict) -> dict:
    """A session's ``metadata_json`` as a dict (empty when absent or not a JSON object: other
    tools write it too)."""
    try:
        meta = json.loads(session.get("metadata_json") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


async def delete_scrape_session(db: Database, session_id: int) -> dict | None:
    """Delete a dataset, its pairs and its registry row (kept, marked 'deleted from ffui', while a
    training run refers to it); prompts bound to it are unbound. Returns ``{"id", "pairs",
    "unbound_prompts"}`` (their names), or None if there is no such session. One transaction."""
    async with db.transaction():
        session = await get_scrape_session(db, session_id)
        if session is None:
            return None
        rid = session_metadata(session).get("registry_id")
        unbound: list[str] = []
        if rid:
            unbound = [r["name"] for r in await db.fetchall("SELECT name FROM prompts WHERE dataset_id = ?", (rid,))]
            await db.execute("UPDATE prompts SET dataset_id = NULL WHERE dataset_id = ?", (rid,))
        cur = await db.execute("DELETE FROM scraped_pairs WHERE session_id = ?", (session_id,))
        pairs = cur.rowcount
        await db.execute("DELETE FROM scrape_sessions WHERE id = ?", (session_id,))
        if rid:
            used = await db.scalar("SELECT COUNT(*) FROM training_runs WHERE registry_dataset_id = ?", (rid,))
            if used:
                await db.execute("UPDATE datasets SET description = 'deleted from ffui' WHERE id = ?", (rid,))
            else:
                await db.execute("DELETE FROM datasets WHERE id = ?", (rid,))
    return {"id": session_id, "pairs": pairs, "unbound_prompts": unbound}
