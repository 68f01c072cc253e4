"""Benchmark: exporting a stored dataset to Parquet and JSONL through ffui against the obvious scripts.

One database is filled once (``ffui data import`` of N input/output pairs); then, alternating, each
contender writes the same rows from it:

- ``ffui``: the real command, ``ffui data export bench OUT --format parquet|jsonl`` (a subprocess:
  it pays for its start-up, the dataset's layout and the row shape the user asked for);
- ``pyarrow``: a streaming script: ``fetchmany`` from SQLite, columns built per block,
  ``pyarrow.parquet.ParquetWriter`` with row groups of 100k rows (the fastest careful way);
- ``pandas``: ``pandas.read_sql`` of the whole table, then ``to_parquet`` (what most people type);
- for JSONL, ``script``: ``fetchmany`` and ``json.dumps`` per row into one file.

Each contender runs in its own process; the best of ``--rounds`` is kept and ratios to ffui are
printed. Parquet files are also checked for their row-group count (readers want few, big ones).

    .venv/bin/python bench/data_export.py [--rows 1000000] [--rounds 2]

Not a timed test: run it by hand, record the result in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_import import make_file, run_child  # noqa: E402  (the same rows the import bench uses)

SQL = ("SELECT input_text AS input, output_text AS output FROM scraped_pairs "
       "WHERE session_id = (SELECT id FROM scrape_sessions WHERE name = 'bench') ORDER BY id")


def contender(name: str, db: str, out: str) -> None:
    import sqlite3

    conn = sqlite3.connect(db)
    if name == "pyarrow":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("input", pa.string()), ("output", pa.string())])
        cur = conn.execute(SQL)
        with pq.ParquetWriter(out, schema) as w:
            while True:
                block = cur.fetchmany(100_000)
                if not block:
                    break
                ins, outs = zip(*block)
                w.write_table(pa.table([pa.array(ins, pa.string()), pa.array(outs, pa.string())], schema=schema))
    elif name == "pandas":
        import pandas as pd

        pd.read_sql(SQL, conn).to_parquet(out, index=False)
    elif name == "script":
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        cur = conn.execute(SQL)
        with open(out, "w", encoding="utf-8") as f:
            while True:
                block = cur.fetchmany(10_000)
                if not block:
                    break
                f.writelines(dumps({"input": i, "output": o}) + "\n" for i, o in block)
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--_contender", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._contender:
        contender(*a._contender)
        return
    import pyarrow.parquet as pq

    work = Path(tempfile.mkdtemp(prefix="ffui-bench-export-"))
    src, db = work / "rows.jsonl", work / "bench.db"
    make_file(src, a.rows, "io")
    py = sys.executable
    exe = Path(py).parent / "ffui"
    ffui_cmd = [str(exe)] if exe.exists() else [py, "-m", "ffui"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    run_child(ffui_cmd + ["--db", str(db), "data", "import", str(src), "--name", "bench"], env)
    src.unlink()
    plans = {"parquet": ["ffui", "pyarrow", "pandas"], "jsonl": ["ffui", "script"]}
    best: dict[str, dict[str, dict]] = {fmt: {} for fmt in plans}
    for rnd in range(a.rounds):
        for fmt, sides in plans.items():
            for side in sides:
                out = work / f"{side}.{fmt}"
                out.unlink(missing_ok=True)
                if side == "ffui":
                    cmd = ffui_cmd + ["--db", str(db), "data", "export", "bench", str(out), "--format", fmt]
                    wall, rss, _ = run_child(cmd, env)
                else:
                    wall, rss, _ = run_child([py, __file__, "--_contender", side, str(db), str(out)])
                groups = pq.ParquetFile(out).metadata.num_row_groups if fmt == "parquet" else None
                rec = {"rows_per_s": round(a.rows / wall), "seconds": round(wall, 2), "rss_mb": rss,
                       "row_groups": groups, "mb": round(out.stat().st_size / 1e6)}
                print(f"round {rnd + 1} {fmt:>7} {side:>7}: {wall:6.2f}s {a.rows / wall:>10,.0f} rows/s "
                      f"peak RSS {rss} MB" + (f", {groups} row groups" if groups else ""), flush=True)
                if side not in best[fmt] or rec["rows_per_s"] > best[fmt][side]["rows_per_s"]:
                    best[fmt][side] = rec
                out.unlink()
    ratios = {f"{fmt}: ffui / {side}": round(r["ffui"]["rows_per_s"] / r[side]["rows_per_s"], 2)
              for fmt, r in best.items() for side in r if side != "ffui"}
    print(json.dumps({"rows": a.rows, "best": best, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
