""".json files that are not JSON Lines: an array of rows, streamed element by element in bounded
memory (a location is the line where the row starts), or one object holding the rows under a key
(SQuAD's ``{"version", "data": [...]}``), parsed whole (a location is the row number).
"""

from __future__ import annotations

import codecs
import functools
import json
import os
import re
from typing import Any, Iterator

from ..errors import DataError, RowError
from ..readers import MAX_JSON_DEPTH, MAX_WRAPPED_JSON, TOO_DEEP, json_type, open_bytes, reading
from .base import Located
from .file import FileSource

_WS = re.compile(r"[ \t\n\r]*")
_NO_SKIP = "a syntax error inside a JSON array cannot be skipped; fix the file"
_CHUNK = 1 << 20
_decode = json.JSONDecoder().raw_decode


class _ArrayText:
    """The decoded text of a JSON array file, read a chunk at a time, with the line numbers of
    positions in it. ``buf`` holds what is not yet parsed; positions are indexes into it."""

    def __init__(self, source: JsonArraySource, f):
        self.source = source
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.eof = False
        self.raw = 0  # bytes decoded so far
        self.line = 1  # the line of buf[lpos]
        self.lpos = 0

    def fill(self, pos: int, n: int = _CHUNK) -> int:
        """Drop buf[:pos], append the next n bytes decoded; returns the new pos (0)."""
        if self.eof:
            return pos
        data = self.f.read(n)
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise self._bad_utf8(e) from None
        self.raw += len(data)
        self.source.done = self.f.tell()
        if not data:
            self.eof = True
        self.line += self.buf.count("\n", self.lpos, pos)
        self.lpos = 0
        self.buf = self.buf[pos:] + text
        return 0

    def _bad_utf8(self, e: UnicodeDecodeError) -> DataError:
        bad_at = self.raw + e.start
        self.f.seek(0)
        head = self.f.read(bad_at)
        ln = head.count(b"\n") + 1
        col = bad_at - (head.rfind(b"\n") + 1) + 1
        return DataError(self.source.path, f"line {ln}", f"not valid UTF-8 (byte "
                         f"0x{e.object[e.start]:02x} at column {col})", "re-save the file as UTF-8")

    def line_at(self, pos: int) -> int:
        self.line += self.buf.count("\n", self.lpos, pos)
        self.lpos = pos
        return self.line

    def skip_ws(self, pos: int) -> int:
        while True:
            pos = _WS.match(self.buf, pos).end()
            if pos < len(self.buf) or self.eof:
                return pos
            pos = self.fill(pos)

    def fail(self, pos: int, message: str, hint: str | None = None) -> DataError:
        return DataError(self.source.path, f"line {self.line_at(pos)}", message, hint)

    def cut_off(self, pos: int) -> DataError:
        return self.fail(pos, "the JSON array is cut off (no closing ']')", "the file looks truncated")


class JsonArraySource(FileSource):
    """A JSON array of objects; ``total`` is the file's size in bytes."""

    kind = "json"
    unit = "line"
    progress_unit = "bytes"

    def _read(self) -> Iterator[Located]:
        with open_bytes(self.local_path) as f:
            text = _ArrayText(self, f)
            pos = text.skip_ws(text.fill(0))
            if pos >= len(text.buf):
                raise DataError(self.path, None, "the file is empty; nothing to import")
            if text.buf[pos] != "[":
                raise text.fail(pos, "expected a JSON array of rows",
                                "for one object per line name the file .jsonl")
            pos += 1
            index = 0
            while True:
                pos = text.skip_ws(pos)
                if pos >= len(text.buf):
                    raise text.cut_off(pos)
                ch = text.buf[pos]
                if ch == "]":
                    break
                if index:
                    if ch != ",":
                        raise text.fail(pos, f"malformed JSON: expected ',' or ']' after row "
                                        f"{index}, found {ch!r}", _NO_SKIP)
                    pos = text.skip_ws(pos + 1)
                    if pos >= len(text.buf):
                        raise text.cut_off(pos)
                ln = text.line_at(pos)
                obj, pos = self._element(text, pos, index, ln)
                index += 1
                if type(obj) is not dict:
                    yield ln, RowError(f"expected a JSON object for row {index}, got {json_type(obj)}")
                else:
                    yield ln, obj
            pos = text.skip_ws(pos + 1)
            if pos < len(text.buf):
                raise text.fail(pos, "unexpected text after the closing ']' of the JSON array")

    def _element(self, text: _ArrayText, pos: int, index: int, ln: int) -> tuple[Any, int]:
        """The array element that starts at ``pos`` and where it ends, reading on (twice as
        much each time) until it is whole."""
        n = _CHUNK
        while True:
            buf = text.buf
            try:
                obj, end = _decode(buf, pos)
                if end < len(buf) or text.eof:
                    return obj, end
            except json.JSONDecodeError as e:
                if text.eof:
                    raise text.fail(e.pos, f"malformed JSON in row {index + 1}: {e.msg}",
                                    _NO_SKIP) from None
            except RecursionError:
                raise DataError(self.path, f"line {ln}", f"row {index + 1}: {TOO_DEEP}",
                                "flatten that row or remove it; inside a JSON array it "
                                "cannot be skipped") from None
            pos = text.fill(pos, n)
            n = min(n * 2, 1 << 28)


class JsonObjectSource(FileSource):
    """One JSON object holding the rows in a list under ``wrapper_key`` (``""``: the object is
    the one row); rows are numbered from 1 and ``total`` is how many there are."""

    kind = "json"

    def __init__(self, path: str, *, wrapper_key: str, split: str | None = None):
        obj = load_json_object(os.path.expanduser(path))
        lists = row_lists(obj)
        super().__init__(path, total=len(obj[wrapper_key]) if wrapper_key else 1, split=split,
                         splits=lists if len(lists) > 1 else None)
        self.wrapper_key = wrapper_key

    def _read(self) -> Iterator[Located]:
        obj = load_json_object(self.local_path)
        rows = obj[self.wrapper_key] if self.wrapper_key else [obj]
        for n, row in enumerate(rows, 1):
            self.done = n
            if type(row) is not dict:
                yield n, RowError(f"expected an object in {self.wrapper_key!r}, got {json_type(row)}")
            else:
                yield n, row


@functools.lru_cache(maxsize=2)
def load_json_object(path: str) -> dict:
    with reading(path) as f:
        return json.loads(f.read().decode("utf-8-sig"))


def _is_turn(d: dict) -> bool:
    return ("role" in d and ("content" in d or "tool_calls" in d)) or ("from" in d and "value" in d)


def row_lists(obj: dict) -> list[str]:
    """The keys of a JSON object that hold rows (lists of objects that are not turns)."""
    return [k for k, v in obj.items() if type(v) is list and v and type(v[0]) is dict and not _is_turn(v[0])]


def wrapper_key(spec: str, path: str, size: int, split: str | None) -> str | None:
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
        obj = load_json_object(path)
    except RecursionError:
        if one_line and not more:  # a single line: JSON Lines reading reports it with its line
            return None
        raise DataError(spec, f"line {_too_deep_line(path)}", TOO_DEEP,
                        "flatten or remove the nested values and import again") from None
    except (ValueError, UnicodeDecodeError):
        return None  # JSON Lines reading reports the line and the problem
    if type(obj) is not dict:
        return None
    return _chosen_list(spec, row_lists(obj), split, one_line)


def _chosen_list(spec: str, lists: list[str], split: str | None, one_line: bool) -> str | None:
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
