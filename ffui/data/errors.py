"""Errors of the dataset pipeline.

Every problem with an operator's data is a :class:`DataError` whose ``str()`` is one line that
names the file, the line or row, what is wrong and what to do; like every
:class:`ffui.errors.FfuiError` the CLI and the app show it as it is.
"""

from __future__ import annotations

import os

from ffui.errors import FfuiError


class DataError(FfuiError):
    """A problem with input data or a dataset operation, printable as one clear line.

    ``path``: the file, folder or hub id concerned (or None); ``where``: e.g. ``"line 7"`` or
    ``"row 12"`` (or None); ``message``: what is wrong; ``hint``: what to do (optional).
    """

    def __init__(self, path: str | os.PathLike | None, where: str | None, message: str,
                 hint: str | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.where = where
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:  # one line, always
        head = ""
        if self.path:
            head = self.path
            if self.where:
                head += f", {self.where}"
            head += ": "
        elif self.where:
            head = f"{self.where}: "
        text = head + self.message
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split("\n"))


class RowError(Exception):
    """A bad row, raised without location; the reader adds file and line (see DataError)."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message)
