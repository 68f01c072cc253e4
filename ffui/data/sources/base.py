"""The one shape every input of an import has: :class:`RowSource`.

A source is whatever rows come from: a file, a folder, a hub dataset, and next a forum scraper
or a synthetic-data generator. The import path (``ffui.data.importer``'s plan, then the fill path
in ``ffui.data.store``: filling marker, chunked transactions, progress, cancel) only ever talks to
this base, so a new kind of source is one new subclass in ``ffui/data/sources/`` and no edit there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterator

from ..errors import DataError

#: where a row is in its source: a line or row number, counted from 1 (a folder of files uses
#: (which file, where in it); a source may use any value its :meth:`RowSource.where` can word)
Location = int | tuple[int, int]
#: what :meth:`RowSource.rows` yields: a dict, or a :class:`~ffui.data.errors.RowError` in its place
Located = tuple[Location, Any]


class RowSource(ABC):
    """An opened input: its rows, one at a time, each with where it is, and how far along it is.

    What a subclass gives:

    - ``kind`` (class attribute): a short word that names what it reads (``"jsonl"``, ``"hub"``);
      the import records it with the dataset.
    - ``_rows()``: a generator of ``(location, row)``. ``row`` is a dict, or a ``RowError``
      yielded in its place for one bad row (the caller stops with ``error(loc, ...)`` or, with
      ``--skip-bad``, counts it and goes on). A problem with the source as a whole (a missing
      file, a refused login, the network gone) raises ``DataError``. It updates ``done`` as it goes.
    - Whatever it needs, as constructor arguments; nothing is patched on afterwards.

    What the base keeps: ``path`` (what the user named: a path as typed, a hub id, or for a
    source that is not a file any description that starts a clear error line, e.g. ``"reddit
    r/LocalLLaMA"``), ``unit`` (what a location counts, for ``where``), progress as ``done`` of
    ``total`` in ``progress_unit`` (``"bytes"`` or ``"rows"``; ``total`` None when unknown),
    ``columns`` (when known up front), ``split``/``splits`` (the one read, those to choose from).

    A source that is not a file (records from a network API, a generator's output) fits as it
    is: its ``_rows()`` fetches page by page and yields each record with its own running number
    (or overrides ``where`` to say ``"thread 123, post 4"``); ``total`` is its estimate, if any.
    The fill path stops a cancelled import between two rows and then calls :meth:`close`, so a
    source waits on the network with a timeout, never forever, and releases its connections in
    ``close`` (or in its generator's ``finally``, which ``close`` runs). Credentials are
    constructor arguments kept on the object, never put into ``path``, an error line or a URL
    that is logged. :class:`~ffui.data.sources.records.RecordsSource` is the smallest example.
    """

    kind: str = ""
    #: what a location counts: "line" (text files) or "row"
    unit: str = "row"
    #: what ``done``/``total`` count: "bytes" or "rows"
    progress_unit: str = "rows"
    #: rows come from Arrow (Parquet, save_to_disk, hub): absent struct fields come back as nulls
    columnar: bool = False

    def __init__(self, path: str, *, total: int | None = None, split: str | None = None,
                 splits: list[str] | None = None, columns: list[str] | None = None):
        self.path = path
        self.total = total
        self.done = 0
        self.split = split
        self.splits = splits
        self.columns = columns
        self._reading: Iterator[Located] | None = None

    @abstractmethod
    def _rows(self) -> Iterator[Located]:
        """The rows as ``(location, dict or RowError)``; see the class docstring."""

    def rows(self) -> Iterator[Located]:
        """The rows, read once: ``(location, row)`` where ``row`` is a dict or a RowError."""
        self._reading = self._rows()
        return self._reading

    def where(self, loc: Location) -> str:
        """``loc`` in words for an error line: ``"line 7"``, ``"row 12"``."""
        return f"{self.unit} {loc}"

    def error(self, loc: Location | None, message: str, hint: str | None = None) -> DataError:
        """The DataError for a problem at ``loc`` (None: the source as a whole)."""
        return DataError(self.path, self.where(loc) if loc is not None else None, message, hint)

    def close(self) -> None:
        """Stop reading: the rows iterator is closed (its files and connections with it)."""
        reading, self._reading = self._reading, None
        close = getattr(reading, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> RowSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, kind={self.kind!r}, total={self.total})"
