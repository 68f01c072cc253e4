"""The database side of datasets: import, page, export, operations, stats, training files.

A dataset is a ``scrape_sessions`` row (``name`` unique, ``dataset_format``, ``pair_count``,
``metadata_json["layout"]``) and its ``scraped_pairs`` rows; every dataset ffui creates also
gets a row in the seed-000 registry ``datasets`` (``metadata_json["registry_id"]``), which is
what prompts bind to. All functions take an open ``ffui.db.Database`` and a dataset given by
name, by id (``12`` or ``"#12"``) or as its session row.

Writes: rows stream through ``executemany`` fed by a generator that parses the input lazily
(in the database thread), so memory is bounded by a batch. An import or a merge creates its
dataset marked ``filling`` (hidden from lists, refused by ``resolve``) and fills it in
transactions of about ``FILL_CHUNK_S`` seconds, so other writers (supervisors, the UI) never
wait long; a bad row (which raises), a cancel or an error removes the dataset again: nothing is
kept. A dataset left ``filling`` by a process that died is removed by the next dataset made.
Copies of stored rows (dedupe, filter, split, sample) are one transaction each.
Reads of whole datasets (export, stats, operations) run in a worker thread on their own
read-only-by-use connection (WAL: they never block writers), so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import sqlite3
import time
from typing import Any, Callable, Iterable, Iterator

from ffui.db.catalog import check_name

from .errors import DataError
from .formats import Layout, export_row, record_fields
from .importer import ImportPlan, plan_import
from .ops import (
    convert_stored,
    decode_record,
    interleave,
    make_filter,
    merged_layout,
    parse_ratios,
    sample_ids,
    shuffle_ids,
    split_ids,
)
from .training import training_line

ROW_COLUMNS = "id, input_text, output_text, messages_json, metadata_json, source_url"
_COPY_COLUMNS = "input_text, output_text, source_url, metadata_json, messages_json"
_NAME_OK = re.compile(r"^[^\s/\\#][^/\\]*$")

Progress = Callable[[dict], None]


# -- datasets ------------------------------------------------------------------------------------


def _loads(s: str | None) -> Any:
    if not s:
        return None
    try:
        return json.loads(s)
    except ValueError:
        return None


def session_meta(session: dict) -> dict:
    m = _loads(session.get("metadata_json"))
    return m if isinstance(m, dict) else {}


def session_layout(session: dict) -> Layout:
    return Layout.from_dict(session_meta(session).get("layout"), session.get("dataset_format"))


def display_name(session: dict) -> str:
    return session.get("name") or f"#{session['id']}"


#: how long one write transaction of an import or a merge goes on (its rows adapt to it):
#: between two, supervisors, the UI and the CLI get the database
FILL_CHUNK_S = 2.0
#: the pause after each. SQLite has no queue for the write lock: a waiting writer polls, every
#: 100 ms once it has waited a while, so a shorter gap is almost never seen (measured: with no
#: pause, a writer with a 1 s busy timeout failed during chunked imports). The parser fills
#: its queue meanwhile; the pauses cost about 5% of an import's speed (docs/benchmarks.md).
FILL_PAUSE_S = 0.11
#: SQL: a scrape_sessions row that is not being filled (metadata written by other tools may not
#: be JSON at all)
SHOWN_SQL = ("(CASE WHEN json_valid(metadata_json) THEN json_extract(metadata_json, '$.filling') END) "
             "IS NULL")


async def resolve(db, dataset: str | int | dict, *, filling_ok: bool = False) -> dict:
    """The session row of a dataset given by name, id or row. Raises DataError, also for a
    dataset that an import or a merge is still filling (unless ``filling_ok``)."""
    if isinstance(dataset, dict):
        return dataset
    row = await _lookup(db, dataset)
    if not filling_ok and session_meta(row).get("filling"):
        from ffui.procs import identity_alive

        if identity_alive(session_meta(row)["filling"]):
            raise DataError(None, None, f"dataset {display_name(row)!r} is still being imported "
                            f"({row['pair_count'] or 0:,} rows so far)", "wait for the import to finish")
        raise DataError(None, None, f"the import of {display_name(row)!r} was interrupted and left "
                        "no dataset", f"import it again (the partial rows go then), or: ffui data rm "
                        f"{display_name(row)}")
    return row


async def _lookup(db, dataset: str | int) -> dict:
    if isinstance(dataset, int):
        row = await db.fetchone("SELECT * FROM scrape_sessions WHERE id = ?", (dataset,))
    else:
        row = await db.fetchone("SELECT * FROM scrape_sessions WHERE name = ?", (dataset,))
        if row is None and re.fullmatch(r"#?\d+", dataset.strip()):
            row = await db.fetchone("SELECT * FROM scrape_sessions WHERE id = ?",
                                    (int(dataset.strip().lstrip("#")),))
    if row is None:
        raise DataError(None, None, f"no dataset named {dataset!r}", "see: ffui data list")
    return row


async def _check_new_name(db, name: str) -> str:
    await _drop_abandoned(db)
    name = (name or "").strip()
    if not name:
        raise DataError(None, None, "a dataset needs a name", "pass --name NAME")
    name = check_name("dataset", name)  # one line: it is shown in lists
    if not _NAME_OK.fullmatch(name) or re.fullmatch(r"\d+", name):
        raise DataError(None, None, f"bad dataset name {name!r}",
                        "use letters, digits, '-', '_' or '.'; not only digits, no '/' or '#'")
    held = await db.fetchone("SELECT * FROM scrape_sessions WHERE name = ?", (name,))
    if held and session_meta(held).get("filling"):
        raise DataError(None, None, f"a dataset named {name!r} is being imported right now",
                        "choose another --name, or wait for that import to finish")
    if held:
        raise DataError(None, None, f"a dataset named {name!r} exists already",
                        f"choose another --name, or remove it first: ffui data rm {name}")
    return name


async def _drop_abandoned(db) -> None:
    """Remove datasets whose import or merge died halfway (its process is gone)."""
    from ffui.procs import identity_alive

    rows = await db.fetchall(f"SELECT * FROM scrape_sessions WHERE NOT {SHOWN_SQL}")
    for row in rows:
        if not identity_alive(session_meta(row).get("filling")):
            await _delete_session(db, row)


@contextlib.asynccontextmanager
async def _new_dataset(db, **create):
    """A new dataset to fill (``_create``'s arguments): created at once, marked ``filling``, and
    removed again if the body fails or is cancelled. The body ends with ``_finish``."""
    from ffui.procs import identity

    create["meta"] = dict(create["meta"], filling=identity())
    async with db.transaction():
        sid = await _create(db, **create)
    try:
        yield sid
    except BaseException:
        row = await db.fetchone("SELECT * FROM scrape_sessions WHERE id = ?", (sid,))
        if row is not None and session_meta(row).get("filling"):
            await _delete_session(db, row)  # (if this fails too, _drop_abandoned does it later)
        raise


async def _fill(db, sid: int, rows: Iterator[tuple]) -> int:
    """Insert stored tuples into dataset ``sid`` in transactions of about ``FILL_CHUNK_S``
    seconds, ``FILL_PAUSE_S`` apart; the row count (``pair_count``) follows. Returns how many
    rows went in."""
    sql = _insert_sql(sid)
    it = iter(rows)
    total, chunk = 0, 5_000
    try:
        while True:
            t0 = time.perf_counter()
            async with db.transaction():
                n = await db.executemany(sql, itertools.islice(it, chunk))
                if n:
                    await db.execute("UPDATE scrape_sessions SET pair_count = pair_count + ? WHERE id = ?",
                                     (n, sid))
            total += n
            if n < chunk:
                return total
            took = max(time.perf_counter() - t0, 1e-3)
            chunk = int(min(max(chunk * FILL_CHUNK_S / took, 1_000), chunk * 4, 1_000_000))
            await asyncio.sleep(FILL_PAUSE_S)  # the parser runs on meanwhile, into its queue
    finally:
        close = getattr(it, "close", None)
        if close is not None:  # a producer thread behind it stops now, not at garbage collection
            close()


async def _create(db, *, name: str, layout: Layout, source: str, source_details: str | None,
                  meta: dict, registry: dict) -> int:
    """Inside a transaction: the session row and its registry row."""
    meta = dict(meta)
    meta["layout"] = layout.to_dict()
    try:
        cur = await db.execute(
            "INSERT INTO scrape_sessions(source, source_details, dataset_format, pair_count, "
            "metadata_json, name, updated_at) VALUES (?, ?, ?, 0, ?, ?, datetime('now'))",
            (source, source_details, layout.format, json.dumps(meta, ensure_ascii=False), name))
    except sqlite3.IntegrityError:
        raise DataError(None, None, f"a dataset named {name!r} exists already",
                        "choose another --name") from None
    sid = cur.lastrowid
    from ffui.db import create_dataset

    reg = {"type": "ffui", "name": name, "features": json.dumps(layout.key_order)}
    reg.update({k: v for k, v in registry.items() if v is not None})
    rid = await create_dataset(db, **reg)
    meta["registry_id"] = rid
    await db.execute("UPDATE scrape_sessions SET metadata_json = ? WHERE id = ?",
                     (json.dumps(meta, ensure_ascii=False), sid))
    return sid


async def _finish(db, sid: int, imported: dict | None = None) -> int:
    """Count a new dataset's rows and show it (no longer ``filling``); ``imported``: the import's
    report, kept in its metadata."""
    report = json.dumps(imported) if imported is not None else None
    async with db.transaction():
        n = await db.scalar("SELECT COUNT(*) FROM scraped_pairs WHERE session_id = ?", (sid,))
        await db.execute(
            "UPDATE scrape_sessions SET pair_count = ?, updated_at = datetime('now'), metadata_json = "
            "json_remove(CASE WHEN ? IS NULL THEN metadata_json ELSE json_set(metadata_json, '$.import', "
            "json(?)) END, '$.filling') WHERE id = ?", (n, report, report, sid))
    return n


def _insert_sql(sid: int) -> str:
    # The session id and the timestamp are ours, so they go into the statement as constants:
    # rows stay 4-tuples, and SQLite does not evaluate datetime('now') once per row (one
    # transaction, one time).
    from ffui.db.core import utcnow

    return (f"INSERT INTO scraped_pairs(session_id, input_text, output_text, messages_json, "
            f"metadata_json, created_at) VALUES ({int(sid)}, ?, ?, ?, ?, '{utcnow()}')")


@contextlib.asynccontextmanager
async def _bulk_cache(db, kib: int = 32768):
    """A bigger page cache for one bulk write (fewer pages spilled to the WAL mid-transaction
    and written again), restored afterwards."""
    old = await db.scalar("PRAGMA cache_size")
    await db.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        await db.execute(f"PRAGMA cache_size = {int(old)}")


def _copy_sql(sid: int) -> str:
    return (f"INSERT INTO scraped_pairs(session_id, {_COPY_COLUMNS}) SELECT {int(sid)}, "
            f"{_COPY_COLUMNS} FROM scraped_pairs WHERE id = ?")


async def list_datasets(db) -> list[dict]:
    """Every dataset: id, name, format, rows, source, details, created_at."""
    rows = await db.fetchall(
        "SELECT id, name, dataset_format, pair_count, source, source_details, created_at "
        f"FROM scrape_sessions WHERE {SHOWN_SQL} ORDER BY id")
    return [{"id": r["id"], "name": r["name"] or f"#{r['id']}", "format": r["dataset_format"],
             "rows": r["pair_count"] or 0, "source": r["source"],
             "details": r["source_details"], "created_at": r["created_at"]} for r in rows]


async def show(db, dataset) -> dict:
    """A dataset's description: name, format, rows, layout, origin, operation, registry id."""
    s = await resolve(db, dataset)
    meta = session_meta(s)
    lay = session_layout(s)
    return {"id": s["id"], "name": display_name(s), "format": lay.format, "rows": s["pair_count"] or 0,
            "source": s["source"], "details": s["source_details"], "created_at": s["created_at"],
            "layout": lay.to_dict(), "origin": meta.get("origin"), "op": meta.get("op"),
            "split": meta.get("split"), "registry_id": meta.get("registry_id"),
            "import": meta.get("import")}


async def remove(db, dataset) -> dict:
    """Delete a dataset and its rows. Prompts bound to it are unbound (their names returned);
    its registry row goes too unless a training run still refers to it."""
    s = await resolve(db, dataset, filling_ok=True)
    unbound = await _delete_session(db, s)
    return {"id": s["id"], "name": display_name(s), "rows": s["pair_count"] or 0,
            "unbound_prompts": unbound}


async def _delete_session(db, s: dict) -> list[str]:
    """Delete a session, its rows and its registry row (kept, marked, if a run refers to it);
    returns the prompts it unbound."""
    rid = session_meta(s).get("registry_id")
    unbound: list[str] = []
    async with db.transaction():
        if rid:
            unbound = [r["name"] for r in await db.fetchall(
                "SELECT name FROM prompts WHERE dataset_id = ?", (rid,))]
            await db.execute("UPDATE prompts SET dataset_id = NULL WHERE dataset_id = ?", (rid,))
        await db.execute("DELETE FROM scraped_pairs WHERE session_id = ?", (s["id"],))
        await db.execute("DELETE FROM scrape_sessions WHERE id = ?", (s["id"],))
        if rid:
            used = await db.scalar("SELECT COUNT(*) FROM training_runs WHERE registry_dataset_id = ?",
                                   (rid,))
            if used:
                await db.execute("UPDATE datasets SET description = 'deleted from ffui' "
                                 "WHERE id = ?", (rid,))
            else:
                await db.execute("DELETE FROM datasets WHERE id = ?", (rid,))
    return unbound


async def session_for_registry_id(db, registry_id: str) -> dict | None:
    return await db.fetchone(
        "SELECT * FROM scrape_sessions WHERE json_extract(metadata_json, '$.registry_id') = ?",
        (registry_id,))


# -- import --------------------------------------------------------------------------------------


async def _with_progress(coro, plan_or_state: Callable[[], dict], progress: Progress | None,
                         every: float = 0.2):
    if progress is None:
        return await coro
    task = asyncio.ensure_future(coro)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            progress(plan_or_state())
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


def _plan_state(plan: ImportPlan) -> dict:
    s = plan.source
    return {"rows": plan.good, "bad": plan.bad, "done": s.done, "total": s.total,
            "unit": s.progress_unit}


async def preview(spec: str | os.PathLike, *, fmt: str = "auto", mapping: dict | list | None = None,
                  split: str | None = None, n: int = 5) -> dict:
    """What an import would do (format, columns, first rows as records), off the event loop.
    See ffui.data.importer.preview_import. Writes nothing."""
    from .importer import preview_import

    return await asyncio.to_thread(preview_import, spec, fmt=fmt, mapping=mapping, split=split,
                                   n=n)


async def import_dataset(db, spec: str | os.PathLike, *, name: str, fmt: str = "auto",
                         mapping: dict | list | None = None, split: str | None = None,
                         skip_bad: bool = False, description: str | None = None,
                         progress: Progress | None = None) -> dict:
    """Import a file, a ``save_to_disk`` folder or a hub id as a new dataset ``name``.

    Returns ``{"id", "name", "format", "kind", "rows", "bad", "bad_examples", "seconds"}``.
    Raises DataError (nothing written) on bad input unless ``skip_bad`` (bad rows counted and
    left out). ``progress(state)`` is called on the event loop about 5 times a second with
    ``{"rows", "bad", "done", "total", "unit"}`` (``unit``: bytes or rows; total may be None).
    """
    t0 = time.perf_counter()
    name = await _check_new_name(db, name)
    from ffui.db import get_setting

    token = await get_setting(db, "huggingface.token")  # gated/private hub datasets
    plan = await asyncio.to_thread(plan_import, spec, fmt=fmt, mapping=mapping, split=split,
                                   skip_bad=skip_bad, token=token)
    src = plan.source
    hub = src.kind == "hub"
    origin = {"kind": src.kind, "path": src.path if hub else os.path.abspath(src.path),
              "split": src.split}
    details = f"{'hub' if hub else src.kind}:{src.path}" + (f" split={src.split}" if src.split
                                                           else "")

    async def run() -> int:
        async with _bulk_cache(db), _new_dataset(
                db, name=name, layout=plan.layout, source="import", source_details=details,
                meta={"origin": origin},
                registry={"type": "huggingface" if hub else "local",
                          "huggingface_name": src.path if hub else None,
                          "location": None if hub else origin["path"],
                          "description": description}) as sid:
            await _fill(db, sid, plan.rows_pipelined(depth=24))  # (parses on through the pauses)
            if plan.good == 0:
                raise src.error(None, "no valid rows to import" + (
                    f" ({plan.bad} bad rows, the first: {plan.bad_examples[0]})"
                    if plan.bad_examples else ""))
            await _finish(db, sid, {"rows": plan.good, "bad": plan.bad,
                                    "bad_examples": [str(b) for b in plan.bad_examples]})
            return sid

    sid = await _with_progress(run(), lambda: _plan_state(plan), progress)
    return {"id": sid, "name": name, "format": plan.layout.format, "kind": src.kind,
            "rows": plan.good, "bad": plan.bad,
            "bad_examples": [str(b) for b in plan.bad_examples],
            "seconds": round(time.perf_counter() - t0, 3)}


# -- paging --------------------------------------------------------------------------------------


def _record(r: dict, decode: bool = True) -> dict:
    rec = {"id": r["id"], "input": r["input_text"], "output": r["output_text"],
           "messages": r["messages_json"], "metadata": r["metadata_json"],
           "source_url": r["source_url"]}
    return decode_record(rec) if decode else rec


async def count(db, dataset) -> int:
    """Rows in a dataset (the stored ``pair_count``: no scan)."""
    s = await resolve(db, dataset)
    return s["pair_count"] or 0


async def page(db, dataset, *, limit: int = 50, offset: int = 0, after_id: int | None = None,
               decode: bool = True) -> list[dict]:
    """A page of canonical records in id order: after ``after_id`` (keyset) or at ``offset``.

    Both are index lookups (no scan) for datasets ffui wrote, whose ids are contiguous; for
    others an offset walks the (session_id, id) index. Records: ``id``, ``input``, ``output``,
    ``messages`` (list or None), ``metadata`` (dict or None), ``source_url``.
    """
    sid = dataset if isinstance(dataset, int) else (await resolve(db, dataset))["id"]
    if after_id is None:
        after_id = -1
        if offset:
            b = await db.fetchone(
                "SELECT (SELECT id FROM scraped_pairs WHERE session_id = ?1 ORDER BY id LIMIT 1)"
                " AS lo, (SELECT id FROM scraped_pairs WHERE session_id = ?1 ORDER BY id DESC "
                "LIMIT 1) AS hi, (SELECT pair_count FROM scrape_sessions WHERE id = ?1) AS n",
                (sid,))
            if b["lo"] is None:
                return []
            if b["n"] is not None and b["hi"] - b["lo"] + 1 == b["n"]:
                after_id = b["lo"] + offset - 1
            else:
                prev = await db.scalar(
                    "SELECT id FROM scraped_pairs WHERE session_id = ? ORDER BY id "
                    "LIMIT 1 OFFSET ?", (sid, offset - 1))
                if prev is None:
                    return []
                after_id = prev
    rows = await db.fetchall(
        f"SELECT {ROW_COLUMNS} FROM scraped_pairs WHERE session_id = ? AND id > ? "
        "ORDER BY id LIMIT ?", (sid, after_id, limit))
    return [_record(r, decode) for r in rows]


# -- whole-dataset reads (worker thread, own connection) -----------------------------------------


def _sync_conn(db) -> sqlite3.Connection:
    from ffui.db import open_sync

    return open_sync(db.path, migrate_schema=False)


def iter_stored(conn: sqlite3.Connection, sid: int, batch: int = 2000) -> Iterator[tuple]:
    """``(id, input_text, output_text, messages_json, metadata_json, source_url)`` in id order."""
    cur = conn.execute(f"SELECT {ROW_COLUMNS} FROM scraped_pairs WHERE session_id = ? ORDER BY id",
                       (sid,))
    try:
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            yield from rows
    finally:
        cur.close()


def iter_records_sync(conn: sqlite3.Connection, sid: int) -> Iterator[dict]:
    for r in iter_stored(conn, sid):
        yield {"id": r[0], "input": r[1], "output": r[2], "messages": r[3], "metadata": r[4],
               "source_url": r[5]}


async def iter_records(db, dataset, batch: int = 2000):
    """All records of a dataset, page by page (async generator, keyset)."""
    after = None
    while True:
        rows = await page(db, dataset, limit=batch, after_id=after if after is not None else -1,
                          decode=True)
        if not rows:
            return
        for r in rows:
            yield r
        after = rows[-1]["id"]


async def _in_thread(db, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    def work():
        conn = _sync_conn(db)
        try:
            return fn(conn)
        finally:
            conn.close()
    return await asyncio.to_thread(work)


# -- export --------------------------------------------------------------------------------------


async def export_dataset(db, dataset, path: str | os.PathLike, *, fmt: str = "jsonl",
                         shape: str = "original", overwrite: bool = False) -> dict:
    """Write a dataset to ``path``: ``fmt`` jsonl | parquet | hf (a folder
    ``datasets.load_from_disk`` opens); ``shape`` original (the dataset's own format) | chatml.
    """
    from .writers import write_rows

    s = await resolve(db, dataset)
    lay = session_layout(s)
    if shape not in ("original", "chatml"):
        raise DataError(None, None, f"unknown shape {shape!r}", "use original or chatml")
    path = os.fspath(path)

    def work(conn):
        def rows():
            for rec in iter_records_sync(conn, s["id"]):
                yield export_row(rec, lay, shape)
        return write_rows(path, rows, fmt, overwrite=overwrite,
                          description=f"ffui dataset {display_name(s)}")
    n = await _in_thread(db, work)
    return {"name": display_name(s), "path": path, "rows": n, "format": fmt,
            "shape": "chatml" if shape == "chatml" else lay.format}


async def write_training_file(db, dataset, path: str | os.PathLike) -> dict:
    """The trainer's ``dataset.jsonl`` for a dataset (see ffui.data.training). Returns
    ``{"rows", "path", "kinds": {"messages"|"pairs"|"text": n}}``."""
    s = await resolve(db, dataset)
    lay = session_layout(s)
    path = os.fspath(path)

    def work(conn):
        enc = json.JSONEncoder(ensure_ascii=False).encode
        kinds = {"messages": 0, "pairs": 0, "text": 0}
        tmp = path + ".tmp"
        n = 0
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for rec in iter_records_sync(conn, s["id"]):
                line = training_line(rec, lay)
                kinds["messages" if "messages" in line else "text" if "text" in line
                      else "pairs"] += 1
                f.write(enc(line))
                f.write("\n")
                n += 1
        os.replace(tmp, path)
        return {"rows": n, "path": path, "kinds": kinds, "format": lay.format}
    return await _in_thread(db, work)


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


# -- operations ----------------------------------------------------------------------------------


def _op_meta(kind: str, sources: list[str], **params: Any) -> dict:
    return {"op": {"kind": kind, "sources": sources,
                   "params": {k: v for k, v in params.items() if v is not None}}}


async def _copy_ids(db, *, name: str, layout: Layout, ids: Iterable[int], meta: dict,
                    description: str) -> dict:
    async with db.transaction():
        sid = await _create(db, name=name, layout=layout, source="ffui",
                            source_details=description, meta=meta,
                            registry={"description": description})
        await db.executemany(_copy_sql(sid), ((i,) for i in ids))
        n = await _finish(db, sid)  # (joins this transaction)
    return {"id": sid, "name": name, "rows": n, "format": layout.format}


async def dedupe(db, dataset, *, name: str | None = None, normalised: bool = False) -> dict:
    """A new dataset without duplicate rows (first occurrence kept, order kept).

    Exact: same training content (extra columns such as ids do not count); ``normalised``:
    also the same after lower-casing and collapsing whitespace."""
    from .ops import dedupe as _dedupe

    s = await resolve(db, dataset)
    src = display_name(s)
    name = await _check_new_name(db, name or f"{src}-dedupe")
    keep, dropped = await _in_thread(
        db, lambda conn: _dedupe(iter_records_sync(conn, s["id"]), normalised))
    mode = "normalised" if normalised else "exact"
    out = await _copy_ids(db, name=name, layout=session_layout(s), ids=keep,
                          meta=_op_meta("dedupe", [src], mode=mode),
                          description=f"dedupe ({mode}) of {src}")
    out["removed"] = dropped
    return out


async def filter_dataset(db, dataset, *, name: str | None = None, min_chars: int | None = None,
                         max_chars: int | None = None, field: str = "total",
                         drop_empty: bool = False) -> dict:
    """A new dataset with the rows whose length (characters of input, output or total) is
    within bounds and, with ``drop_empty``, that have no empty field or turn."""
    s = await resolve(db, dataset)
    src = display_name(s)
    lay = session_layout(s)
    try:
        keep_fn = make_filter(min_chars=min_chars, max_chars=max_chars, field=field,
                              drop_empty=drop_empty, fmt=lay.format)
    except ValueError as e:
        raise DataError(None, None, str(e)) from None
    if min_chars is None and max_chars is None and not drop_empty:
        raise DataError(None, None, "no filter given",
                        "pass --min-chars, --max-chars and/or --drop-empty")
    name = await _check_new_name(db, name or f"{src}-filtered")

    def work(conn):
        keep = [r["id"] for r in iter_records_sync(conn, s["id"]) if keep_fn(r)]
        return keep
    keep = await _in_thread(db, work)
    out = await _copy_ids(db, name=name, layout=lay, ids=keep,
                          meta=_op_meta("filter", [src], min_chars=min_chars, max_chars=max_chars,
                                        field=field, drop_empty=drop_empty or None),
                          description=f"filter of {src}")
    out["removed"] = (s["pair_count"] or 0) - out["rows"]
    return out


async def _ids(db, sid: int) -> list[int]:
    def work(conn):
        return [r[0] for r in conn.execute(
            "SELECT id FROM scraped_pairs WHERE session_id = ? ORDER BY id", (sid,))]
    return await _in_thread(db, work)


async def split(db, dataset, *, ratios: str | list[float] = "0.8,0.1,0.1", seed: int = 0,
                prefix: str | None = None) -> dict:
    """New datasets ``PREFIX-train``, ``-validation`` (and ``-test``) by ratios, after a seeded
    shuffle; part sizes are exact (largest remainder) and each keeps the source order."""
    s = await resolve(db, dataset)
    src = display_name(s)
    try:
        rs = parse_ratios(ratios)
    except ValueError as e:
        raise DataError(None, None, str(e)) from None
    prefix = prefix or src
    from .ops import SPLIT_NAMES

    names = [f"{prefix}-{p}" for p in SPLIT_NAMES[:len(rs)]]
    for n in names:
        await _check_new_name(db, n)
    ids = await _ids(db, s["id"])
    parts = split_ids(ids, rs, seed)
    lay = session_layout(s)
    out = {"source": src, "seed": seed, "ratios": rs, "parts": []}
    async with db.transaction():
        for part, n in zip(SPLIT_NAMES, names):
            meta = _op_meta("split", [src], ratios=rs, seed=seed)
            meta["split"] = {"group": prefix, "part": part, "siblings": [x for x in names if x != n]}
            r = await _copy_ids(db, name=n, layout=lay, ids=parts[part], meta=meta,
                                description=f"{part} split of {src} (seed {seed})")
            r["part"] = part
            out["parts"].append(r)
    return out


async def sample(db, dataset, *, name: str | None = None, n: int | None = None,
                 fraction: float | None = None, seed: int = 0) -> dict:
    """A new dataset of ``n`` rows (or ``fraction`` of them) picked at random with ``seed``,
    in source order."""
    s = await resolve(db, dataset)
    src = display_name(s)
    name = await _check_new_name(db, name or f"{src}-sample")
    ids = await _ids(db, s["id"])
    try:
        pick = sample_ids(ids, n, fraction, seed)
    except ValueError as e:
        raise DataError(None, None, str(e)) from None
    return await _copy_ids(db, name=name, layout=session_layout(s), ids=pick,
                           meta=_op_meta("sample", [src], n=n, fraction=fraction, seed=seed),
                           description=f"sample of {src} (seed {seed})")


async def shuffle(db, dataset, *, name: str | None = None, seed: int = 0) -> dict:
    """A new dataset with the same rows in a random order (``seed``)."""
    s = await resolve(db, dataset)
    src = display_name(s)
    name = await _check_new_name(db, name or f"{src}-shuffled")
    ids = shuffle_ids(await _ids(db, s["id"]), seed)
    return await _copy_ids(db, name=name, layout=session_layout(s), ids=ids,
                           meta=_op_meta("shuffle", [src], seed=seed),
                           description=f"shuffle of {src} (seed {seed})")


async def merge(db, sources: list[str], *, name: str, interleave_rows: bool = False,
                fmt: str = "auto", mapping: dict | list | None = None, split: str | None = None,
                skip_bad: bool = False, progress: Progress | None = None) -> dict:
    """A new dataset of several datasets and/or files, concatenated (in the order given) or
    interleaved (round robin). Files are read like ``import`` (``fmt``, ``mapping``, ``split``,
    ``skip_bad`` apply to them). Same-format sources keep their format; otherwise rows become
    chatml (if any source is chat-shaped) or input-output."""
    if len(sources) < 2:
        raise DataError(None, None, "merge needs at least two datasets or files")
    name = await _check_new_name(db, name)
    parts: list[tuple[str, Layout, Any]] = []  # (label, layout, session row | ImportPlan)
    for spec in sources:
        row = None
        try:
            row = await resolve(db, spec)
        except DataError:
            if not os.path.exists(os.path.expanduser(str(spec))):
                raise DataError(None, None, f"{spec!r} is neither a dataset nor a file",
                                "see: ffui data list") from None
        if row is not None:
            parts.append((display_name(row), session_layout(row), row))
        else:
            plan = await asyncio.to_thread(plan_import, spec, fmt=fmt, mapping=mapping,
                                           split=split, skip_bad=skip_bad)
            parts.append((str(spec), plan.layout, plan))
    dst = merged_layout([p[1] for p in parts])
    state = {"conn": None}

    def stream(label: str, lay: Layout, src: Any) -> Iterator[tuple]:
        if isinstance(src, ImportPlan):
            for t in src.rows():
                yield convert_stored(t, lay, dst)
            return
        if state["conn"] is None:
            state["conn"] = _sync_conn(db)
        for r in iter_stored(state["conn"], src["id"]):
            yield convert_stored((r[1], r[2], r[3], r[4]), lay, dst)

    streams = [stream(*p) for p in parts]
    if interleave_rows:
        rows: Iterable[tuple] = interleave(streams)
    else:
        rows = (t for st in streams for t in st)
    labels = [p[0] for p in parts]
    plans = [p[2] for p in parts if isinstance(p[2], ImportPlan)]

    async def run() -> dict:
        async with _bulk_cache(db), _new_dataset(
                db, name=name, layout=dst, source="ffui", source_details="merge of " + ", ".join(labels),
                meta=_op_meta("merge", labels, mode="interleave" if interleave_rows else "concat"),
                registry={"description": "merge of " + ", ".join(labels)}) as sid:
            await _fill(db, sid, rows)
            n = await _finish(db, sid)
        return {"id": sid, "name": name, "rows": n, "format": dst.format,
                "bad": sum(p.bad for p in plans),
                "bad_examples": [f"{p.path}, {b}" for p in plans for b in p.bad_examples]}

    try:
        return await _with_progress(
            run(), lambda: {"rows": sum(p.good for p in plans), "bad": sum(p.bad for p in plans),
                            "done": None, "total": None, "unit": "rows"}, progress)
    finally:
        if state["conn"] is not None:
            state["conn"].close()


# -- stats ---------------------------------------------------------------------------------------


async def stats(db, dataset, *, tokenizer: str | None = None,
                against: list[str] | None = None) -> dict:
    """Statistics (see ffui.data.stats): rows, character (and token) length distributions,
    empty fields, exact and near duplicates, turns per conversation, and leakage: rows that
    also appear in the sibling splits (for a dataset made by ``split``) or in ``against``."""
    from .stats import compute_stats, load_tokenizer

    s = await resolve(db, dataset)
    lay = session_layout(s)
    meta = session_meta(s)
    tok = load_tokenizer(tokenizer) if tokenizer else None
    other_names = list(dict.fromkeys(((meta.get("split") or {}).get("siblings") or [])
                                     + list(against or [])))
    others_rows = []
    for o in other_names:
        try:
            others_rows.append(await resolve(db, o))
        except DataError:
            if o in (against or []):
                raise
    from .ops import content_key as _ck

    def work(conn):
        others = {display_name(o): {_ck(r, normalised=True)
                                    for r in iter_records_sync(conn, o["id"])}
                  for o in others_rows}
        return compute_stats(iter_records_sync(conn, s["id"]), lay.format, tokenizer=tok,
                             others=others)
    st = await _in_thread(db, work)
    st["name"] = display_name(s)
    st["format"] = lay.format
    return st




# -- prompts (the seed-000 ``prompts`` table, bound to a dataset's registry row) -----------------


async def get_prompt_by_name(db, name: str) -> dict:
    row = await db.fetchone("SELECT * FROM prompts WHERE name = ? ORDER BY id LIMIT 1", (name,))
    if row is None:
        row = await db.fetchone("SELECT * FROM prompts WHERE id = ?", (name,))
    if row is None:
        raise DataError(None, None, f"no prompt named {name!r}", "see: ffui prompts list")
    return row


async def add_prompt(db, name: str, dataset, *, input_template: str | None = None,
                     completion_template: str | None = None, prompt_template: str | None = None,
                     description: str | None = None, type: str = "instruction") -> dict:
    """A prompt template bound to a dataset; placeholders are checked against its fields."""
    from ffui.db import create_prompt

    from .prompts import (DEFAULT_COMPLETION_TEMPLATE, DEFAULT_INPUT_TEMPLATE, check_template,
                          full_template)

    name = check_name("prompt", name)
    if await db.fetchone("SELECT id FROM prompts WHERE name = ?", (name,)):
        raise DataError(None, None, f"a prompt named {name!r} exists already",
                        "choose another name")
    s = await resolve(db, dataset)
    rid = session_meta(s).get("registry_id")
    if not rid:
        rid = await _register_existing(db, s)
    it = input_template if input_template is not None else DEFAULT_INPUT_TEMPLATE
    ct = completion_template if completion_template is not None else DEFAULT_COMPLETION_TEMPLATE
    fields = await field_names(db, s)
    for t in (it, ct, prompt_template):
        if t:
            check_template(t, fields)
    pid = await create_prompt(db, type=type, name=name, description=description, dataset_id=rid,
                              input_template=it, completion_template=ct,
                              prompt_template=prompt_template or full_template(it, ct))
    return {"id": pid, "name": name, "dataset": display_name(s), "fields": fields}


async def _register_existing(db, s: dict) -> str:
    """A registry row for a dataset made outside ffui's importer (e.g. a scrape)."""
    from ffui.db import create_dataset

    lay = session_layout(s)
    async with db.transaction():
        rid = await create_dataset(db, type="ffui", name=display_name(s),
                                   description=s.get("source_details"),
                                   features=json.dumps(lay.key_order))
        await db.execute(
            "UPDATE scrape_sessions SET metadata_json = json_set(COALESCE(metadata_json, '{}'), "
            "'$.registry_id', ?) WHERE id = ?", (rid, s["id"]))
    return rid


async def list_prompts(db, dataset=None) -> list[dict]:
    """Prompts with the name of their dataset (None if unbound)."""
    rows = await db.fetchall("SELECT * FROM prompts ORDER BY name")
    out = []
    for r in rows:
        s = await session_for_registry_id(db, r["dataset_id"]) if r["dataset_id"] else None
        r["dataset"] = display_name(s) if s else None
        r["dataset_session_id"] = s["id"] if s else None
        out.append(r)
    if dataset is not None:
        s = await resolve(db, dataset)
        out = [r for r in out if r["dataset_session_id"] == s["id"]]
    return out


async def prompt_dataset(db, prompt: dict) -> dict | None:
    if not prompt.get("dataset_id"):
        return None
    return await session_for_registry_id(db, prompt["dataset_id"])


async def render_prompt_samples(db, prompt: str | dict, *, dataset=None, n: int = 1,
                                offset: int = 0) -> list[dict]:
    """Render a prompt against ``n`` rows (from ``offset``) of its dataset (or ``dataset``):
    ``[{"id", "input", "completion", "text"}]``."""
    from .prompts import render_prompt

    p = prompt if isinstance(prompt, dict) else await get_prompt_by_name(db, prompt)
    s = await resolve(db, dataset) if dataset is not None else await prompt_dataset(db, p)
    if s is None:
        raise DataError(None, None, f"prompt {p['name']!r} is not bound to a dataset",
                        "pass --dataset NAME")
    lay = session_layout(s)
    out = []
    for rec in await page(db, s, limit=n, offset=offset):
        r = render_prompt(p, record_fields(rec, lay))
        r["id"] = rec["id"]
        out.append(r)
    return out
