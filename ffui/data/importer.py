"""Import plans: open a source, detect its format from the first rows, stream normalised rows.

No database here: :func:`plan_import` gives an :class:`ImportPlan` whose :meth:`ImportPlan.rows`
generator yields the stored tuples ``(input_text, output_text, messages_json, metadata_json)``
one at a time; ``ffui.data.importing.import_dataset`` hands it to the fill path (``ffui.data.fill``).
:func:`preview_import` is what the UI shows before the operator confirms an import.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

from .errors import DataError, RowError
from .formats import Layout, detect_layout, make_normaliser, parse_mapping
from .preference_layout import with_preference
from .readers import json_type as _json_type, jsonl_line_problem, reading
from .sources import RowSource, open_source

SAMPLE_ROWS = 200       # rows looked at to detect the format
MAX_BAD_EXAMPLES = 20   # bad rows described in the report (all are counted)


@dataclass
class BadRow:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ImportPlan:
    source: RowSource
    layout: Layout
    skip_bad: bool = False
    limit: int | None = None
    good: int = 0
    bad: int = 0
    bad_examples: list[BadRow] = field(default_factory=list)
    _peeked: list[tuple[int, Any]] = field(default_factory=list, repr=False)
    _rest: Iterator[tuple[int, Any]] | None = field(default=None, repr=False)
    _used: bool = field(default=False, repr=False)

    @property
    def path(self) -> str:
        return self.source.path

    def _bad(self, loc: int, err: RowError) -> None:
        msg = err.message + (f" ({err.hint})" if err.hint and not self.skip_bad else "")
        if not self.skip_bad:
            hint = err.hint or "fix the row, or pass --skip-bad to leave bad rows out"
            raise self.source.error(loc, err.message, hint)
        self.bad += 1
        if len(self.bad_examples) < MAX_BAD_EXAMPLES:
            self.bad_examples.append(BadRow(self.source.where(loc), msg))

    def rows(self) -> Iterator[tuple]:
        """Stored tuples ``(input_text, output_text, messages_json, metadata_json)``.

        Raises DataError at the first bad row unless ``skip_bad``; then bad rows are counted in
        ``bad`` (first few described in ``bad_examples``) and left out. Iterate once.
        """
        if self._used:
            raise RuntimeError("an ImportPlan's rows can be read once")
        self._used = True
        norm = make_normaliser(self.layout,
                               drop_null_turn_keys=self.source.columnar)
        limit = self.limit

        def chain():
            yield from self._peeked
            self._peeked = []
            if self._rest is not None:
                yield from self._rest

        if self.source.kind == "jsonl" and limit is None:
            yield from self._rows_jsonl_fast(norm)
            return
        for loc, row in chain():
            if type(row) is dict:
                try:
                    t = norm(row)
                except RowError as e:
                    self._bad(loc, e)
                    continue
                self.good += 1
                yield t
                if limit is not None and self.good >= limit:
                    return
            else:
                self._bad(loc, row)

    def rows_pipelined(self, batch: int = 1000, depth: int = 8) -> Iterator[tuple]:
        """:meth:`rows`, parsed in a producer thread while the caller consumes.

        SQLite releases the GIL while it inserts a row, so reading and parsing the next rows
        overlaps with writing the previous ones (two cores busy instead of one). At most
        ``depth`` batches of ``batch`` rows wait in between: memory stays bounded. An error in
        the producer (a bad row) is raised here, in the consumer, at the point it happened.
        """
        import queue
        import threading

        q: queue.Queue = queue.Queue(maxsize=depth)
        stop = threading.Event()
        DONE = object()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            buf: list[tuple] = []
            try:
                for t in self.rows():
                    buf.append(t)
                    if len(buf) >= batch:
                        if not put(buf):
                            return
                        buf = []
                if buf and not put(buf):
                    return
                put(DONE)
            except BaseException as e:  # handed to the consumer
                put(e)

        th = threading.Thread(target=produce, name="ffui-import-reader", daemon=True)
        th.start()
        try:
            while True:
                item = q.get()
                if item is DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            stop.set()
            while True:  # unblock the producer if it waits on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    break
            th.join(timeout=5)

    def _rows_jsonl_fast(self, norm) -> Iterator[tuple]:
        """JSONL: the peeked rows, then the rest of the file parsed and normalised in one loop
        (no per-row generator layers or tuples); problems are explained as the reader does."""
        last = 0
        for loc, row in self._peeked:
            last = loc
            if type(row) is dict:
                try:
                    t = norm(row)
                except RowError as e:
                    self._bad(loc, e)
                    continue
                self.good += 1
                yield t
            else:
                self._bad(loc, row)
        self._peeked = []
        if self._rest is not None:
            self._rest.close()  # the peek's reader; read on from our own handle
            self._rest = None
        src = self.source
        loads = json.loads
        good = self.good
        lineno = 0
        with reading(src.local_path, src.path) as f:
            if last:
                for _ in f:
                    lineno += 1
                    if lineno >= last:
                        break
            for line in f:
                lineno += 1
                try:
                    row = loads(line)
                except ValueError as e:
                    problem = jsonl_line_problem(line, e)
                    if problem is not None:
                        self.good = good
                        self._bad(lineno, problem)
                    continue
                if type(row) is not dict:
                    self.good = good
                    self._bad(lineno, RowError(f"expected a JSON object per line, got "
                                               f"{_json_type(row)}"))
                    continue
                try:
                    t = norm(row)
                except RowError as e:
                    self.good = good
                    self._bad(lineno, e)
                    continue
                good += 1
                if not good & 4095:
                    self.good = good
                    src.done = f.tell()
                yield t
            self.good = good
            src.done = f.tell()

    def report(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.source.kind, "format": self.layout.format,
                "rows": self.good, "bad": self.bad,
                "bad_examples": [str(b) for b in self.bad_examples]}


def plan_import(spec: str | os.PathLike, *, fmt: str = "auto",
                mapping: dict[str, str] | list[str] | None = None, split: str | None = None,
                skip_bad: bool = False, limit: int | None = None,
                token: str | None = None) -> ImportPlan:
    """Open ``spec`` (file, save_to_disk folder or hub id) and decide its layout. ``token``: the
    Hugging Face token for a gated or private hub dataset (see ffui.data.sources.open_source).

    Raises DataError for problems with the input as a whole: missing file, empty file, binary
    data, unknown format, a ``--map`` column that is not there, no valid row at all.
    """
    try:
        mp = parse_mapping(mapping)
    except ValueError as e:
        raise DataError(None, None, str(e)) from None
    src = open_source(spec, split=split, token=token)
    it = src.rows()
    peeked: list[tuple[int, Any]] = []
    sample: list[dict] = []
    first_loc = None
    bad_seen = 0
    for loc, row in it:
        peeked.append((loc, row))
        if type(row) is dict:
            if first_loc is None:
                first_loc = loc
            sample.append(row)
            if len(sample) >= SAMPLE_ROWS:
                break
        else:
            if not skip_bad:
                hint = row.hint or "fix the row, or pass --skip-bad to leave bad rows out"
                raise src.error(loc, row.message, hint)
            bad_seen += 1
            if bad_seen > 10_000 and not sample:
                break
    if not sample:
        if peeked:
            loc, row = peeked[0]
            raise src.error(None, f"no valid rows (the first problem, {src.where(loc)}: "
                                  f"{row.message})")
        raise src.error(None, "the file has no rows; nothing to import")
    try:
        layout = with_preference(sample, mp, lambda: detect_layout(sample, fmt, mp, columns=src.columns))
    except RowError as e:
        raise src.error(first_loc, e.message, e.hint) from None
    except ValueError as e:
        raise DataError(None, None, str(e)) from None
    return ImportPlan(source=src, layout=layout, skip_bad=skip_bad, limit=limit,
                      _peeked=peeked, _rest=it)


def preview_import(spec: str | os.PathLike, *, fmt: str = "auto",
                   mapping: dict[str, str] | list[str] | None = None,
                   split: str | None = None, n: int = 5,
                   token: str | None = None) -> dict[str, Any]:
    """What an import would do, without writing: kind, detected format and columns, the first
    ``n`` raw rows and their canonical records, bad rows among them. Raises DataError."""
    plan = plan_import(spec, fmt=fmt, mapping=mapping, split=split, skip_bad=True, token=token)
    raw = [r for _, r in plan._peeked if type(r) is dict][:n]
    records = []
    plan.limit = n
    for i, o, mj, m in plan.rows():
        records.append({"input": i, "output": o, "messages": json.loads(mj) if mj else None,
                        "metadata": json.loads(m) if m else None})
    return {"path": plan.path, "kind": plan.source.kind, "format": plan.layout.format,
            "split": plan.source.split, "splits": plan.source.splits,
            "layout": plan.layout.to_dict(), "columns": plan.layout.key_order,
            "total": plan.source.total, "progress_unit": plan.source.progress_unit,
            "rows": raw, "records": records,
            "bad_examples": [str(b) for b in plan.bad_examples]}
