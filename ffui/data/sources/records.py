"""Records handed over in memory or by any iterator: the smallest source that is not a file.

The shape a scraper or a generator takes: it has no path, only a description; it may not know
how many records are coming; the records are produced as they are read.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, Iterable, Iterator

from ..errors import RowError
from ..readers import json_type
from .base import Located, RowSource


class RecordsSource(RowSource):
    """The dicts ``records`` yields, numbered from 1 (anything else is a bad row).

    ``description`` starts its error lines (``"synthetic batch 3, row 7: ..."``); ``total``: how
    many records are coming, if known (``len(records)`` for a list)."""

    kind = "records"

    def __init__(self, records: Iterable[Any], *, description: str = "records",
                 total: int | None = None):
        if total is None and isinstance(records, Sized):
            total = len(records)
        super().__init__(description, total=total)
        self._records = records

    def _rows(self) -> Iterator[Located]:
        records = iter(self._records)
        try:
            for n, record in enumerate(records, 1):
                self.done = n
                if type(record) is dict:
                    yield n, record
                else:
                    yield n, RowError(f"expected a record (an object), got {json_type(record)}")
        finally:
            close = getattr(records, "close", None)  # a generator's own cleanup (its connections)
            if close is not None:
                close()
