"""The one way a new dataset is filled: imports, merges and operations (and the scrapers and
generators to come) all hand their rows to :func:`fill_dataset`.

The dataset is created at once, marked ``filling`` (hidden from lists, refused by ``resolve``),
filled in short transactions (``ffui.db.dataset_fill``: other writers never wait long), then
shown. A bad row (which raises), a cancel or an error removes it again: nothing is kept; a
dataset left ``filling`` by a process that died is removed by the next new dataset's name
check. ``progress(state)`` is called on the event loop about 5 times a second meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Iterable

from ffui.db import (NameTaken, bulk_cache, create_filling_session, drop_filling_session,
                     fill_scraped_pairs, finish_filling_session, stored_pair)
from ffui.procs import identity

from .errors import DataError
from .formats import Layout

Progress = Callable[[dict], None]


async def fill_dataset(db, *, name: str, layout: Layout, source: str, source_details: str | None,
                       meta: dict, registry: dict, rows: Iterable[tuple] | None = None,
                       records: Iterable[dict] | None = None,
                       with_source_url: bool = False,
                       report: Callable[[int], dict | None] | None = None,
                       keep_filling: bool = False,
                       progress: Progress | None = None,
                       progress_state: Callable[[], dict] | None = None) -> dict:
    """Create dataset ``name`` (a checked, free name) and fill it; returns ``{"id", "rows"}``.

    Give either ``rows``, stored tuples ``(input_text, output_text, messages_json,
    metadata_json)`` (``+ source_url`` with ``with_source_url``), or ``records``, dicts with
    ``input``/``output``/``messages``/``metadata``/``source_url``. Either is read lazily in the
    database thread. ``registry``: fields for its ``datasets`` row over the defaults.
    ``report(n)``, called once the rows are in, may raise to give the dataset up, or return
    what goes into its metadata as ``import``. ``progress_state()`` is what ``progress`` gets.
    ``keep_filling``: the dataset stays hidden, for the caller to show with others at once
    (``ffui.db.finish_filling_session``) or drop (``drop_filling_session``).
    """
    if records is not None:
        rows, with_source_url = (stored_pair(r) for r in records), True
    reg = {"type": "ffui", "name": name, "features": json.dumps(layout.key_order)}
    reg.update({k: v for k, v in registry.items() if v is not None})
    meta = dict(meta, layout=layout.to_dict())

    async def run() -> dict:
        async with bulk_cache(db):
            try:
                sid = await create_filling_session(
                    db, name=name, owner=identity(), source=source, source_details=source_details,
                    dataset_format=layout.format, metadata=meta, registry=reg)
            except NameTaken:
                raise DataError(None, None, f"a dataset named {name!r} exists already",
                                "choose another --name") from None
            try:
                n = await fill_scraped_pairs(db, sid, rows, with_source_url=with_source_url)
                kept = report(n) if report is not None else None
                if not keep_filling:
                    n = await finish_filling_session(db, sid, kept)
            except BaseException:
                # (if this fails too, the next name check's drop_abandoned_sessions does it)
                await drop_filling_session(db, sid)
                raise
        return {"id": sid, "rows": n}

    return await with_progress(run(), progress_state or (lambda: {}), progress)


async def with_progress(coro, state: Callable[[], dict], progress: Progress | None,
                        every: float = 0.2) -> Any:
    """Await ``coro``, calling ``progress(state())`` every ``every`` seconds and at the end; a
    cancel lets ``coro`` clean up before it propagates."""
    if progress is None:
        return await coro
    task = asyncio.ensure_future(coro)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            progress(state())
            if done:
                return task.result()
    except BaseException:
        task.cancel()
        # Let it clean up (a cancelled import deletes what it wrote) before the caller goes on
        # and, say, closes the database under it (ctrl+c in the CLI).
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # (retrieved: no "exception was never retrieved" at exit)
        raise
