"""Line-oriented text files: JSON Lines, CSV and TSV (each also .gz, .bz2, .xz), and plain
text (.txt, .md) read as one document.

A location is the 1-based line where the row starts; progress counts the (compressed) bytes read.
"""

from __future__ import annotations

import codecs
import csv
import json
from abc import abstractmethod
from typing import Iterator

from ..errors import DataError, RowError
from ..readers import (
    MAX_FIELD_CHARS,
    MAX_LINE_BYTES,
    TOO_DEEP,
    describe_bad_bytes,
    json_type,
    jsonl_line_problem,
    line_too_long,
    mb,
    open_bytes,
    reading,
)
from .base import Located
from .file import FileSource


class TextFileSource(FileSource):
    """A text file read line by line; ``total`` is its size in bytes."""

    unit = "line"
    progress_unit = "bytes"


class JsonLinesSource(TextFileSource):
    """One JSON object per line (.jsonl, and .json files written that way)."""

    kind = "jsonl"

    def _read(self) -> Iterator[Located]:
        loads = json.loads
        lineno = 0
        with open_bytes(self.local_path) as f:
            for line in f:
                lineno += 1
                if not lineno & 4095:
                    self.done = f.tell()
                if len(line) > MAX_LINE_BYTES:
                    yield lineno, line_too_long(line)
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
                    yield lineno, RowError(f"expected a JSON object per line, got {json_type(row)}")
                    continue
                yield lineno, row
            self.done = f.tell()


class _DecodedLines:
    """The lines of a binary file as text for the csv module, remembering which lines held bad
    bytes (NULs, invalid UTF-8) so the row they belong to is reported instead of read."""

    def __init__(self, source: TextFileSource, f):
        self.source = source
        self.f = f
        self.line = 0
        self.bad: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        first = True
        for raw in self.f:
            self.line += 1
            if not self.line & 4095:
                self.source.done = self.f.tell()
            if first:
                first = False
                if raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
            if b"\x00" in raw:
                self.bad[self.line] = "binary data (NUL bytes) where text was expected"
                raw = raw.replace(b"\x00", b"")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad[self.line] = describe_bad_bytes(raw)
                yield raw.decode("utf-8", errors="replace")

    def bad_between(self, start: int, end: int) -> tuple[int, str] | None:
        """The first bad line from ``start`` to ``end`` (the lines of one row), forgetting all."""
        if not self.bad:
            return None
        bad = [(ln, m) for ln, m in self.bad.items() if start <= ln <= end]
        self.bad.clear()
        return bad[0] if bad else None


class DelimitedSource(TextFileSource):
    """A header line naming the columns, then one row per record; ``columns`` is set from the
    header once reading starts."""

    @abstractmethod
    def delimiter(self) -> str:
        """The character between fields."""

    def _header(self, reader, lines: _DecodedLines) -> list[str]:
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(self.path, None, "the file is empty; nothing to import") from None
        except csv.Error as e:
            raise DataError(self.path, "line 1", f"cannot read the header: {e}") from None
        if lines.bad:
            ln, msg = next(iter(lines.bad.items()))
            raise DataError(self.path, f"line {ln}", f"the header is {msg}")
        header = [h.strip() for h in header]
        if not any(header):
            raise DataError(self.path, "line 1", "the header row is empty",
                            "the first line must name the columns")
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise DataError(self.path, "line 1", f"the header names column(s) twice: {', '.join(dupes)}")
        return header

    def _read(self) -> Iterator[Located]:
        csv.field_size_limit(MAX_FIELD_CHARS)
        delimiter = self.delimiter()
        with open_bytes(self.local_path) as f:
            lines = _DecodedLines(self, f)
            reader = csv.reader(lines, delimiter=delimiter, strict=False)
            header = self.columns = self._header(reader, lines)
            ncol = len(header)
            while True:
                start = lines.line + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    msg = str(e)
                    if "field larger" in msg:
                        msg = f"a field is longer than ffui's limit of {mb(MAX_FIELD_CHARS)}"
                    yield start, RowError(f"cannot parse the row: {msg}")
                    continue
                bad = lines.bad_between(start, lines.line)
                if bad:
                    yield bad[0], RowError(bad[1])
                    continue
                if not values or (len(values) == 1 and not values[0] and ncol > 1):
                    continue  # blank line
                if len(values) != ncol:
                    yield start, RowError(f"the row has {len(values)} fields but the header has {ncol}",
                                          "check quoting and the delimiter")
                    continue
                yield start, dict(zip(header, values))
            self.done = f.tell()


class CsvSource(DelimitedSource):
    kind = "csv"

    def delimiter(self) -> str:
        """',' unless the header line has no comma but semicolons or pipes (European
        spreadsheet exports use ';')."""
        with reading(self.local_path) as f:
            header = f.readline().decode("utf-8", errors="replace")
        if "," in header:
            return ","
        for d in (";", "|"):
            if d in header:
                return d
        return ","


class TsvSource(DelimitedSource):
    kind = "tsv"

    def delimiter(self) -> str:
        return "\t"


class PlainTextSource(TextFileSource):
    """A .txt or .md file as one row ``{"text": the whole file}``: a document, for objective=pretrain
    (which splits long ones into max_seq_len chunks; nothing is cut at import)."""

    kind = "text"

    def _read(self) -> Iterator[Located]:
        with open_bytes(self.local_path) as f:
            data = f.read()
        self.done = self.total or len(data)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            yield 1, RowError(describe_bad_bytes(data))
            return
        if len(text) > MAX_FIELD_CHARS:
            yield 1, RowError(f"the file is {mb(len(text))} of text, longer than ffui's limit of "
                              f"{mb(MAX_FIELD_CHARS)} per document", "split it into several files in a folder")
            return
        if text.strip():
            yield 1, {"text": text}
