"""Arrow-backed files: Parquet, and the Arrow stream files of a ``save_to_disk`` folder.

Rows come in batches (memory follows the batch); a location is the 1-based row number, progress
counts rows. pyarrow is imported only when one of these is opened.
"""

from __future__ import annotations

import json
import os
from typing import Iterator

from ..errors import DataError
from ..readers import first_line
from .base import Located, RowSource
from .file import FileSource


class ParquetSource(FileSource):
    """A Parquet file, read page by page."""

    kind = "parquet"
    columnar = True

    def _read(self) -> Iterator[Located]:
        import pyarrow.parquet as pq

        try:
            # buffered page-by-page reads: memory follows the batch, not the row group (a
            # 1,000,000-row file written with pyarrow's defaults is one row group)
            pf = pq.ParquetFile(self.local_path, pre_buffer=False, buffer_size=1 << 20)
        except Exception as e:  # pyarrow raises several kinds
            raise DataError(self.path, None, f"cannot read the Parquet file: {first_line(e)}",
                            "the file may be damaged or not Parquet") from None
        n = 0
        try:
            for batch in pf.iter_batches(batch_size=2048):
                for row in batch.to_pylist():
                    n += 1
                    yield n, row
                self.done = n
        except DataError:
            raise
        except Exception as e:
            raise DataError(self.path, f"row {n + 1}",
                            f"cannot read the Parquet data: {first_line(e)}") from None


def open_parquet(spec: str, path: str, head: bytes) -> ParquetSource:
    """The Parquet file at ``path`` (named ``spec``) whose first bytes are ``head``; its row
    count and columns come from its footer."""
    if not head.startswith(b"PAR1"):
        raise DataError(spec, None, "the file is not Parquet (no PAR1 header)",
                        "check the file name and contents")
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(path).metadata
        cols = pq.ParquetFile(path).schema_arrow.names
    except Exception as e:
        raise DataError(spec, None, f"cannot read the Parquet file: {first_line(e)}",
                        "the file may be damaged") from None
    return ParquetSource(spec, total=md.num_rows, columns=list(cols))


class SaveToDiskSource(RowSource):
    """One split of a ``datasets`` ``save_to_disk`` folder: its Arrow stream files in order."""

    kind = "hf"
    columnar = True

    def __init__(self, path: str, *, arrow_files: list[str], total: int, columns: list[str] | None,
                 split: str | None = None, splits: list[str] | None = None):
        super().__init__(path, total=total, columns=columns, split=split, splits=splits)
        self.arrow_files = arrow_files

    def _rows(self) -> Iterator[Located]:
        import pyarrow as pa

        n = 0
        for fname in self.arrow_files:
            try:
                src = pa.memory_map(fname)
                reader = pa.ipc.open_stream(src)
            except Exception as e:
                raise _bad_arrow(fname, e) from None
            with src:
                for batch in reader:
                    for row in batch.to_pylist():
                        n += 1
                        yield n, row
                    self.done = n


def _bad_arrow(fname: str, e: BaseException) -> DataError:
    return DataError(fname, None, f"cannot read the Arrow file: {first_line(e)}",
                     "the folder may be damaged")


def open_save_to_disk(folder: str, *, path: str | None = None, split: str | None = None,
                      splits: list[str] | None = None) -> SaveToDiskSource:
    """The split in ``folder`` (which holds ``state.json``), its rows counted from the Arrow
    headers (the data stays on disk). ``path``/``split``/``splits``: what to call it when the
    folder is one split of a ``dataset_dict.json`` folder."""
    state = os.path.join(folder, "state.json")
    try:
        with open(state, encoding="utf-8") as f:
            st = json.load(f)
        files = [os.path.join(folder, d["filename"]) for d in st["_data_files"]]
    except Exception as e:
        raise DataError(state, None, f"cannot read the folder's state: {first_line(e)}") from None
    import pyarrow as pa

    total = 0
    columns = None
    for fname in files:
        try:
            with pa.memory_map(fname) as src:
                reader = pa.ipc.open_stream(src)
                if columns is None:
                    columns = list(reader.schema.names)
                for batch in reader:  # headers only; data stays on disk
                    total += batch.num_rows
        except Exception as e:
            raise _bad_arrow(fname, e) from None
    if total == 0:
        raise DataError(folder, None, "the dataset is empty; nothing to import")
    return SaveToDiskSource(path or folder, arrow_files=files, total=total, columns=columns,
                            split=split, splits=splits)
