"""app_logs: reading, clearing, batched writing, and the logging handler.

Writers never commit per line. The supervisor hands whole batches of a run's lines to
``add_log_lines`` (one transaction); Python logging goes through ``DbLogHandler``, whose
``emit`` only puts the record on a queue: a background thread with its own sqlite3
connection writes what has gathered in one transaction every ``flush_interval`` seconds.
So the handler is the documented way in for code that is not async, and it never blocks
an event loop. Known secret values are replaced by ``***`` before anything is written.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import logging
import queue
import threading
import traceback
from pathlib import Path
from typing import Any, Iterable, Sequence

from ffui.db.core import Database, open_sync
from ffui.db.secrets import has_secrets, is_secret_key, redact, register_secret  # (redact: callers use it from here too)

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_INSERT = (
    "INSERT INTO app_logs(timestamp, level, logger, message, module, func_name, line_no, exc_info, run_id, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The handler passes the record's epoch seconds and lets SQLite format them (in C, in the
# writer thread): the same text as timestamp() below.
_INSERT_EPOCH = _INSERT.replace("VALUES (?,", "VALUES (strftime('%Y-%m-%d %H:%M:%f', ?, 'unixepoch'),")

def timestamp(ts: float | None = None) -> str:
    """UTC, seed format plus milliseconds so lines of one second keep their order in views."""
    when = _dt.datetime.fromtimestamp(ts, _dt.timezone.utc) if ts else _dt.datetime.now(_dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def _filters(level=None, min_level=None, logger=None, run_id=None, search=None, source=None):
    where, params = [], []
    if logger and "#" in logger:  # "train#2", as the Logs screen shows a run's lines: logger and run
        logger, _, run = logger.partition("#")
        if run.strip().isdigit() and run_id is None:
            run_id = int(run)
    if level:
        where.append("level = ?")
        params.append(level.upper())
    if min_level:
        allowed = LEVELS[LEVELS.index(min_level.upper()):]
        where.append(f"level IN ({', '.join('?' for _ in allowed)})")
        params += list(allowed)
    if logger:
        # The Logs screen shows loggers without their "ffui." (jobs.supervisor#2), so the name
        # as shown matches too. A prefix, so "jobs" finds jobs.supervisor; LIKE wildcards typed
        # by the user are literal.
        prefix = logger.strip().rstrip("*").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("(logger LIKE ? ESCAPE '\\' OR logger LIKE ? ESCAPE '\\')")
        params += [prefix + "%", "ffui." + prefix + "%"]
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    if source:
        where.append("source = ?")
        params.append(source)
    if search:
        where.append("message LIKE ?")
        params.append(f"%{search}%")
    return where, params


async def get_logs(
    db: Database,
    limit: int = 100,
    level: str | None = None,
    *,
    min_level: str | None = None,
    logger: str | None = None,
    run_id: int | None = None,
    search: str | None = None,
    source: str | None = None,
    after_id: int | None = None,
    before_id: int | None = None,
) -> list[dict]:
    """Log rows in id order. Without ``after_id`` it returns the newest ``limit`` lines
    (the last lines, not the first); with ``after_id`` the next lines after that id, which
    is how a follow view polls."""
    where, params = _filters(level, min_level, logger, run_id, search, source)
    if after_id is not None:
        where.append("id > ?")
        params.append(after_id)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    if after_id is not None:
        return await db.fetchall(f"SELECT * FROM app_logs{clause} ORDER BY id ASC LIMIT ?", (*params, limit))
    rows = await db.fetchall(f"SELECT * FROM app_logs{clause} ORDER BY id DESC LIMIT ?", (*params, limit))
    rows.reverse()
    return rows


async def get_log_count(db: Database, level: str | None = None, **filters: Any) -> int:
    where, params = _filters(level, **filters)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return await db.scalar(f"SELECT COUNT(*) FROM app_logs{clause}", params)


async def clear_logs(db: Database, older_than_days: float | None = None, run_id: int | None = None) -> int:
    """Delete log lines (all, those older than N days, and/or one run's); returns how many."""
    where, params = [], []
    if older_than_days is not None:
        cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=older_than_days)
        where.append("timestamp < ?")
        params.append(cutoff.strftime("%Y-%m-%d %H:%M:%S"))
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    cur = await db.write(f"DELETE FROM app_logs{clause}", params)
    return cur.rowcount


def log_rows(lines: Iterable[dict]) -> Iterable[tuple]:
    for ln in lines:
        yield (
            ln.get("timestamp") or timestamp(),
            (ln.get("level") or "INFO").upper(),
            ln.get("logger"),
            redact(ln.get("message", "")),
            ln.get("module"),
            ln.get("func_name"),
            ln.get("line_no"),
            redact(ln.get("exc_info")),
            ln.get("run_id"),
            ln.get("source"),
        )


