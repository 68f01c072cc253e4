"""Datasets by name: lookup, list, show, remove, and the checks a new dataset's name passes.

A dataset is a ``scrape_sessions`` row (``name`` unique, ``dataset_format``, ``pair_count``,
``metadata_json["layout"]``) and its ``scraped_pairs`` rows; every dataset ffui creates also
gets a row in the seed-000 registry ``datasets`` (``metadata_json["registry_id"]``), which is
what prompts bind to. Functions take an open ``ffui.db.Database`` and a dataset given by name,
by id (``12`` or ``"#12"``) or as its session row. The SQL is ffui.db's (``scraped_data``).
"""

from __future__ import annotations

import re

from ffui.db import (delete_scrape_session, drop_abandoned_sessions, get_scrape_session,
                     get_scrape_session_by_name, get_scrape_session_by_registry_id,
                     list_scrape_sessions, session_metadata)
from ffui.db.catalog import check_name
from ffui.procs import identity_alive

from .errors import DataError
from .formats import Layout

_NAME_OK = re.compile(r"^[^\s/\\#][^/\\]*$")


def session_meta(session: dict) -> dict:
    return session_metadata(session)


def session_layout(session: dict) -> Layout:
    return Layout.from_dict(session_meta(session).get("layout"), session.get("dataset_format"))


def display_name(session: dict) -> str:
    return session.get("name") or f"#{session['id']}"


async def resolve(db, dataset: str | int | dict, *, filling_ok: bool = False) -> dict:
    """The session row of a dataset given by name, id or row. Raises DataError, also for a
    dataset that an import or a merge is still filling (unless ``filling_ok``)."""
    if isinstance(dataset, dict):
        return dataset
    row = await _lookup(db, dataset)
    if not filling_ok and session_meta(row).get("filling"):
        if identity_alive(session_meta(row)["filling"]):
            raise DataError(None, None, f"dataset {display_name(row)!r} is still being imported "
                            f"({row['pair_count'] or 0:,} rows so far)", "wait for the import to finish")
        raise DataError(None, None, f"the import of {display_name(row)!r} was interrupted and left "
                        "no dataset", f"import it again (the partial rows go then), or: ffui data rm "
                        f"{display_name(row)}")
    return row


async def _lookup(db, dataset: str | int) -> dict:
    if isinstance(dataset, int):
        row = await get_scrape_session(db, dataset)
    else:
        row = await get_scrape_session_by_name(db, dataset)
        if row is None and re.fullmatch(r"#?\d+", dataset.strip()):
            row = await get_scrape_session(db, int(dataset.strip().lstrip("#")))
    if row is None:
        raise DataError(None, None, f"no dataset named {dataset!r}", "see: ffui data list")
    return row


async def check_new_name(db, name: str) -> str:
    """``name`` stripped, if a new dataset may take it; else a DataError saying why. Datasets
    left half-filled by a process that died are removed first (their names are free again)."""
    await drop_abandoned_sessions(db, identity_alive)
    name = (name or "").strip()
    if not name:
        raise DataError(None, None, "a dataset needs a name", "pass --name NAME")
    name = check_name("dataset", name)  # one line: it is shown in lists
    if not _NAME_OK.fullmatch(name) or re.fullmatch(r"\d+", name):
        raise DataError(None, None, f"bad dataset name {name!r}",
                        "use letters, digits, '-', '_' or '.'; not only digits, no '/' or '#'")
    held = await get_scrape_session_by_name(db, name)
    if held and session_meta(held).get("filling"):
        raise DataError(None, None, f"a dataset named {name!r} is being imported right now",
                        "choose another --name, or wait for that import to finish")
    if held:
        raise DataError(None, None, f"a dataset named {name!r} exists already",
                        f"choose another --name, or remove it first: ffui data rm {name}")
    return name


async def list_datasets(db) -> list[dict]:
    """Every dataset: id, name, format, rows, source, details, created_at."""
    rows = await list_scrape_sessions(db, filling=False, newest_first=False)
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
    deleted = await delete_scrape_session(db, s["id"])
    return {"id": s["id"], "name": display_name(s), "rows": s["pair_count"] or 0,
            "unbound_prompts": deleted["unbound_prompts"] if deleted else []}


async def session_for_registry_id(db, registry_id: str) -> dict | None:
    return await get_scrape_session_by_registry_id(db, registry_id)
