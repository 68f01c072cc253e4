"""Read what a growing file gained since a byte offset, whole lines only."""

from __future__ import annotations

import os
from pathlib import Path

from ffui.runfiles import UnsafeRunPath, open_run_file

CHUNK = 1 << 20  # at most 1 MiB per read: the loop comes back for more


def read_lines(path: Path, offset: int, final: bool = False) -> tuple[list[str], int]:
    """Complete lines after ``offset`` and the offset just past them.

    A last line without its newline is left for the next call (its writer is mid-line),
    unless ``final`` (the writer has exited), or unless it fills a whole chunk on its own.
    Lines are decoded as UTF-8 with bad bytes replaced; a carriage-return progress bar
    keeps only its last state.
    """
    try:
        with os.fdopen(open_run_file(path), "rb") as fh:  # a link put in its place is not followed
            size = fh.seek(0, 2)
            if size < offset:  # truncated or replaced: start again from the top
                offset = 0
            fh.seek(offset)
            data = fh.read(CHUNK)
    except (FileNotFoundError, UnsafeRunPath):  # a link's target is never read as the run's
        return [], offset
    if not data:
        return [], offset
    end = data.rfind(b"\n") + 1
    if end == 0 and (final or len(data) == CHUNK):
        end = len(data)
    elif final and len(data) < CHUNK:
        end = len(data)
    lines = []
    for raw in data[:end].split(b"\n"):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if "\r" in text:
            text = text.rsplit("\r", 1)[-1]
        lines.append(text)
    if data[:end].endswith(b"\n"):
        lines.pop()  # the empty piece after the last newline
    return lines, offset + end
