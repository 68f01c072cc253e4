"""Write the trainer's event protocol (RUN_DIR/events.jsonl); see docs/events.md.

The event type names, the reducer and the exit codes are in the shared leaf ffui.events, which
the supervisor reads them from too; this module is the worker side's writer and its errors.

Each event is one JSON object on one line, written with a single os.write() on an
O_APPEND descriptor, so a tailer sees whole lines only and several writers never
interleave inside a line.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

# The protocol's names and exit codes (docs/events.md), shared with the supervisor that reads them;
# the exit codes are re-exported for the trainer's modules, which import them from here.
from ffui.events import ERROR, WARNING
from ffui.events import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NAN, EXIT_OK, EXIT_OOM, EXIT_USER  # noqa: F401


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings a reader can still recognise."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventWriter:
    """Appends events to a file. enabled=False (non-main ranks) makes every call a no-op."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self._fd: int | None = None

    def emit(self, type_: str, **fields: Any) -> dict:
        event = {"type": type_, "ts": round(time.time(), 3), **_clean(fields)}
        if self.enabled:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            line = json.dumps(event, default=str, separators=(",", ":")) + "\n"
            os.write(self._fd, line.encode("utf-8"))
        return event

    def say(self, line: str) -> None:
        """A line for train.log, from the main rank only (every rank has the same to say; errors,
        which a rank may have alone, are printed by every rank)."""
        if self.enabled:
            print(line, flush=True)

    def warning(self, message: str) -> dict:
        return self.emit(WARNING, message=message)

    def error(self, message: str, hint: str, kind: str, exit_code: int) -> dict:
        return self.emit(ERROR, message=message, hint=hint, kind=kind, exit_code=exit_code)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class TrainerError(Exception):
    """An error with a one-line message, a hint on what to do, and the exit code to use."""

    kind = "internal"
    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str = "", kind: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind:
            self.kind = kind


class UserError(TrainerError):
    """Something the user can fix: bad config, dataset, model path, unavailable backend."""

    kind = "config"
    exit_code = EXIT_USER


class OutOfMemory(TrainerError):
    kind = "oom"
    exit_code = EXIT_OOM


class NonFiniteLoss(TrainerError):
    kind = "nan"
    exit_code = EXIT_NAN
