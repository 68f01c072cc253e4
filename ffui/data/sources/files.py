"""Which source reads a single file: by its extension (under any compression suffix), else by
its first bytes; the problems a file has as a whole (unreadable, empty, binary, UTF-16, a
container ffui does not unpack) are refused here, before any row is read.
"""

from __future__ import annotations

import codecs
import os

from ..errors import DataError
from ..readers import EXT_KIND, UNREAD, compression, reading
from .arrow import open_parquet
from .file import FileSource
from .json_text import JsonArraySource, JsonObjectSource, wrapper_key
from .text import CsvSource, JsonLinesSource, PlainTextSource, TextFileSource, TsvSource

_TEXT_SOURCES: dict[str, type[TextFileSource]] = {
    "jsonl": JsonLinesSource, "csv": CsvSource, "tsv": TsvSource, "text": PlainTextSource,
}
_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"


def open_file(spec: str, *, kind: str | None = None, split: str | None = None) -> FileSource:
    """The file ``spec`` names (``~`` allowed), read as ``kind`` (None: as its name or first
    bytes say). Raises DataError."""
    path = os.path.expanduser(spec)
    if not os.access(path, os.R_OK):
        raise DataError(spec, None, "the file is not readable (permission denied)")
    size = os.path.getsize(path)
    packed = compression(path)
    inner = path[: -len(packed)] if packed else path  # data.jsonl.gz reads as data.jsonl
    ext = os.path.splitext(path)[1].lower()
    if ext in UNREAD:
        raise DataError(spec, None, f"ffui does not unpack {ext} files",
                        f"unpack it with `{UNREAD[ext].replace('FILE', os.path.basename(path))}` and "
                        "import the file inside; .gz, .bz2 and .xz files are read as they are")
    if kind is None:
        kind = EXT_KIND.get(os.path.splitext(inner)[1].lower())
    with reading(path, spec) as f:
        head = f.read(8192)
    if size == 0 or not head.strip():
        raise DataError(spec, None, "the file is empty; nothing to import")
    if head.startswith(b"PAR1"):
        kind = "parquet"
    if kind == "parquet" and packed:
        raise DataError(spec, None, f"a Parquet file inside {packed} cannot be read in place",
                        "decompress it first (Parquet compresses its own columns)")
    if kind is None:
        kind = _kind_from_head(spec, inner, head)
    if kind == "parquet":
        return open_parquet(spec, path, head)
    _check_text_head(spec, head)
    if kind == "json":
        if not head.lstrip(_BOM_AND_SPACE).startswith(b"{"):
            return JsonArraySource(spec, total=size)
        # (compressed, the text is several times the file: 512 MB of gzip may be 4 GB of JSON)
        key = wrapper_key(spec, path, size * 8 if packed else size, split)
        if key is not None:
            return JsonObjectSource(spec, wrapper_key=key, split=split)
        kind = "jsonl"  # many .json files are JSON Lines
    if kind not in _TEXT_SOURCES:
        raise ValueError(f"not a kind of file: {kind!r}")  # (a caller's mistake, not the user's)
    return _TEXT_SOURCES[kind](spec, total=size)


def _kind_from_head(spec: str, inner: str, head: bytes) -> str:
    """The kind of a file whose name does not say: a JSON array or JSON Lines, by its first byte."""
    stripped = head.lstrip(_BOM_AND_SPACE)
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "jsonl"
    raise DataError(spec, None, "cannot tell the file type",
                    "name it .jsonl, .json, .csv, .tsv or .parquet (.gz, .bz2 or .xz on top is fine)")


def _check_text_head(spec: str, head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(spec, None, "the file is UTF-16 encoded; ffui reads UTF-8 text",
                        "re-save it as UTF-8")
    ctrl = sum(1 for b in head if b < 9 or 13 < b < 32)
    if ctrl > max(8, len(head) // 20):  # a stray NUL is reported with its line instead
        raise DataError(spec, None, "the file looks like binary data, not text",
                        "ffui reads JSONL, JSON, CSV, TSV, Parquet or a save_to_disk folder")
