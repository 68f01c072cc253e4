"""Benchmark: synthetic pairs per second from a slow endpoint, ffui's bounded concurrency vs one
request at a time (the baseline: the same source with --concurrency 1).

The endpoint is tests/fakeopenai.py's fake OpenAI-compatible server on 127.0.0.1, each answer
taking ``--latency`` seconds (200 ms: a small local model); the documents are ``--chunks``
Markdown files of one chunk each. The ratio printed is ffui's pairs/s over the baseline's;
goal: close to ``--concurrency`` (the endpoint's latency, not ffui, bounds it).

    .venv/bin/python bench/synth_concurrency.py [--chunks 40] [--latency 0.2] [--concurrency 8]

Not a timed test: run it by hand, record the result in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakeopenai import FakeOpenAI  # noqa: E402

from ffui.data.sources.synthetic import SyntheticSource  # noqa: E402


def pairs_per_s(folder: Path, url: str, concurrency: int) -> float:
    source = SyntheticSource([str(folder)], endpoint=url, model="tiny-writer", pairs_per_chunk=3,
                             concurrency=concurrency)
    t0 = time.perf_counter()
    n = sum(1 for _ in source.rows())
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(latency_s=args.latency) as api:
        folder = Path(tmp)
        for i in range(args.chunks):
            (folder / f"doc{i:03d}.md").write_text(f"Document {i}\n\nIt says {i} things.\n")
        one = pairs_per_s(folder, api.url, 1)
        many = pairs_per_s(folder, api.url, args.concurrency)
    print(f"one at a time: {one:.1f} pairs/s; concurrency {args.concurrency}: {many:.1f} pairs/s; "
          f"ratio {many / one:.2f}x")


if __name__ == "__main__":
    main()
