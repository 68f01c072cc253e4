"""`python -m ffui.train RUN_DIR`: train the run described by RUN_DIR/config.json.

Exit codes and the events.jsonl protocol are documented in docs/events.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffui.train", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="directory holding config.json and dataset.jsonl")
    args = p.parse_args(argv)
    from ffui.train import distributed, worker_lock

    distributed.die_with_launcher()  # a rank of several must not outlive a killed launcher
    # First thing, before any heavy import: one trainer per run directory, for its whole life.
    if Path(args.run_dir).is_dir() and worker_lock.hold(args.run_dir) is None:
        print(f"error: another trainer already runs in {args.run_dir}; this one did nothing", flush=True)
        return worker_lock.EXIT_LOCKED
    from ffui.paths import keep_files_private
    from ffui.train.runner import main as run

    keep_files_private()

    return run(args.run_dir)


if __name__ == "__main__":
    sys.exit(main())
