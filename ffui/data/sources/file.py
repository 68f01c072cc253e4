"""What the sources read from one file on this machine have in common: :class:`FileSource`."""

from __future__ import annotations

import os
from abc import abstractmethod
from typing import Iterator

from ..readers import DECOMPRESS_ERRORS, compression, damaged
from .base import Located, RowSource


class FileSource(RowSource):
    """A source read from the file at ``path`` (as the user gave it, ``~`` and all).

    Subclasses read in :meth:`_read`; a compressed file that turns out damaged or cut short
    part way is one DataError here, whichever reader met it."""

    @property
    def local_path(self) -> str:
        """The file's path on this machine (``path`` is what the user gave, ``~`` and all)."""
        return os.path.expanduser(self.path)

    @abstractmethod
    def _read(self) -> Iterator[Located]:
        """The rows as ``(location, dict or RowError)``, reading :attr:`local_path`."""

    def _rows(self) -> Iterator[Located]:
        rows = self._read()
        return self._decompressed(rows) if compression(self.path) else rows

    def _decompressed(self, rows: Iterator[Located]) -> Iterator[Located]:
        try:
            yield from rows
        except DECOMPRESS_ERRORS as e:  # (DataError is not among them)
            raise damaged(self.path, self.local_path, e) from None
