"""Operations that make a new dataset from stored ones: dedupe, filter, split, sample,
shuffle, merge. Sources are never changed.

Which rows go where is decided by plain functions (``ffui.data.ops``) over records read in a
worker thread; the new dataset is then written through the one fill path (``ffui.data.fill``),
its rows copied from the source on a connection of their own.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Iterable, Iterator

from ffui.db import drop_filling_session, finish_filling_session, get_pair_ids, iter_pairs_by_id

from .datasets import check_new_name, display_name, resolve, session_layout
from .errors import DataError
from .fill import Progress, fill_dataset
from .formats import Layout
from .importer import ImportPlan, plan_import
from .ops import (SPLIT_NAMES, convert_stored, interleave, make_filter, merged_layout,
                  parse_ratios, sample_ids, shuffle_ids, split_ids)
from .ops import dedupe as dedupe_records
from .rows import in_thread, iter_records_sync, iter_stored, sync_conn


def _op_meta(kind: str, sources: list[str], **params: Any) -> dict:
    return {"op": {"kind": kind, "sources": sources,
                   "params": {k: v for k, v in params.items() if v is not None}}}


def _copied_rows(db, ids: Iterable[int]) -> Iterator[tuple]:
    """The stored rows ``ids`` (with their source_url), read on a connection of their own, opened
    when the fill starts reading (in the database thread)."""
    conn = sync_conn(db)
    try:
        yield from iter_pairs_by_id(conn, ids)
    finally:
        conn.close()


async def _copy_ids(db, *, name: str, layout: Layout, ids: Iterable[int], meta: dict,
                    description: str, keep_filling: bool = False) -> dict:
    filled = await fill_dataset(db, name=name, layout=layout, source="ffui",
                                source_details=description, meta=meta,
                                registry={"description": description},
                                rows=_copied_rows(db, ids), with_source_url=True,
                                keep_filling=keep_filling)
    return {"id": filled["id"], "name": name, "rows": filled["rows"], "format": layout.format}


async def _ids(db, sid: int) -> list[int]:
    return await in_thread(db, lambda conn: get_pair_ids(conn, sid))


async def dedupe(db, dataset, *, name: str | None = None, normalised: bool = False) -> dict:
    """A new dataset without duplicate rows (first occurrence kept, order kept).

    Exact: same training content (extra columns such as ids do not count); ``normalised``:
    also the same after lower-casing and collapsing whitespace."""
    s = await resolve(db, dataset)
    src = display_name(s)
    name = await check_new_name(db, name or f"{src}-dedupe")
    keep, dropped = await in_thread(
        db, lambda conn: dedupe_records(iter_records_sync(conn, s["id"]), normalised))
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
    name = await check_new_name(db, name or f"{src}-filtered")
    keep = await in_thread(
        db, lambda conn: [r["id"] for r in iter_records_sync(conn, s["id"]) if keep_fn(r)])
    out = await _copy_ids(db, name=name, layout=lay, ids=keep,
                          meta=_op_meta("filter", [src], min_chars=min_chars, max_chars=max_chars,
                                        field=field, drop_empty=drop_empty or None),
                          description=f"filter of {src}")
    out["removed"] = (s["pair_count"] or 0) - out["rows"]
    return out


async def split(db, dataset, *, ratios: str | list[float] = "0.8,0.1,0.1", seed: int = 0,
                prefix: str | None = None) -> dict:
    """New datasets ``PREFIX-train``, ``-validation`` (and ``-test``) by ratios, after a seeded
    shuffle; part sizes are exact (largest remainder) and each keeps the source order. All
    parts or none: each stays hidden (filling) until the last is made, and a failure, a cancel
    or a killed process removes them all."""
    s = await resolve(db, dataset)
    src = display_name(s)
    try:
        rs = parse_ratios(ratios)
    except ValueError as e:
        raise DataError(None, None, str(e)) from None
    prefix = prefix or src
    names = [f"{prefix}-{p}" for p in SPLIT_NAMES[:len(rs)]]
    for n in names:
        await check_new_name(db, n)
    parts = split_ids(await _ids(db, s["id"]), rs, seed)
    lay = session_layout(s)
    out: dict[str, Any] = {"source": src, "seed": seed, "ratios": rs, "parts": []}
    try:
        for part, n in zip(SPLIT_NAMES, names):
            meta = _op_meta("split", [src], ratios=rs, seed=seed)
            meta["split"] = {"group": prefix, "part": part, "siblings": [x for x in names if x != n]}
            r = await _copy_ids(db, name=n, layout=lay, ids=parts[part], meta=meta,
                                description=f"{part} split of {src} (seed {seed})",
                                keep_filling=True)
            r["part"] = part
            out["parts"].append(r)
        async with db.transaction():
            for r in out["parts"]:
                await finish_filling_session(db, r["id"])
    except BaseException:
        for r in out["parts"]:
            await drop_filling_session(db, r["id"])
        raise
    return out


async def sample(db, dataset, *, name: str | None = None, n: int | None = None,
                 fraction: float | None = None, seed: int = 0) -> dict:
    """A new dataset of ``n`` rows (or ``fraction`` of them) picked at random with ``seed``,
    in source order."""
    s = await resolve(db, dataset)
    src = display_name(s)
    name = await check_new_name(db, name or f"{src}-sample")
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
    name = await check_new_name(db, name or f"{src}-shuffled")
    ids = shuffle_ids(await _ids(db, s["id"]), seed)
    return await _copy_ids(db, name=name, layout=session_layout(s), ids=ids,
                           meta=_op_meta("shuffle", [src], seed=seed),
                           description=f"shuffle of {src} (seed {seed})")


async def _merge_part(db, spec: str, *, fmt: str, mapping, split: str | None,
                      skip_bad: bool) -> tuple[str, Layout, Any]:
    """(label, layout, session row | ImportPlan) of one source of a merge."""
    try:
        row = await resolve(db, spec)
    except DataError:
        if not os.path.exists(os.path.expanduser(str(spec))):
            raise DataError(None, None, f"{spec!r} is neither a dataset nor a file",
                            "see: ffui data list") from None
    else:
        return display_name(row), session_layout(row), row
    plan = await asyncio.to_thread(plan_import, spec, fmt=fmt, mapping=mapping, split=split,
                                   skip_bad=skip_bad)
    return str(spec), plan.layout, plan


async def merge(db, sources: list[str], *, name: str, interleave_rows: bool = False,
                fmt: str = "auto", mapping: dict | list | None = None, split: str | None = None,
                skip_bad: bool = False, progress: Progress | None = None) -> dict:
    """A new dataset of several datasets and/or files, concatenated (in the order given) or
    interleaved (round robin). Files are read like ``import`` (``fmt``, ``mapping``, ``split``,
    ``skip_bad`` apply to them). Same-format sources keep their format; otherwise rows become
    chatml (if any source is chat-shaped) or input-output."""
    if len(sources) < 2:
        raise DataError(None, None, "merge needs at least two datasets or files")
    name = await check_new_name(db, name)
    parts = [await _merge_part(db, spec, fmt=fmt, mapping=mapping, split=split, skip_bad=skip_bad)
             for spec in sources]
    dst = merged_layout([p[1] for p in parts])
    state: dict[str, Any] = {"conn": None}

    def stream(label: str, lay: Layout, src: Any) -> Iterator[tuple]:
        if isinstance(src, ImportPlan):
            for t in src.rows():
                yield convert_stored(t, lay, dst)
            return
        if state["conn"] is None:
            state["conn"] = sync_conn(db)
        for r in iter_stored(state["conn"], src["id"]):
            yield convert_stored((r[1], r[2], r[3], r[4]), lay, dst)

    streams = [stream(*p) for p in parts]
    rows: Iterable[tuple] = (interleave(streams) if interleave_rows
                             else (t for st in streams for t in st))
    labels = [p[0] for p in parts]
    plans = [p[2] for p in parts if isinstance(p[2], ImportPlan)]
    details = "merge of " + ", ".join(labels)
    try:
        filled = await fill_dataset(
            db, name=name, layout=dst, source="ffui", source_details=details,
            meta=_op_meta("merge", labels, mode="interleave" if interleave_rows else "concat"),
            registry={"description": details}, rows=rows, progress=progress,
            progress_state=lambda: {"rows": sum(p.good for p in plans),
                                    "bad": sum(p.bad for p in plans),
                                    "done": None, "total": None, "unit": "rows"})
    finally:
        if state["conn"] is not None:
            state["conn"].close()
    return {"id": filled["id"], "name": name, "rows": filled["rows"], "format": dst.format,
            "bad": sum(p.bad for p in plans),
            "bad_examples": [f"{p.path}, {b}" for p in plans for b in p.bad_examples]}
