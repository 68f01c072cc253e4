"""Shared reading helpers for the sources in ``ffui.data.sources``: bytes, compression, limits,
how a bad line is worded, and what a spec names before it is opened.

Text files may be compressed (``.jsonl.gz``, ``.csv.bz2``, ``.json.xz``): :func:`open_bytes`
decompresses as it reads, and its ``tell()`` counts the compressed bytes read from disk (what
progress against the file's size needs). The rows themselves come from the sources
(:func:`ffui.data.sources.open_source`).

Only the standard library is imported here.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import lzma
import os
import re
import zlib
from typing import Any

from .errors import DataError, RowError

#: The longest single text field a row may have (characters). Longer fields are bad input.
MAX_FIELD_CHARS = 16_000_000
#: The longest line (bytes) a JSONL/CSV reader accepts before even parsing it.
MAX_LINE_BYTES = 4 * MAX_FIELD_CHARS
#: a wrapped .json file (one object holding the rows) is parsed whole; JSONL and arrays stream
MAX_WRAPPED_JSON = 512 << 20
MAX_JSON_DEPTH = 900  # about where Python's json gives up (its recursion limit is 1,000)
TOO_DEEP = ("the JSON is nested too deeply (arrays or objects inside each other past about "
            f"{MAX_JSON_DEPTH} levels)")

SPLIT_HINT = "choose one with --split NAME (Split in the import screen)"

#: a data file's extension -> the kind of text or Parquet file it is
EXT_KIND = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonlines": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv", ".tab": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
    ".txt": "text", ".text": "text", ".md": "text", ".markdown": "text",  # a document per file
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
UNREAD = {".zst": "zstd -d FILE", ".zstd": "zstd -d FILE", ".zip": "unzip FILE", ".7z": "7z x FILE",
          ".tar": "tar -xf FILE", ".tgz": "tar -xzf FILE", ".rar": "unrar x FILE"}
#: what reading a damaged or cut-short compressed file raises (gzip.BadGzipFile is an OSError)
DECOMPRESS_ERRORS = (EOFError, zlib.error, lzma.LZMAError, OSError)


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
    except DECOMPRESS_ERRORS as e:
        if compression(path) is None:
            raise
        raise damaged(spec or path, path, e) from None
    finally:
        f.close()


def damaged(spec: str, path: str, e: BaseException) -> DataError:
    """The DataError for a compressed file (``path``, named ``spec``) that cannot be decompressed."""
    what = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2", ".xz": "xz", ".lzma": "xz"}[compression(path)]
    return DataError(spec, None, f"cannot decompress the {what} file: {first_line(e)}",
                     "the file may be cut short or damaged; download or compress it again")


def first_line(e: BaseException) -> str:
    """An exception's message as one short line (its type name when it has none)."""
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def json_type(v: Any) -> str:
    """What a JSON value is, in words ("an array"), for "expected an object, got ..." lines."""
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "true/false", type(None): "null"}.get(type(v), type(v).__name__)


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


def _explain_json_error(line: bytes, e: ValueError) -> str:
    bad = describe_bad_bytes(line)
    if bad:
        return bad
    if isinstance(e, json.JSONDecodeError):
        return f"malformed JSON: {e.msg} (column {e.colno})"
    return f"malformed JSON: {e}"


def line_too_long(line: bytes) -> RowError:
    return RowError(f"the line is {mb(len(line))}, longer than ffui's limit of "
                    f"{mb(MAX_LINE_BYTES)} per row")


def jsonl_line_problem(line: bytes, e: ValueError) -> RowError | None:
    """The RowError for a JSONL line json.loads rejected (None: a blank line, skipped)."""
    if not line.strip():
        return None
    if len(line) > MAX_LINE_BYTES:
        return line_too_long(line)
    return RowError(_explain_json_error(line, e))


# -- what a spec names, before it is opened ------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_hub_id(spec: str) -> bool:
    """True when ``spec`` (not an existing path) reads as a hub dataset id, not a file name."""
    return bool(_HUB_ID.match(spec) and ("/" in spec or "." not in spec)
                and os.path.splitext(spec)[1].lower() not in {**EXT_KIND, **_COMPRESSED, **UNREAD}
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
