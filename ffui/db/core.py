"""Connections, transactions and schema migrations.

Every process that touches the database (the TUI, CLI commands, run supervisors, the
logging handler's thread) opens its own connection with the same pragmas: WAL so readers
never wait for writers, foreign keys on, and a generous busy timeout. Writes go through
``Database.transaction()``, which starts with BEGIN IMMEDIATE: taking the write lock up
front means a busy writer waits in SQLite's busy handler instead of failing half-way with
"database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Iterable, Sequence

import aiosqlite

from ffui.errors import FfuiError, describe_sqlite_error

BUSY_TIMEOUT_MS = 30_000

# Tables of the predecessor studio (seed 001): a version-0 database holding only these is
# one of its databases and is upgraded in place.
SEED_001_TABLES = {
    "settings": {"key", "value", "updated_at"},
    "training_configs": {"id", "name", "config_json", "train_target", "created_at", "updated_at"},
    "scrape_sessions": {"id", "source", "source_details", "dataset_format", "pair_count", "created_at", "metadata_json"},
    "scraped_pairs": {"id", "session_id", "input_text", "output_text", "source_url", "metadata_json", "created_at"},
    "training_runs": {
        "id", "name", "status", "base_model", "dataset_source", "dataset_id", "storage_path", "output_dir",
        "adapter_path", "checkpoint_path", "hp_json", "logs_json", "started_at", "completed_at", "created_at",
        "updated_at", "metadata_json",
    },
    "app_logs": {"id", "timestamp", "level", "logger", "message", "module", "func_name", "line_no", "exc_info"},
    "app_state": {"key", "value"},
}


class DatabaseError(FfuiError):
    """A problem with the database file that the user can act on; str() is one line."""


def _migration_scripts() -> list[tuple[int, str, str]]:
    folder = resources.files("ffui.db") / "migrations"
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


MIGRATIONS = _migration_scripts()
SCHEMA_VERSION = MIGRATIONS[-1][0]


def split_sql(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement knows quoting)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        if not buf and line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


def check_database_file(path: Path) -> None:
    """Refuse, without writing a byte, a path that cannot be a SQLite database.

    The header itself is checked by SQLite when the connection first reads: opening the
    file here with another descriptor and closing it would drop the POSIX locks that this
    process's other connections hold on it (a known way to corrupt SQLite databases).
    """
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a database file; pass a file path with --db")
    if path.exists() and 0 < path.stat().st_size < 100:  # shorter than a SQLite header
        raise DatabaseError(_not_sqlite(path))


def _not_sqlite(path: Path) -> str:
    return f"{path} is not a SQLite database (it is left untouched); point --db or FFUI_DB at an ffui.db file"


def _open_failure(path: Path, exc: sqlite3.DatabaseError, otherwise: str | None = None) -> str:
    """What a failure to open an existing file means: SQLite could not write or lock it (a
    read-only place, a full disk) is not the same as a file that is not a database."""
    meaning = describe_sqlite_error(exc, path) if isinstance(exc, sqlite3.OperationalError) else None
    if meaning:
        return meaning
    if "malformed" in str(exc).lower():
        return (f"{path} is damaged (SQLite: {exc}); it is left untouched: restore your latest backup, "
                f"or salvage what is readable with: sqlite3 {path} .recover | sqlite3 recovered.db")
    return otherwise or _not_sqlite(path)


def _create_private_file(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite does: it holds secrets."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise DatabaseError(f"cannot create the database {path}: {exc.strerror}") from None


def apply_pragmas(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")


def _user_tables(conn: sqlite3.Connection) -> dict[str, set[str]]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {n: {r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')} for n in names}


def _check_version_zero(conn: sqlite3.Connection, path: Path) -> None:
    tables = _user_tables(conn)
    if not tables:
        return
    known = set(tables) & set(SEED_001_TABLES)
    if not known:
        raise DatabaseError(
            f"{path} is a SQLite database of another program (tables: {', '.join(sorted(tables)[:5])}); "
            "it is left untouched: point --db at an ffui database or a new file"
        )
    for name in known:
        missing = SEED_001_TABLES[name] - tables[name]
        if missing:
            raise DatabaseError(
                f"{path}: table {name} lacks columns {', '.join(sorted(missing))}, so it is not an ffui or "
                "FineFoundry database; it is left untouched"
            )


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to SCHEMA_VERSION, one transaction per step; return the old version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{path} was written by a newer ffui (schema v{version}, this ffui knows v{SCHEMA_VERSION}); "
            "it is left untouched: upgrade ffui (pip install -U ffui) to open it"
        )
    if version == SCHEMA_VERSION:
        return version
    if version == 0:
        _check_version_zero(conn, path)
    for step, name, script in MIGRATIONS:
        if step <= version:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Another process may have migrated while we waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= step:
                conn.execute("ROLLBACK")
                continue
            for statement in split_sql(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step}")
            conn.execute(
                "INSERT INTO app_state(key, value) VALUES('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(step),),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise DatabaseError(f"{path}: migration {name} failed ({exc}); the database is unchanged") from None
    return version


def open_sync(path: str | os.PathLike, *, migrate_schema: bool = True) -> sqlite3.Connection:
    """A plain sqlite3 connection with ffui's pragmas, for code that is not async.

    Used by the logging handler's writer thread, the benchmarks and tests. Autocommit
    mode: callers wrap writes in BEGIN IMMEDIATE ... COMMIT themselves.
    """
    path = Path(path)
    check_database_file(path)
    existed = path.exists() and path.stat().st_size > 0
    if not existed:
        _create_private_file(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open {path}: {exc}") from None
    try:
        # Read the version before anything writes (journal_mode=WAL writes the header).
        if existed:
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise DatabaseError(_open_failure(path, exc)) from None
            if version > SCHEMA_VERSION:
                raise DatabaseError(
                    f"{path} was written by a newer ffui (schema v{version}, this ffui knows v{SCHEMA_VERSION}); "
                    "it is left untouched: upgrade ffui to open it"
                )
            if version == 0:
                _check_version_zero(conn, path)
        apply_pragmas(conn)
        if migrate_schema:
            migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(_open_failure(path, exc, f"{path} is not a usable SQLite database ({exc}); "
                                                     "it is left untouched")) from None
    except BaseException:
        conn.close()
        raise
    return conn


class Database:
    """An open ffui database: an aiosqlite connection plus the home it belongs to."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, home: Path):
        self.conn = conn
        self.path = path
        self.home = home
        self._tx_depth = 0
        self._tx_lock = asyncio.Lock()
        self._tx_owner: asyncio.Task | None = None

    @property
    def training_outputs(self) -> Path:
        return self.home / "training_outputs"

    async def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> aiosqlite.Cursor:
        return await self.conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run ``sql`` for each of ``rows``; returns how many rows it changed."""
        cur = await self.conn.executemany(sql, rows)
        return cur.rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] | dict = ()) -> list[dict]:
        async with self.conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return [dict(r) for r in rows]

    async def fetchone(self, sql: str, params: Sequence[Any] | dict = ()) -> dict | None:
        async with self.conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return dict(row) if row is not None else None

    async def scalar(self, sql: str, params: Sequence[Any] | dict = ()) -> Any:
        async with self.conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row[0] if row is not None else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator["Database"]:
        """BEGIN IMMEDIATE ... COMMIT; rollback on any exception. Nested use joins the outer one."""
        task = asyncio.current_task()
        if self._tx_depth and self._tx_owner is task:
            self._tx_depth += 1
            try:
                yield self
            finally:
                self._tx_depth -= 1
            return
        async with self._tx_lock:
            self._tx_owner, self._tx_depth = task, 1
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")
            finally:
                self._tx_owner, self._tx_depth = None, 0

    async def write(self, sql: str, params: Sequence[Any] | dict = ()) -> aiosqlite.Cursor:
        """One statement in its own short write transaction (or the caller's, if inside one)."""
        async with self.transaction():
            return await self.conn.execute(sql, params)

    async def close(self) -> None:
        await self.conn.close()


async def open_db(path: str | os.PathLike, home: str | os.PathLike | None = None) -> Database:
    """Open (creating and migrating as needed) the database at ``path``."""
    path = Path(path).expanduser().resolve()
    home_p = Path(home).expanduser().resolve() if home else path.parent
    # Checks and migrations run in a plain connection first, off the event loop.
    sync_conn = await asyncio.to_thread(open_sync, path)
    sync_conn.close()
    conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA synchronous = NORMAL")
    return Database(conn, path, home_p)


@contextlib.asynccontextmanager
async def connect(path: str | os.PathLike, home: str | os.PathLike | None = None) -> AsyncIterator[Database]:
    db = await open_db(path, home)
    try:
        yield db
    finally:
        await db.close()


async def init_db(path: str | os.PathLike | None = None, home: str | os.PathLike | None = None) -> int:
    """Create or upgrade the database; safe to call any number of times. Returns the schema version."""
    if path is None:
        from ffui.paths import resolve_paths

        p = resolve_paths(home=home)
        path, home = p.db, p.home
    async with connect(path, home) as db:
        return await db.scalar("PRAGMA user_version")


def utcnow() -> str:
    """Timestamps in the seed's format (datetime('now')): UTC, 'YYYY-MM-DD HH:MM:SS'."""
    import datetime as _dt

    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
