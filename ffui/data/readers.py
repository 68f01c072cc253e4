"""Streaming readers: every supported input yields ``(location, row)`` one row at a time.

A reader never holds more than one batch of rows (or one row's text) in memory. ``location`` is a
1-based line number for text files (JSONL, JSON arrays, CSV, TSV: the line where the row starts)
and a 1-based row number for Parquet, ``save_to_disk`` folders and hub datasets. A row that cannot
be read (malformed JSON, bad bytes, wrong shape) is yielded as a :class:`RowError` instance in
place of the dict, so the caller can stop with a clear message or, with ``--skip-bad``, count it
and go on. Problems with the file as a whole raise :class:`DataError`.

Text files may be compressed (``.jsonl.gz``, ``.csv.bz2``, ``.json.xz``): :func:`open_bytes`
decompresses as it reads, and progress counts the compressed bytes read from disk.

Only the standard library and pyarrow are imported here; ``datasets`` is imported lazily for hub
ids.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import functools
import gzip
import json
import lzma
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

from .errors import DataError, RowError

#: The longest single text field a row may have (characters). Longer fields are bad input.
MAX_FIELD_CHARS = 16_000_000
#: The longest line (bytes) a JSONL/CSV reader accepts before even parsing it.
MAX_LINE_BYTES = 4 * MAX_FIELD_CHARS

FILE_KINDS = ("jsonl", "json", "csv", "tsv", "parquet", "hf", "files", "hub")

_EXT_KIND = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonlines": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv", ".tab": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
}


def _reading_tell(base):
    """``base`` (GzipFile, BZ2File, LZMAFile) over a file of its own, whose ``tell()`` is the
    position in the compressed file: what progress against the file's size needs."""

    class Decompressing(base):
        def __init__(self, path: str):
            self._compressed = open(path, "rb")
            try:
                super().__init__(fileobj=self._compressed, mode="rb") if base is gzip.GzipFile \
                    else super().__init__(self._compressed, mode="rb")
            except BaseException:
                self._compressed.close()
                raise

        def tell(self) -> int:
            return self._compressed.tell()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._compressed.close()

    Decompressing.__name__ = f"Decompressing{base.__name__}"
    return Decompressing


_COMPRESSED = {".gz": _reading_tell(gzip.GzipFile), ".gzip": _reading_tell(gzip.GzipFile),
               ".bz2": _reading_tell(bz2.BZ2File), ".xz": _reading_tell(lzma.LZMAFile),
               ".lzma": _reading_tell(lzma.LZMAFile)}
#: containers and codecs ffui does not unpack itself, with what to do instead
_UNREAD = {".zst": "zstd -d FILE", ".zstd": "zstd -d FILE", ".zip": "unzip FILE", ".7z": "7z x FILE",
           ".tar": "tar -xf FILE", ".tgz": "tar -xzf FILE", ".rar": "unrar x FILE"}
_DAMAGED = (EOFError, zlib.error, lzma.LZMAError, OSError)  # gzip.BadGzipFile is an OSError


def compression(path: str) -> str | None:
    """The compression suffix of ``path`` that ffui decompresses while reading ('.gz'), or None."""
    ext = os.path.splitext(path)[1].lower()
    return ext if ext in _COMPRESSED else None


def open_bytes(path: str):
    """``path`` opened for reading bytes, decompressed if its name ends in .gz, .bz2 or .xz."""
    ext = compression(path)
    return _COMPRESSED[ext](path) if ext else open(path, "rb")


@contextlib.contextmanager
def reading(path: str, spec: str | None = None):
    """:func:`open_bytes` as a context; a damaged or cut-short compressed file is one DataError."""
    f = open_bytes(path)
    try:
        yield f
    except _DAMAGED as e:
        if compression(path) is None:
            raise
        raise _damaged(spec or path, path, e) from None
    finally:
        f.close()


def _damaged(spec: str, path: str, e: BaseException) -> DataError:
    what = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2", ".xz": "xz", ".lzma": "xz"}[compression(path)]
    return DataError(spec, None, f"cannot decompress the {what} file: {_first_line(e)}",
                     "the file may be cut short or damaged; download or compress it again")


SPLIT_HINT = "choose one with --split NAME (Split in the import screen)"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_WS = re.compile(r"[ \t\n\r]*")


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def describe_bad_bytes(data: bytes) -> str:
    """Explain why a line could not be read as UTF-8 JSON text (for error messages)."""
    if b"\x00" in data:
        return "binary data (NUL bytes) where text was expected"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return (f"not valid UTF-8 (byte 0x{data[e.start]:02x} at column {e.start + 1}); "
                "re-save the file as UTF-8")
    return ""


