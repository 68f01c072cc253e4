"""Writing a stored dataset out: to a file or folder (``export_dataset``) and as the trainer's
``dataset.jsonl`` (``write_training_file``). Both read in a worker thread (``rows.in_thread``)."""

from __future__ import annotations

import json
import os

from .datasets import display_name, resolve, session_layout
from .errors import DataError
from .formats import export_row
from .rows import in_thread, iter_records_sync
from .training import training_line


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
    n = await in_thread(db, work)
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
    return await in_thread(db, work)
