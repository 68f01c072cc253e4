"""Writers: JSONL, Parquet and ``datasets.save_to_disk``-style folders, streaming in batches.

Each writer takes ``rows``: a callable returning a fresh iterator of row dicts (columnar formats
may need a second pass when later rows bring new columns or types), writes to a temporary name
next to the target and renames it into place at the end, so a failed export leaves nothing.
The folder format is what ``datasets.load_from_disk`` opens (an Arrow IPC stream file,
``state.json`` and ``dataset_info.json``), written with pyarrow alone.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import Any, Callable, Iterable, Iterator

from .errors import DataError

EXPORT_FORMATS = ("jsonl", "parquet", "hf")
BATCH = 2048
# Parquet row groups as readers expect them (pandas and pyarrow write one per ~1M rows; 2,048-row
# groups made every reader slow): a group ends at this many rows or this many bytes in memory.
ROW_GROUP_ROWS = 100_000
ROW_GROUP_BYTES = 64 << 20

RowsFactory = Callable[[], Iterable[dict]]


def _batches(rows: Iterable[dict], n: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _tmp_for(path: str) -> str:
    d, b = os.path.split(os.path.abspath(path))
    return os.path.join(d, f".{b}.tmp-{uuid.uuid4().hex[:8]}")


def _prepare_target(path: str, overwrite: bool) -> None:
    if os.path.lexists(path):
        if not overwrite:
            raise DataError(path, None, "exists already", "choose another path or pass --overwrite")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise DataError(path, None, f"the folder {parent} does not exist")


def _replace(tmp: str, path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
    os.replace(tmp, path)


def _cleanup(tmp: str) -> None:
    if os.path.isdir(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    elif os.path.exists(tmp):
        os.remove(tmp)


def write_jsonl(path: str, rows: RowsFactory, *, overwrite: bool = False) -> int:
    """One JSON object per line (UTF-8, not ASCII-escaped). Returns the row count."""
    _prepare_target(path, overwrite)
    tmp = _tmp_for(path)
    enc = json.JSONEncoder(ensure_ascii=False).encode
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            write = f.write
            for r in rows():
                write(enc(r))
                write("\n")
                n += 1
        _replace(tmp, path)
    except BaseException:
        _cleanup(tmp)
        raise
    return n


class _SchemaChanged(Exception):
    pass


def _table(pa, batch: list[dict], schema=None):
    if schema is None:
        return pa.Table.from_pylist(batch)
    return pa.Table.from_pylist(batch, schema=schema)


def _arrow_pass(rows: RowsFactory, sink: Callable[[Any], Any], schema=None) -> tuple[int, Any]:
    """Write all rows as record batches through ``sink(schema)`` -> writer. With ``schema`` None,
    the first batch decides it and a later batch that does not fit raises _SchemaChanged."""
    import pyarrow as pa

    fixed = schema is not None
    writer = None
    n = 0
    try:
        for batch in _batches(rows()):
            if fixed:
                t = _table(pa, batch, schema)
            else:
                t = _table(pa, batch)
                if schema is None:
                    schema = t.schema
                elif t.schema != schema:
                    try:
                        t = t.select(schema.names).cast(schema) \
                            if set(t.schema.names) == set(schema.names) else None
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
                        t = None
                    if t is None:
                        raise _SchemaChanged()
            if writer is None:
                writer = sink(schema)
            writer.write_table(t)
            n += t.num_rows
        if writer is None:
            if schema is None:
                schema = pa.schema([])
            writer = sink(schema)
    finally:
        if writer is not None:
            writer.close()
    return n, schema


def _unified_schema(rows: RowsFactory):
    import pyarrow as pa

    schema = None
    for batch in _batches(rows()):
        s = pa.Table.from_pylist(batch).schema
        schema = s if schema is None else pa.unify_schemas([schema, s],
                                                           promote_options="permissive")
    return schema


def _write_arrow(path: str, rows: RowsFactory, make_sink: Callable[[str], Callable]) -> int:
    import pyarrow as pa

    try:
        try:
            n, _ = _arrow_pass(rows, make_sink(path))
        except _SchemaChanged:
            schema = _unified_schema(rows)
            n, _ = _arrow_pass(rows, make_sink(path), schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise DataError(path, None, f"the rows do not fit one Arrow schema: "
                        f"{str(e).splitlines()[0][:200]}", "export as jsonl instead") from None
    return n


class _RowGroups:
    """A ParquetWriter that gathers the streamed batches into row groups of ROW_GROUP_ROWS
    (or ROW_GROUP_BYTES): each ``write_table`` of pyarrow's own writer ends a group."""

    def __init__(self, path: str, schema):
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(path, schema)
        self._pending: list = []
        self._rows = self._bytes = 0

    def write_table(self, table) -> None:
        self._pending.append(table)
        self._rows += table.num_rows
        self._bytes += table.nbytes
        if self._rows >= ROW_GROUP_ROWS or self._bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            group = pa.concat_tables(self._pending)
            self._writer.write_table(group, row_group_size=max(group.num_rows, 1))
        self._pending, self._rows, self._bytes = [], 0, 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._writer.close()


def write_parquet(path: str, rows: RowsFactory, *, overwrite: bool = False) -> int:
    _prepare_target(path, overwrite)
    tmp = _tmp_for(path)
    try:
        n = _write_arrow(tmp, rows, lambda p: (lambda schema: _RowGroups(p, schema)))
        _replace(tmp, path)
    except BaseException:
        _cleanup(tmp)
        raise
    return n


def write_hf_folder(path: str, rows: RowsFactory, *, overwrite: bool = False,
                    description: str = "") -> int:
    """A folder ``datasets.load_from_disk(path)`` opens: one Arrow stream file + json files."""
    import pyarrow as pa

    _prepare_target(path, overwrite)
    tmp = _tmp_for(path)
    fname = "data-00000-of-00001.arrow"
    os.makedirs(tmp)
    try:
        def sink_for(p: str):
            def sink(schema):
                return pa.ipc.new_stream(os.path.join(tmp, fname), schema)
            return sink

        n = _write_arrow(tmp, rows, sink_for)
        state = {"_data_files": [{"filename": fname}], "_fingerprint": uuid.uuid4().hex[:16],
                 "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                 "_output_all_columns": False, "_split": None}
        info = {"citation": "", "description": description, "homepage": "", "license": ""}
        with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2)
        with open(os.path.join(tmp, "dataset_info.json"), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
        _replace(tmp, path)
    except BaseException:
        _cleanup(tmp)
        raise
    return n


def write_rows(path: str, rows: RowsFactory, fmt: str = "jsonl", *, overwrite: bool = False,
               description: str = "") -> int:
    fmt = (fmt or "jsonl").lower()
    if fmt == "jsonl":
        return write_jsonl(path, rows, overwrite=overwrite)
    if fmt == "parquet":
        return write_parquet(path, rows, overwrite=overwrite)
    if fmt in ("hf", "arrow", "save_to_disk"):
        return write_hf_folder(path, rows, overwrite=overwrite, description=description)
    raise DataError(None, None, f"unknown export format {fmt!r}; use jsonl, parquet or hf")
