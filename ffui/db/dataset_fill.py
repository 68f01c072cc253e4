"""Filling a new dataset: the ``filling`` marker, chunked bulk inserts, and the clean-up.

A dataset that an import, a merge or an operation is writing is a ``scrape_sessions`` row whose
metadata has ``filling`` (the writing process's identity, see ``ffui.procs.identity``): hidden
from lists, refused by lookups. Rows go in through ``executemany`` in transactions of about
``FILL_CHUNK_S`` seconds, ``FILL_PAUSE_S`` apart, so other writers (supervisors, the UI) never
wait long. :func:`finish_filling_session` counts the rows and shows the dataset;
:func:`drop_abandoned_sessions` removes those whose writer died halfway.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import time
from typing import Any, Callable, Iterable

from ffui.db.catalog import create_dataset
from ffui.db.core import Database, utcnow
from ffui.db.scraped_data import (delete_scrape_session, json_text, list_scrape_sessions,
                                  session_metadata)
from ffui.procs import identity_alive

#: how long one write transaction of a fill goes on (its rows adapt to it): between two,
#: supervisors, the UI and the CLI get the database
FILL_CHUNK_S = 2.0
#: the pause after each. SQLite has no queue for the write lock: a waiting writer polls, every
#: 100 ms once it has waited a while, so a shorter gap is almost never seen (measured: with no
#: pause, a writer with a 1 s busy timeout failed during chunked imports). The parser fills
#: its queue meanwhile; the pauses cost about 5% of an import's speed (docs/benchmarks.md).
FILL_PAUSE_S = 0.11


class NameTaken(Exception):
    """A dataset of that name exists already (raised by :func:`create_filling_session`)."""


def filling_owner(session: dict) -> dict | None:
    """The identity of the process filling ``session``, None for a finished dataset."""
    return session_metadata(session).get("filling")


async def create_filling_session(db: Database, *, name: str, owner: dict, source: str,
                                 source_details: str | None, dataset_format: str, metadata: dict,
                                 registry: dict) -> int:
    """A new session marked ``filling`` by ``owner`` and its registry (``datasets``) row, made
    from ``registry`` (create_dataset's fields), in one transaction; the registry id goes into
    the session's metadata. Raises NameTaken."""
    meta = dict(metadata, filling=owner)
    async with db.transaction():
        try:
            cur = await db.execute(
                "INSERT INTO scrape_sessions(source, source_details, dataset_format, pair_count, "
                "metadata_json, name, updated_at) VALUES (?, ?, ?, 0, ?, ?, datetime('now'))",
                (source, source_details, dataset_format, json.dumps(meta, ensure_ascii=False), name))
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None
        sid = cur.lastrowid
        meta["registry_id"] = await create_dataset(db, **registry)
        await db.execute("UPDATE scrape_sessions SET metadata_json = ? WHERE id = ?",
                         (json.dumps(meta, ensure_ascii=False), sid))
    return sid


def _insert_sql(session_id: int, with_source_url: bool) -> str:
    # The session id and the timestamp are ours, so they go into the statement as constants:
    # rows stay 4-tuples, and SQLite does not evaluate datetime('now') once per row (one
    # transaction, one time).
    url_col, url_val = (", source_url", ", ?") if with_source_url else ("", "")
    return (f"INSERT INTO scraped_pairs(session_id, input_text, output_text, messages_json, "
            f"metadata_json{url_col}, created_at) VALUES ({int(session_id)}, ?, ?, ?, ?{url_val}, "
            f"'{utcnow()}')")


async def fill_scraped_pairs(db: Database, session_id: int, rows: Iterable[tuple], *,
                             with_source_url: bool = False) -> int:
    """Insert stored tuples ``(input_text, output_text, messages_json, metadata_json)`` (plus
    ``source_url`` with ``with_source_url``) into session ``session_id`` in transactions of about
    ``FILL_CHUNK_S`` seconds, ``FILL_PAUSE_S`` apart; ``pair_count`` follows. ``rows`` is read
    lazily in the database thread and closed at the end. Returns how many rows went in."""
    sql = _insert_sql(session_id, with_source_url)
    it = iter(rows)
    total, chunk = 0, 5_000
    try:
        while True:
            t0 = time.perf_counter()
            async with db.transaction():
                n = await db.executemany(sql, itertools.islice(it, chunk))
                if n:
                    await db.execute("UPDATE scrape_sessions SET pair_count = pair_count + ? WHERE id = ?",
                                     (n, session_id))
            total += n
            if n < chunk:
                return total
            took = max(time.perf_counter() - t0, 1e-3)
            chunk = int(min(max(chunk * FILL_CHUNK_S / took, 1_000), chunk * 4, 1_000_000))
            await asyncio.sleep(FILL_PAUSE_S)  # the producer runs on meanwhile, into its queue
    finally:
        close = getattr(it, "close", None)
        if close is not None:  # a producer thread behind it stops now, not at garbage collection
            close()


async def finish_filling_session(db: Database, session_id: int, report: dict | None = None) -> int:
    """Count a filled session's rows and show it (no longer ``filling``); ``report`` (an
    import's) is kept in its metadata as ``import``. Returns the row count."""
    text = json.dumps(report) if report is not None else None
    async with db.transaction():
        n = await db.scalar("SELECT COUNT(*) FROM scraped_pairs WHERE session_id = ?", (session_id,))
        await db.execute(
            "UPDATE scrape_sessions SET pair_count = ?, updated_at = datetime('now'), metadata_json = "
            "json_remove(CASE WHEN ? IS NULL THEN metadata_json ELSE json_set(metadata_json, '$.import', "
            "json(?)) END, '$.filling') WHERE id = ?", (n, text, text, session_id))
    return n


async def drop_filling_session(db: Database, session_id: int) -> None:
    """Remove a session that is still ``filling`` (a fill that failed or was cancelled); a
    finished one is left alone."""
    async with db.transaction():
        row = await db.fetchone("SELECT metadata_json FROM scrape_sessions WHERE id = ?", (session_id,))
        if row is not None and filling_owner(row):
            await delete_scrape_session(db, session_id)


async def drop_abandoned_sessions(db: Database,
                                  owner_alive: Callable[[dict | None], bool] = identity_alive) -> int:
    """Remove the sessions left ``filling`` by a process that is gone (``owner_alive(owner)``
    false). Returns how many went."""
    dropped = 0
    for row in await list_scrape_sessions(db, filling=True):
        if not owner_alive(filling_owner(row)):
            await delete_scrape_session(db, row["id"])
            dropped += 1
    return dropped


@contextlib.asynccontextmanager
async def bulk_cache(db: Database, kib: int = 32768):
    """A bigger page cache for one bulk write (fewer pages spilled to the WAL mid-transaction
    and written again), restored afterwards."""
    old = await db.scalar("PRAGMA cache_size")
    await db.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        await db.execute(f"PRAGMA cache_size = {int(old)}")


def stored_pair(record: dict[str, Any]) -> tuple:
    """A record (``input``/``output``/``messages``/``metadata``/``source_url``, or the column
    names) as the 5-tuple :func:`fill_scraped_pairs` takes ``with_source_url``."""
    return (record.get("input", record.get("input_text", "")),
            record.get("output", record.get("output_text", "")),
            json_text(record.get("messages", record.get("messages_json"))),
            json_text(record.get("metadata", record.get("metadata_json"))),
            record.get("source_url"))
