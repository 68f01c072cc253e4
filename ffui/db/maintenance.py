"""Backups and integrity checks of the database file.

A plain file copy of a live database is not a backup: a writer may change pages while the
copy is half-way, and a WAL database keeps recent commits in ``-wal`` next to the file. The
backup here reads one snapshot (a read transaction held for the whole copy: in WAL mode the
writers go on meanwhile) through SQLite's online backup API, into a private temporary file
that is checked and only then renamed into place.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ffui.db.core import DatabaseError, open_sync, utcnow

CHECK_STATE_KEY = "db.last_check"
PAGES_PER_STEP = 4096  # 16 MiB of 4 KiB pages between progress reports
MAX_REPORTED_PROBLEMS = 20


def backup_database(src: Path, dest: Path, progress: Callable[[int, int], None] | None = None) -> int:
    """Copy the database at ``src`` to the new file ``dest``, consistently; returns its size.

    ``progress(done_pages, total_pages)`` is called between steps. ``dest`` must not exist.
    """
    src, dest = Path(src).resolve(), Path(dest).expanduser().absolute()
    if dest.exists() or dest.is_symlink():
        raise DatabaseError(f"{dest} already exists; give a new file name (a backup never overwrites a file)")
    if dest.resolve() == src:
        raise DatabaseError(f"{dest} is the database itself; give another file name")
    if not dest.parent.is_dir():
        raise DatabaseError(f"cannot write the backup: folder {dest.parent} does not exist")
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    source = open_sync(src, migrate_schema=False)  # copied as it is, not upgraded first
    try:
        _create_private(tmp)
        target = sqlite3.connect(tmp, isolation_level=None)
        try:
            # One snapshot for the whole copy: steps then never restart on another writer's commit.
            source.execute("BEGIN")
            source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            source.backup(target, pages=PAGES_PER_STEP,
                          progress=(lambda _s, left, total: progress(total - left, total)) if progress else None)
            source.execute("COMMIT")
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            verdict = target.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            target.close()
        if verdict != "ok":
            raise DatabaseError(f"the copy failed its check ({verdict[:200]}); run ffui db check on the database")
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        raise DatabaseError(f"the backup to {dest} failed ({exc}); nothing was written there") from None
    except OSError as exc:
        raise DatabaseError(f"cannot write the backup {dest}: {exc.strerror or exc}; nothing was written there") from None
    finally:
        source.close()
        for leftover in (tmp, Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
    return dest.stat().st_size


def _create_private(path: Path) -> None:
    """Make the file 0600 before SQLite writes into it: a backup holds the tokens too."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


@dataclass
class CheckResult:
    checked_at: str
    problems: list[str] = field(default_factory=list)
    foreign_key_problems: list[str] = field(default_factory=list)
    stored: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not self.foreign_key_problems

    def to_json(self) -> str:
        return json.dumps({"checked_at": self.checked_at, "ok": self.ok, "problems": self.problems[:5],
                           "foreign_key_problems": self.foreign_key_problems[:5]})


def check_database(path: Path) -> CheckResult:
    """Run integrity_check and foreign_key_check; store the verdict in app_state (when the
    damage still lets SQLite write: ``stored`` says whether it did)."""
    conn = open_sync(path, migrate_schema=False)  # checked as it is
    try:
        try:
            rows = conn.execute(f"PRAGMA integrity_check({MAX_REPORTED_PROBLEMS})").fetchall()
            problems = [r[0] for r in rows if r[0] != "ok"]
            fk = [f"table {r[0]} row {r[1]} points at a missing row of {r[2]}"
                  for r in conn.execute("PRAGMA foreign_key_check").fetchmany(MAX_REPORTED_PROBLEMS)]
            result = CheckResult(utcnow(), problems, fk)
        except sqlite3.DatabaseError as exc:  # damaged past reading: that is a verdict too
            result = CheckResult(utcnow(), [f"SQLite cannot read the database: {exc}"])
        try:
            conn.execute("INSERT INTO app_state(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE "
                         "SET value = excluded.value", (CHECK_STATE_KEY, result.to_json()))
            result.stored = True
        except sqlite3.DatabaseError:
            result.stored = False
        return result
    finally:
        conn.close()


def parse_last_check(stored: str | None) -> dict | None:
    """The stored verdict of the last ``ffui db check`` (None: never checked, or unreadable)."""
    try:
        value = json.loads(stored) if stored else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
