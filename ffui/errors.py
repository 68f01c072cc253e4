"""One error policy for every front end: what a user sees when something goes wrong.

* :class:`FfuiError` is the base of every error a user can cause and fix (bad data, a run
  that cannot change as asked, a bad config, the database file, a catalog entry): its
  ``str()`` is one line that says what is wrong and what to do, shown as it is.
* :func:`user_message` turns any exception into that one line: an ``FfuiError`` or a known
  SQLite or OS fault in plain words (:func:`describe_sqlite_error`, which ``ffui.db`` also
  uses for a file it cannot open); anything else is a bug, whose traceback goes to the crash
  log (:func:`write_crash`) and never to the screen.

The CLI (``ffui.cli``) and the app (``screens.app``) both call ``user_message``. This is a
shared leaf: it imports nothing of ffui, so the worker side (``ffui.train``) may use it too.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import traceback
from pathlib import Path

CRASH_FILENAME = "ffui-crash.log"
MAX_INTERNAL_TEXT = 200  # of an unexpected exception's message, in its one line


class FfuiError(Exception):
    """An error the user can fix; ``str()`` is one line saying what is wrong and what to do."""


def user_message(exc: BaseException, home: Path | None = None, db_path: Path | None = None) -> str:
    """The one line a user sees for ``exc`` (without the ``ffui:`` prefix).

    ``home``: where the crash log goes for an internal error; ``db_path``: the database, so
    that a read-only SQLite error can name what exactly is read-only.
    """
    meaning = describe_sqlite_error(exc, db_path)
    if meaning:
        return meaning
    if isinstance(exc, FfuiError):
        return first_line(exc)
    if isinstance(exc, OSError):  # a file the user named, a full disk, a permission
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"the disk is full{where}: free some space and try again; nothing was lost"
        return f"{exc.strerror or first_line(exc)}{where}"
    return internal_error_message(exc, home)


def internal_error_message(exc: BaseException, home: Path | None) -> str:
    """A bug: the traceback goes to the crash log; the line names the log and asks for a report."""
    crash = write_crash(home, exc)
    text = first_line(exc)
    if len(text) > MAX_INTERNAL_TEXT:
        text = text[: MAX_INTERNAL_TEXT - 1] + "…"
    return f"internal error: {exc.__class__.__name__}: {text} (details in {crash}; please report it)"


def first_line(exc: BaseException) -> str:
    """``str(exc)`` as one line (its first), or the class name when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def write_crash(home: Path | None, exc: BaseException) -> Path:
    """Append the traceback of ``exc`` to HOME/ffui-crash.log; returns the file written.

    A traceback can quote data and paths, so the file is the user's alone (0600), also when an
    older ffui left it readable. When the home cannot be written, a per-user file in /tmp is used.
    """
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


# What SQLite's own errors mean for a user, and what to do; matched on SQLite's message text.
_SQLITE_MEANINGS = (
    ("database or disk is full", "the disk holding the database is full: free some space and try again "
                                 "(nothing of the failed change was written)"),
    ("database is locked", "the database stayed busy (another ffui was writing, a large import perhaps); "
                           "try again in a moment"),
    ("readonly database", "the database file is read-only: check its permissions and its folder's"),
    ("unable to open database file", "cannot open the database file: check that its folder exists and is writable"),
    ("disk i/o error", "the disk reported an I/O error while using the database: check the disk "
                       "(dmesg, df) before going on"),
)


def describe_sqlite_error(exc: BaseException, db_path: Path | None = None) -> str | None:
    """One line for a user about an sqlite3 error, or None when it is not one they can act on.

    With ``db_path``, a read-only error names what exactly is read-only."""
    if not isinstance(exc, sqlite3.Error):
        return None
    text = str(exc).lower()
    if db_path is not None and ("readonly" in text or "unable to open" in text):
        reason = readonly_reason(Path(db_path))
        if reason:
            return reason
    for needle, meaning in _SQLITE_MEANINGS:
        if needle in text:
            return meaning
    return None


def readonly_reason(path: Path) -> str | None:
    """Why SQLite cannot write the database at ``path``: the file system, the folder (SQLite
    writes -wal and -shm files next to the database), the file, or leftover -wal/-shm files."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return (f"the database {path} is on a read-only file system: remount it read-write, "
                    "or copy the database to a writable place and point --db at the copy")
    except OSError:
        pass
    stuck = [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists() and not os.access(p, os.W_OK)]
    if stuck:
        names = " ".join(str(p) for p in stuck)
        return (f"the database {path} is writable but {names} beside it {'are' if len(stuck) > 1 else 'is'} "
                f"still read-only (left from when the database was): make {'them' if len(stuck) > 1 else 'it'} "
                f"writable with chmod u+w {names} (chattr -i if immutable); do not delete them, a -wal file "
                "holds recent changes")
    if not os.access(folder, os.W_OK):
        return (f"the folder {folder} of the database is read-only, and SQLite must create files beside "
                f"{path.name} (-wal, -shm): make the folder writable, or move the database with --db")
    if path.exists() and not os.access(path, os.W_OK):
        return f"the database file {path} is read-only: make it writable (chmod u+w {path})"
    return None
