"""Benchmark: importing a 1,000,000-row JSONL file through ffui against the limit.

The limit is a minimal script that reads the same file with ``json.loads`` and inserts every row
with one ``executemany`` in one transaction, into the same table of a database made by ffui's
migrations (same indexes, same pragmas). ``--shape io`` (input/output pairs) is the headline;
for ``alpaca`` and ``chatml`` the limit does the least work that stores the same information
(alpaca's input joined to the instruction; the conversation as JSON). ffui's import is the real command, ``ffui data import``
(a subprocess: it pays for its start-up, format detection, validation, normalisation and the
progress machinery). Each side runs in its own process so peak memory (ru_maxrss) is its own.
Goal: ffui at least 0.8 of the limit's rows/s.

    .venv/bin/python bench/data_import.py [--rows 1000000] [--shape io|alpaca|chatml] [--rounds 2]

Not a timed test: run it by hand, record the result in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

WORDS = ("the model learns from each example and the operator watches the loss fall while "
         "a small dataset of questions and answers streams into one sqlite file on disk").split()


def make_file(path: Path, rows: int, shape: str, seed: int = 7) -> None:
    rnd = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        return " ".join(rnd.choices(WORDS, k=rnd.randint(lo, hi)))

    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            if shape == "io":
                r = {"input": text(5, 30), "output": text(10, 60)}
            elif shape == "alpaca":
                r = {"instruction": text(5, 20), "input": text(0, 15) if i % 2 else "",
                     "output": text(10, 60)}
            else:
                r = {"messages": [{"role": "system", "content": "be brief"},
                                  {"role": "user", "content": text(5, 30)},
                                  {"role": "assistant", "content": text(10, 60)}]}
            f.write(json.dumps(r, ensure_ascii=False))
            f.write("\n")


# -- the limit ---------------------------------------------------------------------------------

def limit_child(db_path: str, file_path: str, shape: str) -> None:
    sys.path.insert(0, str(REPO))
    from ffui.db import open_sync

    conn = open_sync(db_path)
    conn.execute("INSERT INTO scrape_sessions(source, name) VALUES ('bench', 'limit')")
    sid = conn.execute("SELECT id FROM scrape_sessions WHERE name = 'limit'").fetchone()[0]
    loads = json.loads
    # The least work that stores the same information as ffui does for the shape: io stores
    # both fields; alpaca keeps its input (joined to the instruction); chat stores the whole
    # conversation as JSON (ffui also validates every turn and keeps restore details).
    if shape == "io":
        rows = ((r["input"], r["output"], None) for r in map(loads, open(file_path, "rb")))
    elif shape == "alpaca":
        rows = ((r["instruction"] + "\n\n" + r["input"] if r["input"] else r["instruction"],
                 r["output"], None) for r in map(loads, open(file_path, "rb")))
    else:
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        rows = ((r["messages"][1]["content"], r["messages"][2]["content"], dumps(r["messages"]))
                for r in map(loads, open(file_path, "rb")))
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f"INSERT INTO scraped_pairs(session_id, input_text, output_text, "
                     f"messages_json) VALUES ({sid}, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    n = conn.execute("SELECT COUNT(*) FROM scraped_pairs").fetchone()[0]
    conn.close()
    print(json.dumps({"rows": n, "seconds": dt}))


# -- driver ------------------------------------------------------------------------------------

def run_child(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MB, stdout) of a child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out = p.stdout.read().decode()
    err = p.stderr.read().decode()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"{cmd[:4]} failed ({p.returncode}): {err.strip()[-500:]}")
    return wall, ru.ru_maxrss // 1024, out


def page_times(db_path: Path) -> dict:
    """Pages of 50 rows of the imported dataset at 40 depths (offset) and by keyset; count."""
    import asyncio
    import statistics

    sys.path.insert(0, str(REPO))
    from ffui.data import store
    from ffui.db import connect

    async def go():
        async with connect(db_path) as db:
            s = await store.resolve(db, "bench")
            n = await store.count(db, s)
            offs, keys = [], []
            first = (await store.page(db, s, limit=1))[0]["id"]
            for off in range(0, n, max(1, n // 40)):
                t0 = time.perf_counter()
                page = await store.page(db, s, limit=50, offset=off)
                offs.append(time.perf_counter() - t0)
                assert page and page[0]["id"] == first + off
                t0 = time.perf_counter()
                await store.page(db, s, limit=50, after_id=first + off)
                keys.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await store.count(db, s)
            c = time.perf_counter() - t0
        ms = lambda v: round(v * 1000, 3)  # noqa: E731
        return {"offset_median_ms": ms(statistics.median(offs)), "offset_max_ms": ms(max(offs)),
                "keyset_median_ms": ms(statistics.median(keys)), "keyset_max_ms": ms(max(keys)),
                "count_ms": ms(c)}

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shape", choices=["io", "alpaca", "chatml"], default="io")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep", help="folder to keep the file and databases in")
    ap.add_argument("--_limit", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._limit:
        limit_child(*a._limit)
        return
    work = Path(a.keep or tempfile.mkdtemp(prefix="ffui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"rows_{a.shape}_{a.rows}.jsonl"
    if not src.exists():
        t0 = time.perf_counter()
        make_file(src, a.rows, a.shape)
        print(f"wrote {src} ({src.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
    py = sys.executable
    ffui_exe = Path(py).parent / "ffui"
    ffui_cmd = [str(ffui_exe)] if ffui_exe.exists() else [py, "-m", "ffui"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    results = {"limit": [], "ffui": []}
    for rnd in range(a.rounds):
        for side in ("limit", "ffui"):
            db = work / f"{side}-{rnd}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            if side == "limit":
                wall, rss, out = run_child([py, __file__, "--_limit", str(db), str(src), a.shape])
                n = json.loads(out)["rows"]
            else:
                wall, rss, out = run_child(ffui_cmd + ["--db", str(db), "data", "import",
                                                       str(src), "--name", "bench"], env)
                import sqlite3

                c = sqlite3.connect(db)
                n = c.execute("SELECT COUNT(*) FROM scraped_pairs").fetchone()[0]
                c.close()
            assert n == a.rows, (side, n)
            results[side].append({"seconds": wall, "rss_mb": rss, "rows_per_s": n / wall})
            print(f"round {rnd + 1} {side:>5}: {wall:6.2f}s  {n / wall:>10,.0f} rows/s  "
                  f"peak RSS {rss} MB", flush=True)
            if side == "ffui" and rnd == a.rounds - 1:
                results["paging"] = page_times(db)
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
    paging = results.pop("paging")
    best = {k: max(v, key=lambda r: r["rows_per_s"]) for k, v in results.items()}
    ratio = best["ffui"]["rows_per_s"] / best["limit"]["rows_per_s"]
    summary = {"rows": a.rows, "shape": a.shape, "file_mb": round(src.stat().st_size / 1e6),
               "limit_rows_per_s": round(best["limit"]["rows_per_s"]),
               "ffui_rows_per_s": round(best["ffui"]["rows_per_s"]),
               "ratio": round(ratio, 3), "goal": 0.8,
               "limit_peak_rss_mb": best["limit"]["rss_mb"],
               "ffui_peak_rss_mb": max(r["rss_mb"] for r in results["ffui"]),
               "rounds": {k: [round(r["rows_per_s"]) for r in v] for k, v in results.items()},
               "paging": paging}
    print(json.dumps(summary, indent=2))
    if not a.keep:
        src.unlink(missing_ok=True)
        try:
            work.rmdir()
        except OSError:
            pass


if __name__ == "__main__":
    main()
