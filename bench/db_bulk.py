"""Bulk writes through ffui's data layer against their limits, in one run.

1. add_scraped_pairs of N pairs vs plain sqlite3 executemany of the same rows in one
   transaction (the limit: no dict handling, no async hop).
2. DbLogHandler vs one INSERT + commit per record (what seed 001's handler does), both on
   connections with ffui's pragmas (WAL, synchronous=NORMAL), so only the batching differs.

    python bench/db_bulk.py [--pairs 1000000] [--records 50000]
Prints rows/s for each and the ratios. Not a test: timings on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from ffui import db as fdb
from ffui.db import DbLogHandler, open_sync


def make_pairs(n: int) -> list[dict]:
    return [
        {"input": f"How do I fine-tune model number {i} with LoRA on a small GPU?", "output": f"Answer {i}: use r=16, alpha=32 and a 4-bit base."}
        for i in range(n)
    ]


def bench_limit(path: Path, pairs: list[dict]) -> float:
    conn = open_sync(path)
    conn.execute("INSERT INTO scrape_sessions(source) VALUES ('bench')")
    rows = [(1, p["input"], p["output"], None, None, None) for p in pairs]
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO scraped_pairs(session_id, input_text, output_text, source_url, metadata_json, messages_json) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    return len(pairs) / dt


async def bench_ffui(path: Path, pairs: list[dict]) -> float:
    async with fdb.connect(path) as db:
        sid = await fdb.create_scrape_session(db, "bench")
        t0 = time.perf_counter()
        added = await fdb.add_scraped_pairs(db, sid, pairs)
        dt = time.perf_counter() - t0
        assert added == len(pairs) and await fdb.count_pairs(db, sid) == len(pairs)
    return len(pairs) / dt


def bench_handler(path: Path, n: int) -> tuple[float, float]:
    """(records/s as the logging caller sees them, records/s until all are committed)"""
    open_sync(path).close()
    handler = DbLogHandler(path)
    log = logging.getLogger("bench.handler")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    t0 = time.perf_counter()
    for i in range(n):
        log.info("step %d loss %.4f", i, 1.0 / (i + 1))
    t_emit = time.perf_counter() - t0
    handler.flush()
    dt = time.perf_counter() - t0
    handler.close()
    log.removeHandler(handler)
    conn = open_sync(path)
    assert conn.execute("SELECT COUNT(*) FROM app_logs WHERE logger = 'bench.handler'").fetchone()[0] == n
    conn.close()
    return n / t_emit, n / dt


def bench_null(n: int) -> float:
    """The ceiling: Python logging with a handler that does nothing."""
    log = logging.getLogger("bench.null")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    log.setLevel(logging.INFO)
    t0 = time.perf_counter()
    for i in range(n):
        log.info("step %d loss %.4f", i, 1.0 / (i + 1))
    return n / (time.perf_counter() - t0)


class PerRecordHandler(logging.Handler):
    """The baseline: an INSERT and a commit for every record.

    ``seed_pragmas``: a plain sqlite3 connection as seed 001's handler had (rollback
    journal, synchronous=FULL); otherwise ffui's pragmas, so that only batching differs.
    """

    def __init__(self, path: Path, seed_pragmas: bool = False):
        super().__init__()
        open_sync(path).close()  # the schema
        if seed_pragmas:
            import sqlite3

            self.conn = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode = DELETE")
        else:
            self.conn = open_sync(path)

    def emit(self, record):
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "INSERT INTO app_logs(level, logger, message, module, func_name, line_no) VALUES (?, ?, ?, ?, ?, ?)",
            (record.levelname, record.name, record.getMessage(), record.module, record.funcName, record.lineno),
        )
        self.conn.execute("COMMIT")


def bench_per_record(path: Path, n: int, seed_pragmas: bool = False) -> float:
    handler = PerRecordHandler(path, seed_pragmas)
    log = logging.getLogger("bench.per_record")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    t0 = time.perf_counter()
    for i in range(n):
        log.info("step %d loss %.4f", i, 1.0 / (i + 1))
    dt = time.perf_counter() - t0
    log.removeHandler(handler)
    handler.conn.close()
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--baseline-records", type=int, default=5_000)
    args = ap.parse_args()
    pairs = make_pairs(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Alternate the two twice and keep each one's best, so neither gains from going second.
        limit = ours = 0.0
        for round_ in range(2):
            limit = max(limit, bench_limit(tmp / f"limit{round_}.db", pairs))
            ours = max(ours, asyncio.run(bench_ffui(tmp / f"ffui{round_}.db", pairs)))
        handler_caller, handler = bench_handler(tmp / "h.db", args.records)
        null = bench_null(args.records)
        per_record = bench_per_record(tmp / "p.db", args.baseline_records)
        per_record_seed = bench_per_record(tmp / "s.db", max(200, args.baseline_records // 10), seed_pragmas=True)
    print(f"add_scraped_pairs, {args.pairs:,} pairs")
    print(f"  sqlite3 executemany (limit): {limit:12,.0f} rows/s")
    print(f"  ffui add_scraped_pairs:      {ours:12,.0f} rows/s")
    print(f"  ratio ffui/limit:            {ours / limit:12.2f}   (goal >= 0.80)")
    print("app_logs handler")
    print(f"  INSERT+commit per record, seed 001's connection (rollback journal): {per_record_seed:10,.0f} records/s")
    print(f"  INSERT+commit per record, ffui's pragmas (WAL, synchronous=NORMAL): {per_record:10,.0f} records/s")
    print(f"  ffui DbLogHandler, as the logging caller sees it:                   {handler_caller:10,.0f} records/s")
    print(f"  ffui DbLogHandler, until every record is committed:                 {handler:10,.0f} records/s")
    print(f"  Python logging with a NullHandler (the ceiling):                    {null:10,.0f} records/s")
    print(f"  ratio handler (caller) / seed 001's per-record handler:    {handler_caller / per_record_seed:8.1f}   (goal >= 100)")
    print(f"  ratio handler (committed) / seed 001's per-record handler: {handler / per_record_seed:8.1f}")
    print(f"  ratio handler (committed) / per-record on ffui's pragmas:  {handler / per_record:8.1f}   (batching alone)")


if __name__ == "__main__":
    main()
