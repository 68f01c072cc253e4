"""The crash log: where the traceback of an internal error goes instead of the screen.

A traceback can quote data and paths, so the file is the user's alone (0600), also when an
older ffui left it readable. When the home cannot be written, a per-user file in /tmp is used.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

CRASH_FILENAME = "ffui-crash.log"


def write_crash(home: Path | None, exc: BaseException) -> Path:
    """Append the traceback of ``exc`` to HOME/ffui-crash.log; returns the file written."""
    text = "".join(traceback.format_exception(exc))
    for target in ((home or Path.cwd()) / CRASH_FILENAME, Path(f"/tmp/ffui-crash-{os.getuid()}.log")):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            os.fchmod(fd, 0o600)
            fh.write(text)
        return target
    return target
