"""A dataset's rows as canonical records: pages (keyset, both ways), counts, whole-dataset
streams in a worker thread, and the template fields of a few rows.

Records: ``id``, ``input``, ``output``, ``messages``, ``metadata``, ``source_url``
(``messages``/``metadata`` parsed, or left as JSON text with ``decode=False``). Whole-dataset
reads (export, stats, operations) run in a worker thread on their own connection (WAL: they
never block writers), so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Callable, Iterator

from ffui.db import get_pairs_for_session, iter_stored_pairs, open_sync

from .datasets import resolve, session_layout
from .formats import record_fields
from .ops import decode_record

#: ``(id, input_text, output_text, messages_json, metadata_json, source_url)`` in id order
iter_stored = iter_stored_pairs


def _record(r: dict, decode: bool = True) -> dict:
    rec = {"id": r["id"], "input": r["input_text"], "output": r["output_text"],
           "messages": r["messages_json"], "metadata": r["metadata_json"],
           "source_url": r["source_url"]}
    return decode_record(rec) if decode else rec


async def _session_id(db, dataset) -> int:
    return dataset if isinstance(dataset, int) else (await resolve(db, dataset))["id"]


async def count(db, dataset) -> int:
    """Rows in a dataset (the stored ``pair_count``: no scan)."""
    s = await resolve(db, dataset)
    return s["pair_count"] or 0


async def page(db, dataset, *, limit: int = 50, offset: int = 0, after_id: int | None = None,
               decode: bool = True) -> list[dict]:
    """A page of records in id order: after ``after_id`` (keyset) or at ``offset``.

    Both are index lookups (no scan) for datasets ffui wrote, whose ids are contiguous; for
    others an offset walks the (session_id, id) index.
    """
    rows = await get_pairs_for_session(db, await _session_id(db, dataset), limit=limit,
                                       offset=offset, after_id=after_id, decode=False)
    return [_record(r, decode) for r in rows]


async def page_before(db, dataset, before_id: int, *, limit: int = 50,
                      decode: bool = True) -> list[dict]:
    """The ``limit`` records just before ``before_id``, in id order (keyset)."""
    rows = await get_pairs_for_session(db, await _session_id(db, dataset), limit=limit,
                                       before_id=before_id, decode=False)
    return [_record(r, decode) for r in rows]


async def record_fields_sample(db, dataset, n: int = 1, offset: int = 0) -> list[dict]:
    """Template fields of a few rows (what a prompt template can name)."""
    s = await resolve(db, dataset)
    lay = session_layout(s)
    return [record_fields(r, lay) for r in await page(db, s, limit=n, offset=offset)]


async def field_names(db, dataset) -> list[str]:
    """The placeholder names a prompt template for this dataset may use."""
    s = await resolve(db, dataset)
    lay = session_layout(s)
    names = dict.fromkeys(["input", "output"])
    if lay.format == "alpaca":
        names.update(dict.fromkeys(["instruction"]))
    if lay.is_chat:
        names.update(dict.fromkeys(["system"]))
    else:
        names.update(dict.fromkeys(lay.key_order))
    for r in await record_fields_sample(db, s, 1):
        names.update(dict.fromkeys(r))
    return list(names)


# -- whole-dataset reads (worker thread, own connection) -----------------------------------------


def sync_conn(db) -> sqlite3.Connection:
    """A plain connection to ``db``'s file, for reading in a worker thread."""
    return open_sync(db.path, migrate_schema=False)


def iter_records_sync(conn: sqlite3.Connection, sid: int) -> Iterator[dict]:
    for r in iter_stored_pairs(conn, sid):
        yield {"id": r[0], "input": r[1], "output": r[2], "messages": r[3], "metadata": r[4],
               "source_url": r[5]}


async def in_thread(db, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    """``fn(conn)`` in a worker thread, on a connection of its own (closed afterwards)."""
    def work():
        conn = sync_conn(db)
        try:
            return fn(conn)
        finally:
            conn.close()
    return await asyncio.to_thread(work)