@dataclass
class RowSource:
    """An opened input. Iterate :meth:`rows` once; ``done``/``total`` report progress.

    ``unit`` is ``"line"`` or ``"row"`` (what a location counts); ``progress_unit`` is
    ``"bytes"`` or ``"rows"`` (what ``done``/``total`` count; ``total`` may be None).
    """

    path: str
    kind: str
    unit: str = "line"
    progress_unit: str = "bytes"
    total: int | None = None
    done: int = 0
    split: str | None = None
    columns: list[str] | None = None  # known up front for CSV/TSV/Parquet/hf
    features: dict[str, Any] = field(default_factory=dict)
    wrapper_key: str | None = None  # a .json object holding the rows under this key
    splits: list[str] | None = None  # the splits to choose from (folders, hub), when known

    def where(self, loc: int | tuple[int, int]) -> str:
        if self.kind == "files":  # (which file, where in it)
            rel, sub = self._files[loc[0]]
            return f"{rel}, {sub.where(loc[1])}"
        return f"{self.unit} {loc}"

    @property
    def columnar(self) -> bool:
        """Rows from Arrow (Parquet, save_to_disk, hub): absent struct fields come back as nulls."""
        if self.kind == "files":
            return any(sub.columnar for _, sub in self._files)
        return self.kind in ("parquet", "hf", "hub")

    def error(self, loc: int | None, message: str, hint: str | None = None) -> DataError:
        return DataError(self.path, self.where(loc) if loc is not None else None, message, hint)

    # -- iteration -------------------------------------------------------------------------
    @property
    def local_path(self) -> str:
        """The file's path on this machine (``path`` is what the user gave, ``~`` and all)."""
        return os.path.expanduser(self.path)

    def rows(self) -> Iterator[tuple[int, Any]]:
        rows = getattr(self, f"_rows_{self.kind}")()
        return self._decompressed(rows) if self.kind not in ("hub", "hf") and compression(self.path) else rows

    def _decompressed(self, rows: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        try:
            yield from rows
        except _DAMAGED as e:  # (DataError is not among them)
            raise _damaged(self.path, self.local_path, e) from None

    def _rows_jsonl(self) -> Iterator[tuple[int, Any]]:
        loads = json.loads
        lineno = 0
        with open_bytes(self.local_path) as f:
            for line in f:
                lineno += 1
                if not lineno & 4095:
                    self.done = f.tell()
                if len(line) > MAX_LINE_BYTES:
                    yield lineno, RowError(
                        f"the line is {_mb(len(line))}, longer than ffui's limit of "
                        f"{_mb(MAX_LINE_BYTES)} per row")
                    continue
                try:
                    row = loads(line)
                except RecursionError:
                    yield lineno, RowError(TOO_DEEP)
                    continue
                except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
                    problem = jsonl_line_problem(line, e)
                    if problem is not None:
                        yield lineno, problem
                    continue
                if type(row) is not dict:
                    yield lineno, RowError(
                        f"expected a JSON object per line, got {_json_type(row)}")
                    continue
                yield lineno, row
            self.done = f.tell()

    def _rows_json(self) -> Iterator[tuple[int, Any]]:
        """A JSON array of objects, parsed element by element in bounded memory."""
        if self.wrapper_key is not None:
            yield from self._rows_wrapped()
            return
        dec = json.JSONDecoder()
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        chunk = 1 << 20
        st = {"buf": "", "eof": False, "raw": 0, "line": 1, "lpos": 0}
        f = open_bytes(self.local_path)

        def fill(pos: int, n: int = chunk) -> int:
            """Drop buf[:pos], append the next n bytes decoded; returns the new pos (0)."""
            if st["eof"]:
                return pos
            data = f.read(n)
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                bad_at = st["raw"] + e.start
                f.seek(0)
                head = f.read(bad_at)
                ln = head.count(b"\n") + 1
                col = bad_at - (head.rfind(b"\n") + 1) + 1
                raise DataError(self.path, f"line {ln}",
                                f"not valid UTF-8 (byte 0x{e.object[e.start]:02x} at column "
                                f"{col})", "re-save the file as UTF-8") from None
            st["raw"] += len(data)
            self.done = f.tell()
            if not data:
                st["eof"] = True
            buf = st["buf"]
            st["line"] += buf.count("\n", st["lpos"], pos)
            st["lpos"] = 0
            st["buf"] = buf[pos:] + text
            return 0

        def line_at(pos: int) -> int:
            st["line"] += st["buf"].count("\n", st["lpos"], pos)
            st["lpos"] = pos
            return st["line"]

        def skip_ws(pos: int) -> int:
            while True:
                pos = _WS.match(st["buf"], pos).end()
                if pos < len(st["buf"]) or st["eof"]:
                    return pos
                pos = fill(pos)

        def fail(pos: int, message: str, hint: str | None = None) -> DataError:
            return DataError(self.path, f"line {line_at(pos)}", message, hint)

        no_skip = "a syntax error inside a JSON array cannot be skipped; fix the file"
        with f:
            pos = skip_ws(fill(0))
            if pos >= len(st["buf"]):
                raise DataError(self.path, None, "the file is empty; nothing to import")
            if st["buf"][pos] != "[":
                raise fail(pos, "expected a JSON array of rows", "for one object per line name "
                           "the file .jsonl")
            pos += 1
            index = 0
            while True:
                pos = skip_ws(pos)
                buf = st["buf"]
                if pos >= len(buf):
                    raise fail(pos, "the JSON array is cut off (no closing ']')",
                               "the file looks truncated")
                ch = buf[pos]
                if ch == "]":
                    break
                if index:
                    if ch != ",":
                        raise fail(pos, f"malformed JSON: expected ',' or ']' after row {index}, "
                                   f"found {ch!r}", no_skip)
                    pos = skip_ws(pos + 1)
                    if pos >= len(st["buf"]):
                        raise fail(pos, "the JSON array is cut off (no closing ']')",
                                   "the file looks truncated")
                ln = line_at(pos)
                n = chunk
                while True:
                    buf = st["buf"]
                    try:
                        obj, end = dec.raw_decode(buf, pos)
                        if end < len(buf) or st["eof"]:
                            break
                    except json.JSONDecodeError as e:
                        if st["eof"]:
                            raise fail(e.pos, f"malformed JSON in row {index + 1}: {e.msg}",
                                       no_skip) from None
                    except RecursionError:
                        raise DataError(self.path, f"line {ln}", f"row {index + 1}: {TOO_DEEP}",
                                        "flatten that row or remove it; inside a JSON array it "
                                        "cannot be skipped") from None
                    pos = fill(pos, n)
                    n = min(n * 2, 1 << 28)
                index += 1
                if type(obj) is not dict:
                    yield ln, RowError(f"expected a JSON object for row {index}, "
                                       f"got {_json_type(obj)}")
                else:
                    yield ln, obj
                pos = end
            pos = skip_ws(pos + 1)
            if pos < len(st["buf"]):
                raise fail(pos, "unexpected text after the closing ']' of the JSON array")

    def _rows_wrapped(self) -> Iterator[tuple[int, Any]]:
        """{"version": ..., "data": [rows]}: the rows of the wrapper key, numbered from 1."""
        obj = _load_json_object(self.local_path)
        rows = obj[self.wrapper_key] if self.wrapper_key else [obj]  # "": the object is the one row
        for n, row in enumerate(rows, 1):
            self.done = n
            if type(row) is not dict:
                yield n, RowError(f"expected an object in {self.wrapper_key!r}, got {_json_type(row)}")
            else:
                yield n, row

    def _rows_csv(self) -> Iterator[tuple[int, Any]]:
        return self._rows_delimited(_csv_delimiter(self.local_path))

    def _rows_tsv(self) -> Iterator[tuple[int, Any]]:
        return self._rows_delimited("\t")

    def _rows_delimited(self, delimiter: str) -> Iterator[tuple[int, Any]]:
        csv.field_size_limit(MAX_FIELD_CHARS)
        state = {"line": 0, "bad": {}}

        def lines(f):
            first = True
            for raw in f:
                state["line"] += 1
                if not state["line"] & 4095:
                    self.done = f.tell()
                if first:
                    first = False
                    if raw.startswith(codecs.BOM_UTF8):
                        raw = raw[3:]
                if b"\x00" in raw:
                    state["bad"][state["line"]] = "binary data (NUL bytes) where text was expected"
                    raw = raw.replace(b"\x00", b"")
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    state["bad"][state["line"]] = describe_bad_bytes(raw)
                    yield raw.decode("utf-8", errors="replace")

        with open_bytes(self.local_path) as f:
            reader = csv.reader(lines(f), delimiter=delimiter, strict=False)
            try:
                header = next(reader)
            except StopIteration:
                raise DataError(self.path, None, "the file is empty; nothing to import") from None
            except csv.Error as e:
                raise DataError(self.path, "line 1", f"cannot read the header: {e}") from None
            if state["bad"]:
                ln, msg = next(iter(state["bad"].items()))
                raise DataError(self.path, f"line {ln}", f"the header is {msg}")
            header = [h.strip() for h in header]
            if not any(header):
                raise DataError(self.path, "line 1", "the header row is empty",
                                "the first line must name the columns")
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise DataError(self.path, "line 1",
                                f"the header names column(s) twice: {', '.join(dupes)}")
            self.columns = header
            ncol = len(header)
            while True:
                start = state["line"] + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    msg = str(e)
                    if "field larger" in msg:
                        msg = (f"a field is longer than ffui's limit of "
                               f"{_mb(MAX_FIELD_CHARS)}")
                    yield start, RowError(f"cannot parse the row: {msg}")
                    continue
                end = state["line"]
                if state["bad"]:
                    bad = [(ln, m) for ln, m in state["bad"].items() if start <= ln <= end]
                    state["bad"].clear()
                    if bad:
                        ln, msg = bad[0]
                        yield ln, RowError(msg)
                        continue
                if not values or (len(values) == 1 and not values[0] and ncol > 1):
                    continue  # blank line
                if len(values) != ncol:
                    yield start, RowError(
                        f"the row has {len(values)} fields but the header has {ncol}",
                        "check quoting and the delimiter")
                    continue
                yield start, dict(zip(header, values))
            self.done = f.tell()

    def _rows_parquet(self) -> Iterator[tuple[int, Any]]:
        import pyarrow.parquet as pq

        try:
            # buffered page-by-page reads: memory follows the batch, not the row group (a
            # 1,000,000-row file written with pyarrow's defaults is one row group)
            pf = pq.ParquetFile(self.local_path, pre_buffer=False, buffer_size=1 << 20)
        except Exception as e:  # pyarrow raises several kinds
            raise DataError(self.path, None, f"cannot read the Parquet file: {_first_line(e)}",
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
                            f"cannot read the Parquet data: {_first_line(e)}") from None

    def _rows_hf(self) -> Iterator[tuple[int, Any]]:
        import pyarrow as pa

        n = 0
        for fname in self._arrow_files:
            try:
                src = pa.memory_map(fname)
                reader = pa.ipc.open_stream(src)
            except Exception as e:
                raise DataError(fname, None, f"cannot read the Arrow file: {_first_line(e)}",
                                "the folder may be damaged") from None
            with src:
                for batch in reader:
                    for row in batch.to_pylist():
                        n += 1
                        yield n, row
                    self.done = n

    def _rows_files(self) -> Iterator[tuple[tuple[int, int], Any]]:
        """The data files of a folder, one after the other; a location is (file index, location)."""
        before = 0
        for i, (_, sub) in enumerate(self._files):
            for loc, row in sub.rows():
                self.done = before + sub.done
                yield (i, loc), row
            before += sub.total or 0
            self.done = before

    def _rows_hub(self) -> Iterator[tuple[int, Any]]:
        n = 0
        it = iter(self._hub_dataset)
        while True:
            try:
                row = next(it)
            except StopIteration:
                return
            except Exception as e:
                raise _hub_error(self.path, e, self._hub_token) or DataError(
                    self.path, f"row {n + 1}",
                    f"reading the hub dataset failed: {_first_line(e)}") from None
            n += 1
            self.done = n
            yield n, row


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def _json_type(v: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "true/false", type(None): "null"}.get(type(v), type(v).__name__)


def _explain_json_error(line: bytes, e: ValueError) -> str:
    bad = describe_bad_bytes(line)
    if bad:
        return bad
    if isinstance(e, json.JSONDecodeError):
        return f"malformed JSON: {e.msg} (column {e.colno})"
    return f"malformed JSON: {e}"


def jsonl_line_problem(line: bytes, e: ValueError) -> RowError | None:
    """The RowError for a JSONL line json.loads rejected (None: a blank line, skipped)."""
    if not line.strip():
        return None
    if len(line) > MAX_LINE_BYTES:
        return RowError(f"the line is {_mb(len(line))}, longer than ffui's limit of "
                        f"{_mb(MAX_LINE_BYTES)} per row")
    return RowError(_explain_json_error(line, e))


def _sniff(path: str, spec: str) -> bytes:
    with reading(path, spec) as f:
        return f.read(8192)


def _check_text_head(path: str, head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(path, None, "the file is UTF-16 encoded; ffui reads UTF-8 text",
                        "re-save it as UTF-8")
    ctrl = sum(1 for b in head if b < 9 or 13 < b < 32)
    if ctrl > max(8, len(head) // 20):  # a stray NUL is reported with its line instead
        raise DataError(path, None, "the file looks like binary data, not text",
                        "ffui reads JSONL, JSON, CSV, TSV, Parquet or a save_to_disk folder")


def is_hub_id(spec: str) -> bool:
    """True when ``spec`` (not an existing path) reads as a hub dataset id, not a file name."""
    return bool(_HUB_ID.match(spec) and ("/" in spec or "." not in spec)
                and os.path.splitext(spec)[1].lower() not in {**_EXT_KIND, **_COMPRESSED, **_UNREAD}
                and not os.path.isdir(spec.split("/")[0]))


def check_source_exists(spec: str | os.PathLike) -> None:
    """Raise DataError when ``spec`` names a local file or folder that is not there."""
    spec = os.fspath(spec)
    if not os.path.exists(os.path.expanduser(spec)) and not is_hub_id(spec):
        raise DataError(spec, None, "no such file or folder")


def default_dataset_name(spec: str | os.PathLike) -> str:
    """The name an import takes when none is given: the file's (or hub repo's) name without
    its data and compression extensions (``chats.jsonl.gz`` -> ``chats``)."""
    base = os.path.basename(os.path.normpath(os.path.expanduser(os.fspath(spec)))) or "dataset"
    stem = re.sub(r"\.(jsonl|json|csv|tsv|parquet|txt|gz|gzip|bz2|xz|lzma)$", "", base, flags=re.I)
    stem = re.sub(r"\.(jsonl|json|csv|tsv)$", "", stem, flags=re.I)
    name = re.sub(r"[^\w.-]+", "-", stem).strip("-.") or "dataset"
    return name if not name.isdigit() else f"dataset-{name}"


def open_source(spec: str | os.PathLike, *, split: str | None = None,
                kind: str | None = None, token: str | None = None) -> RowSource:
    """Open a file, a ``save_to_disk`` folder or a hub id for streaming. Raises DataError.

    ``token``: the Hugging Face token for gated or private hub datasets (None: HF_TOKEN or
    huggingface_hub's own login, if any)."""
    spec = os.fspath(spec)
    path = os.path.expanduser(spec)
    if kind == "hub" or (not os.path.exists(path) and kind is None):
        if kind == "hub" or is_hub_id(spec):
            return _open_hub(spec, split, token)
        raise DataError(spec, None, "no such file or folder")
    if os.path.isdir(path):
        return _open_hf_folder(path, split)
    if not os.access(path, os.R_OK):
        raise DataError(spec, None, "the file is not readable (permission denied)")
    size = os.path.getsize(path)
    packed = compression(path)
    inner = path[: -len(packed)] if packed else path  # data.jsonl.gz reads as data.jsonl
    unpack = _UNREAD.get(os.path.splitext(path)[1].lower())
    if unpack:
        raise DataError(spec, None, f"ffui does not unpack {os.path.splitext(path)[1].lower()} files",
                        f"unpack it with `{unpack.replace('FILE', os.path.basename(path))}` and import "
                        "the file inside; .gz, .bz2 and .xz files are read as they are")
    if kind is None:
        kind = _EXT_KIND.get(os.path.splitext(inner)[1].lower())
    head = _sniff(path, spec)
    if size == 0 or not head.strip():
        raise DataError(spec, None, "the file is empty; nothing to import")
    if head.startswith(b"PAR1"):
        kind = "parquet"
    if kind == "parquet" and packed:
        raise DataError(spec, None, f"a Parquet file inside {packed} cannot be read in place",
                        "decompress it first (Parquet compresses its own columns)")
    if kind is None:
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped.startswith(b"["):
            kind = "json"
        elif stripped.startswith(b"{"):
            kind = "jsonl"
        else:
            if os.path.splitext(inner)[1].lower() in (".txt", ".md", ".text"):
                raise DataError(spec, None, "plain text files are not read as rows",
                                'write one JSON object per line, {"text": "..."}, and name the file .jsonl')
            raise DataError(spec, None, "cannot tell the file type",
                            "name it .jsonl, .json, .csv, .tsv or .parquet (.gz, .bz2 or .xz on top is fine)")
    if kind == "parquet":
        if not head.startswith(b"PAR1"):
            raise DataError(spec, None, "the file is not Parquet (no PAR1 header)",
                            "check the file name and contents")
        import pyarrow.parquet as pq

        try:
            md = pq.ParquetFile(path).metadata
            cols = pq.ParquetFile(path).schema_arrow.names
        except Exception as e:
            raise DataError(spec, None, f"cannot read the Parquet file: {_first_line(e)}",
                            "the file may be damaged") from None
        return RowSource(path=spec, kind="parquet", unit="row", progress_unit="rows",
                         total=md.num_rows, columns=list(cols))
    _check_text_head(spec, head)
    if kind == "json":
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped.startswith(b"{"):
            # (compressed, the text is several times the file: 512 MB of gzip may be 4 GB of JSON)
            key = _wrapper_key(spec, path, size * 8 if packed else size, split)
            if key is not None:
                obj = _load_json_object(path)
                lists = _row_lists(obj)
                return RowSource(path=spec, kind="json", unit="row", progress_unit="rows",
                                 total=len(obj[key]) if key else 1, split=split, wrapper_key=key,
                                 splits=lists if len(lists) > 1 else None)
            kind = "jsonl"  # many .json files are JSON Lines
    return RowSource(path=spec, kind=kind, unit="line", progress_unit="bytes", total=size)


MAX_WRAPPED_JSON = 512 << 20
MAX_JSON_DEPTH = 900  # about where Python's json gives up (its recursion limit is 1,000)  # a wrapped .json file is parsed whole; JSONL and arrays stream


@functools.lru_cache(maxsize=2)
def _load_json_object(path: str) -> dict:
    with reading(path) as f:
        return json.loads(f.read().decode("utf-8-sig"))


TOO_DEEP = ("the JSON is nested too deeply (arrays or objects inside each other past about "
            f"{MAX_JSON_DEPTH} levels)")
_JSON_NESTING = re.compile(rb'"(?:[^"\\\n]|\\.)*"|[\[\]{}\n]')


def _too_deep_line(path: str) -> int:
    """The line where the nesting of a JSON file first goes past MAX_JSON_DEPTH (strings
    skipped); 1 when it cannot tell. Only run to report an error."""
    depth, line = 0, 1
    with reading(path) as f:
        for m in _JSON_NESTING.finditer(f.read()):
            tok = m.group()
            if tok == b"\n":
                line += 1
            elif tok in (b"[", b"{"):
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    return line
            elif tok in (b"]", b"}"):
                depth -= 1
    return 1


def _is_turn(d: dict) -> bool:
    return ("role" in d and ("content" in d or "tool_calls" in d)) or ("from" in d and "value" in d)


def _row_lists(obj: dict) -> list[str]:
    """The keys of a JSON object that hold rows (lists of objects that are not turns)."""
    return [k for k, v in obj.items() if type(v) is list and v and type(v[0]) is dict and not _is_turn(v[0])]


def _wrapper_key(spec: str, path: str, size: int, split: str | None) -> str | None:
    """The key of a .json file that is ONE object holding the rows in a list (SQuAD's
    {"version", "data": [...]}, {"train": [...], "test": [...]}); None for JSON Lines."""
    with reading(path, spec) as f:
        first = f.readline()
        more = f.readline().strip()
    try:
        json.loads(first)
        one_line = True
        if more:
            return None  # one object per line: JSON Lines
    except (ValueError, RecursionError):
        one_line = False  # a pretty-printed object spans lines
    if size > MAX_WRAPPED_JSON:
        return None  # read as JSON Lines; its errors say what is wrong
    try:
        obj = _load_json_object(path)
    except RecursionError:
        if one_line and not more:  # a single line: JSON Lines reading reports it with its line
            return None
        raise DataError(spec, f"line {_too_deep_line(path)}", TOO_DEEP,
                        "flatten or remove the nested values and import again") from None
    except (ValueError, UnicodeDecodeError):
        return None  # JSON Lines reading reports the line and the problem
    if type(obj) is not dict:
        return None
    lists = _row_lists(obj)
    if not lists:
        return None if one_line else ""  # a single row (on one line, JSON Lines reads it)
    if split is not None:
        if split not in lists:
            raise DataError(spec, None, f"the file holds rows under {', '.join(map(repr, lists))}, not {split!r}",
                            f"pick one with --split {lists[0]} (Split in the import screen)")
        return split
    if len(lists) > 1:
        raise DataError(spec, None, f"the file holds rows under several keys: {', '.join(map(repr, lists))}",
                        f"pick one with --split {lists[0]} (Split in the import screen)")
    return lists[0]


def _csv_delimiter(path: str) -> str:
    """',' unless the header line has no comma but semicolons or pipes (European spreadsheet
    exports use ';')."""
    with reading(path) as f:
        header = f.readline().decode("utf-8", errors="replace")
    if "," in header:
        return ","
    for d in (";", "|"):
        if d in header:
            return d
    return ","


def _open_hf_folder(path: str, split: str | None) -> RowSource:
    dd = os.path.join(path, "dataset_dict.json")
    if os.path.exists(dd):
        try:
            splits = json.load(open(dd, encoding="utf-8"))["splits"]
        except Exception as e:
            raise DataError(dd, None, f"cannot read the split list: {_first_line(e)}") from None
        if split is None:
            if "train" in splits:
                split = "train"
            elif len(splits) == 1:
                split = splits[0]
            else:
                raise DataError(path, None, f"the folder holds several splits ({', '.join(splits)})",
                                SPLIT_HINT)
        if split not in splits:
            raise DataError(path, None, f"no split named {split!r}; splits are: "
                            f"{', '.join(splits)}", SPLIT_HINT)
        src = _open_hf_folder(os.path.join(path, split), None)
        src.path = path
        src.split = split
        src.splits = list(splits)
        return src
    state = os.path.join(path, "state.json")
    if not os.path.exists(state):
        return _open_data_folder(path, split)
    if split is not None:
        raise DataError(path, None, f"--split {split} given but the folder holds one split")
    try:
        st = json.load(open(state, encoding="utf-8"))
        files = [os.path.join(path, d["filename"]) for d in st["_data_files"]]
    except Exception as e:
        raise DataError(state, None, f"cannot read the folder's state: {_first_line(e)}") from None
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
            raise DataError(fname, None, f"cannot read the Arrow file: {_first_line(e)}",
                            "the folder may be damaged") from None
    if total == 0:
        raise DataError(path, None, "the dataset is empty; nothing to import")
    src = RowSource(path=path, kind="hf", unit="row", progress_unit="rows", total=total,
                    columns=columns)
    src._arrow_files = files  # type: ignore[attr-defined]
    return src


#: words in a data file's path that name its split, as the hub reads them
#: (``data/train-00000-of-00002.parquet``, ``test.jsonl``, ``validation/part-0.csv``)
_SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test",
                "eval": "test", "evaluation": "test", "validation": "validation", "valid": "validation",
                "val": "validation", "dev": "validation"}
_SPLIT_TOKENS = re.compile(r"[^A-Za-z]+")


def _split_of(rel: str) -> str:
    """The split a data file belongs to: the split word nearest its file name (the name, then
    its folders), else "train" (the hub's default for files that name none)."""
    for part in reversed(rel.replace(os.sep, "/").split("/")):
        words = [_SPLIT_WORDS[w.lower()] for w in _SPLIT_TOKENS.split(part) if w.lower() in _SPLIT_WORDS]
        if words:
            return words[0]
    return "train"


#: files of a dataset repo that describe it rather than hold rows
_NOT_DATA = {"dataset_infos.json", "dataset_info.json", "dataset_dict.json", "state.json", "croissant.json"}


def _data_files(path: str) -> list[str]:
    """Data files under ``path`` (relative, sorted), hidden folders (.git, .cache) and the repo's
    own description files (dataset_infos.json) left out."""
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if f.startswith(".") or f.lower() in _NOT_DATA:
                continue
            packed = compression(f)
            inner = f[: -len(packed)] if packed else f
            if os.path.splitext(inner)[1].lower() in _EXT_KIND:
                found.append(os.path.relpath(os.path.join(root, f), path))
    return sorted(found)


def _open_data_folder(path: str, split: str | None) -> RowSource:
    """A folder of data files (a hub repo downloaded or cloned: ``data/train-*.parquet``...):
    the files of one split, read one after the other."""
    files = _data_files(path)
    if not files:
        raise DataError(path, None, "the folder holds no data files and is not a save_to_disk folder",
                        "ffui reads .jsonl, .json, .csv, .tsv and .parquet files (also .gz, .bz2, .xz) "
                        "in it and its subfolders")
    by_split: dict[str, list[str]] = {}
    for rel in files:
        by_split.setdefault(_split_of(rel), []).append(rel)
    names = sorted(by_split, key=lambda n: (n != "train", n))
    if split is not None and split not in by_split:
        split = _SPLIT_WORDS.get(split.lower(), split)  # --split dev finds validation files
    if split is None:
        if len(by_split) > 1 and "train" not in by_split:
            raise DataError(path, None, f"the folder holds several splits ({', '.join(names)})",
                            SPLIT_HINT)
        split = "train" if "train" in by_split else names[0]
    elif split not in by_split:
        raise DataError(path, None, f"no split named {split!r} among its data files; splits are: "
                        f"{', '.join(names)}", SPLIT_HINT)
    chosen = by_split[split]
    subs = []
    for rel in chosen:
        subs.append((rel, open_source(os.path.join(path, rel))))
    units = {sub.progress_unit for _, sub in subs}
    total = sum(sub.total or 0 for _, sub in subs) if len(units) == 1 and all(
        sub.total is not None for _, sub in subs) else None
    src = RowSource(path=path, kind="files", unit="row", progress_unit=units.pop() if len(units) == 1 else "rows",
                    total=total, split=split if len(by_split) > 1 or split != "train" else None,
                    columns=subs[0][1].columns, splits=names)
    src._files = subs  # type: ignore[attr-defined]
    return src


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (DNS or TCP to HF_ENDPOINT), or None if it answers."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"{host}:{port}: {e.strerror or e}"


_SET_TOKEN = "ffui settings set huggingface.token"


def _hub_error(spec: str, e: BaseException, token: bool) -> DataError | None:
    """One line for a hub refusal (gated, missing or private, bad token), or None.

    huggingface_hub's exceptions may sit anywhere in the cause chain. datasets turns gated and
    missing repos into a DatasetNotFoundError that it re-raises ``from None``, cutting the chain,
    so for that one its message is all there is to go on. Without a token the hub answers 401
    both for a gated repo and for one that does not exist (or is private)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    seen, x = [], e
    while x is not None and len(seen) < 20:
        seen.append(x)
        x = x.__cause__ or x.__context__
    http = next((x for x in seen if isinstance(x, HfHubHTTPError)), None)
    status = getattr(getattr(http, "response", None), "status_code", None)
    text = str(e) if type(e).__name__ == "DatasetNotFoundError" else ""
    page = f"{(os.environ.get('HF_ENDPOINT') or 'https://huggingface.co').rstrip('/')}/datasets/{spec}"
    if isinstance(http, GatedRepoError) or "is a gated dataset" in text:
        if token and (status == 403 or "ask for access" in text):
            return DataError(spec, None, "access denied: the hub dataset is gated and your Hugging "
                             "Face token has not been granted access",
                             f"ask for access on {page}, or set another token with: {_SET_TOKEN}")
        return DataError(spec, None, "access denied: the hub dataset is gated and needs a Hugging "
                         "Face token", f"accept its terms on {page}, then set your token with: "
                         f"{_SET_TOKEN}")
    if isinstance(http, RevisionNotFoundError) or text.startswith("Revision "):
        return DataError(spec, None, "no such revision of the hub dataset")
    if isinstance(http, RepositoryNotFoundError) or "doesn't exist on the Hub" in text:
        return DataError(spec, None, "no such dataset on the hub", "check the id" + (
            "; if it is private, check that your token can read it" if token else
            f"; if it is private, set your Hugging Face token with: {_SET_TOKEN}"))
    if status in (401, 403):
        what = ": the Hugging Face token is invalid or lacks permission" if token else ""
        return DataError(spec, None, f"the hub refused access ({status}){what}",
                         f"set a valid token with: {_SET_TOKEN}")
    return None


def _open_hub(spec: str, split: str | None, token: str | None = None) -> RowSource:
    hint = ("no network access to the hub? download the dataset elsewhere and import its "
            "files or its save_to_disk folder")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or \
            os.environ.get("HF_DATASETS_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise DataError(spec, None, "is not a file or folder here, and the hub is switched off "
                        "(HF_HUB_OFFLINE)", hint)
    reason = _hub_unreachable()
    if reason:
        raise DataError(spec, None, f"is not a file or folder here, and the hub cannot be "
                        f"reached ({reason})", hint)
    try:
        import datasets  # heavy: only here
    except Exception as e:  # pragma: no cover - datasets is an optional dependency
        raise DataError(spec, None, f"loading hub datasets needs the 'datasets' package "
                        f"({_first_line(e)})", "pip install datasets, or import a file") from None
    try:
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
        import huggingface_hub.utils.logging as hf_logging

        hf_logging.set_verbosity_error()
    except Exception:
        pass
    try:
        from huggingface_hub import get_token

        have_token = bool(token or get_token())  # HF_TOKEN or huggingface_hub's own login
    except Exception:
        have_token = bool(token)
    try:
        ds = datasets.load_dataset(spec, split=split or "train", streaming=True, token=token or None)
        it = iter(ds)
        first = next(it)
    except StopIteration:
        raise DataError(spec, None, "the hub dataset is empty") from None
    except Exception as e:
        if "Bad split" in str(e):
            hint = SPLIT_HINT
        elif not isinstance(e, ConnectionError) and "Connect" not in type(e).__name__:
            hint = None  # not a network problem: the message says what is wrong
        raise _hub_error(spec, e, have_token) or DataError(
            spec, None, f"cannot load the hub dataset: {_first_line(e)}", hint) from None

    def rows():
        yield first
        yield from it

    total, names = None, None
    try:
        info = ds.info.splits.get(split or "train") if ds.info and ds.info.splits else None
        total = info.num_examples if info else None
        names = list(ds.info.splits) if ds.info and ds.info.splits else None
    except Exception:
        total = None
    src = RowSource(path=spec, kind="hub", unit="row", progress_unit="rows", total=total,
                    split=split or "train", splits=names)
    src._hub_dataset = rows()  # type: ignore[attr-defined]
    src._hub_token = have_token  # type: ignore[attr-defined]
    return src