async def add_log_lines(db: Database, lines: Sequence[dict]) -> int:
    """Append many lines in the caller's transaction (or one of its own)."""
    async with db.transaction():
        cur = await db.conn.executemany(_INSERT, log_rows(lines))
    return cur.rowcount


class DbLogHandler(logging.Handler):
    """A logging handler that writes app_logs in batches from a background thread."""

    def __init__(
        self,
        db_path: str | Path,
        level: int = logging.INFO,
        *,
        flush_interval: float = 0.25,
        batch_size: int = 2000,
        run_id: int | None = None,
        source: str = "app",
    ):
        super().__init__(level)
        self.db_path = Path(db_path)
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.run_id = run_id
        self.source = source
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="ffui-log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: emit() only puts on a thread-safe queue.
        rv = self.filter(record)
        if rv:
            self.emit(record)
        return rv

    def emit(self, record: logging.LogRecord) -> None:
        if self._closed:
            return
        try:
            if record.exc_info or type(record.msg) is not str or not _deferrable(record.args):
                # A traceback, or arguments that could change before the writer formats them:
                # capture the text now (what QueueHandler.prepare does for every record).
                record = _frozen(record, self.run_id, self.source)
            self._queue.put(record)  # the writer thread reads its fields and formats the message
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Block until everything emitted so far is committed (call from threads, not the UI loop)."""
        if self._closed or not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout=10)

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=10)
        super().close()

    def _run(self) -> None:
        try:
            conn = open_sync(self.db_path)
        except Exception as exc:  # the app keeps running; stderr says why logs are missing
            import sys

            print(f"ffui: logs are not written to the database: {exc}", file=sys.stderr)
            self._closed = True
            return
        try:
            for (key, value) in conn.execute("SELECT key, value FROM settings"):
                if is_secret_key(key):
                    register_secret(value)
            while True:
                batch, waiters, stop = self._gather()
                if batch:
                    self._write(conn, batch)
                for w in waiters:
                    w.set()
                if stop:
                    return
        finally:
            conn.close()

    def _gather(self):
        batch, waiters, stop = [], [], False
        try:
            item = self._queue.get(timeout=self.flush_interval)
        except queue.Empty:
            return batch, waiters, stop
        get = self._queue.get_nowait
        while True:
            if type(item) is tuple or isinstance(item, logging.LogRecord):
                batch.append(item)
                if len(batch) >= self.batch_size:
                    break
            elif item is None:
                stop = True
            else:
                waiters.append(item)
            try:
                item = get()
            except queue.Empty:
                break
        return batch, waiters, stop

    def _rows(self, batch: list) -> list[tuple]:
        run_id, source = self.run_id, self.source
        rows = [r if type(r) is tuple else (
            r.created, r.levelname, r.name, r.getMessage(), r.module, r.funcName, r.lineno, None,
            getattr(r, "run_id", run_id), getattr(r, "source", source)) for r in batch]
        if has_secrets():
            rows = [(*r[:3], redact(r[3]), *r[4:7], redact(r[7]), *r[8:]) for r in rows]
        return rows

    def _write(self, conn, batch: list) -> None:
        try:
            rows = self._rows(batch)
        except Exception as exc:  # a record whose message cannot be formatted: keep the rest
            rows = []
            for r in batch:
                try:
                    rows.extend(self._rows([r]))
                except Exception:
                    rows.extend(self._rows([_frozen(r, self.run_id, self.source, broken=exc)]))
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT_EPOCH, rows)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if not self.dropped:  # say it once, on stderr: the database is where logs would go
                import sys

                print(f"ffui: log lines could not be written to the database ({exc}); they are dropped", file=sys.stderr)
            self.dropped += len(rows)


_IMMUTABLE = (str, int, float, bool, type(None), bytes)


def _deferrable(args) -> bool:
    """Arguments the writer thread can format later and still get today's text."""
    if not args:
        return True
    if type(args) is tuple:
        return all(type(a) in _IMMUTABLE for a in args)
    return False  # a mapping (logging's %(name)s form) may change under us


def _frozen(record: logging.LogRecord, run_id: int | None, source: str, broken: Exception | None = None) -> tuple:
    """The row of a record, captured now."""
    try:
        if broken is not None:
            raise broken
        message = record.getMessage()
    except Exception as exc:
        message = f"{record.msg!r} {record.args!r} (log message could not be formatted: {exc})"
    exc_text = "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else None
    return (record.created, record.levelname, record.name, message, record.module, record.funcName,
            record.lineno, exc_text, getattr(record, "run_id", run_id), getattr(record, "source", source))
