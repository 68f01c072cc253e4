"""The job machinery under faults and load, with the torch-free fake worker.

1. Random kills: RUNS fake-worker runs, one after another, each writing LINES_PER_S log lines
   a second; KILLS kill -9s of the run's supervisor spread over them at random instants, each
   followed by what the next `ffui` start does (reconcile). Compares what the workers wrote
   (train.log) with what reached app_logs: lines lost and duplicated, runs with more than one
   worker (two `start` events), and worker processes left running at the end.
   Then TARGETED kills at the worst instant: the moment the supervisor forks the worker, before
   it can record the worker's pid (how a second worker used to be started on a run).
2. Parallel load: during one run, imports, listings and scripted writes from other
   connections for LOAD_S seconds; counts "database is locked" errors they got.

    python bench/faults.py [--runs 6] [--kills 20] [--targeted 20] [--lines-per-s 3000] [--load-s 60] [--seed 1]
Prints the figures; docs/reliability.md keeps the last ones. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

from ffui import db as fdb
from ffui import procs
from ffui.jobs import manager
from ffui.jobs.fake_worker import MODULE, create_fake_run


async def wait_final(db, run_id: int, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = await fdb.get_training_run(db, run_id)
        if run["status"] in fdb.FINAL_STATUSES:
            return run
        await asyncio.sleep(0.1)
    raise SystemExit(f"run {run_id} never ended")


def live_workers(home: Path) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = " ".join(procs.cmdline(int(entry.name)))
            count += MODULE in line and str(home) in line and not procs.is_zombie(int(entry.name))
    return count


async def compare_lines(db, run: dict) -> tuple[int, int, int]:
    """(written, lost, duplicated) for one run: train.log against app_logs."""
    written = collections.Counter(Path(run["storage_path"], "train.log").read_text().splitlines())
    rows = await db.fetchall("SELECT message FROM app_logs WHERE run_id = ? AND source = 'train'", (run["id"],))
    stored = collections.Counter(r["message"] for r in rows)
    return sum(written.values()), sum((written - stored).values()), sum((stored - written).values())


async def random_kills(home: Path, runs: int, kills: int, lines_per_s: int, rng: random.Random) -> dict:
    steps, step_s = 300, 0.01  # ~3 s of work per run, plus what the kills cost
    per_run = [kills // runs + (i < kills % runs) for i in range(runs)]
    totals = collections.Counter()
    async with fdb.connect(home / "ffui.db", home) as db:
        for i, n_kills in enumerate(per_run):
            run = await create_fake_run(db, f"kills{i}", steps=steps, step_s=step_s, lines_per_s=lines_per_s)
            await manager.schedule(db)
            for _ in range(n_kills):
                await asyncio.sleep(rng.uniform(0.0, steps * step_s / max(n_kills, 1)))
                pid = (await fdb.get_training_run(db, run["id"]))["supervisor_pid"]
                if procs.signal_pid(pid, signal.SIGKILL):
                    totals["kills"] += 1
                await replace_supervisor(db, pid)
            run, counts = await outcome(db, run["id"])
            totals.update(counts, not_completed=int(run["status"] != "completed"))
    totals["left_running"] = live_workers(home)
    return totals


async def replace_supervisor(db, pid: int) -> None:
    """Wait for the killed supervisor to be gone, then let reconcile start its replacement."""
    while procs.alive(pid):
        await asyncio.sleep(0.01)
    await manager.reconcile(db)


async def outcome(db, run_id: int) -> tuple[dict, dict]:
    """The run once final, and what its log and events say: lines written, lost, duplicated,
    and whether a second worker started (two `start` events)."""
    run = await wait_final(db, run_id)
    written, lost, dup = await compare_lines(db, run)
    starts = [json.loads(x)["type"] for x in Path(run["storage_path"], "events.jsonl").read_text().splitlines()]
    return run, {"written": written, "lost": lost, "duplicated": dup, "double_workers": int(starts.count("start") > 1)}


def wait_for_child(pid: int, timeout: float = 30) -> None:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.read_text().strip():
                return
        except OSError:
            return
        time.sleep(0.0005)


async def targeted_kills(home: Path, kills: int, lines_per_s: int) -> dict:
    totals = collections.Counter()
    async with fdb.connect(home / "ffui.db", home) as db:
        for i in range(kills):
            run = await create_fake_run(db, f"targeted{i}", steps=20, step_s=0.01, lines_per_s=lines_per_s)
            await manager.schedule(db)
            pid = (await fdb.get_training_run(db, run["id"]))["supervisor_pid"]
            wait_for_child(pid)
            procs.signal_pid(pid, signal.SIGKILL)
            totals["before_pid_recorded"] += (await fdb.get_training_run(db, run["id"]))["trainer_pid"] is None
            await replace_supervisor(db, pid)
            _run, counts = await outcome(db, run["id"])
            totals.update(counts)
    return totals


async def load_client(home: Path, kind: int, stop: float, data: Path, counts: collections.Counter) -> None:
    from ffui.data import store

    async with fdb.connect(home / "ffui.db", home) as db:
        n = 0
        while time.monotonic() < stop:
            n += 1
            try:
                if kind == 0:
                    await store.import_dataset(db, str(data), name=f"load{n}")
                elif kind == 1:
                    await fdb.list_training_runs(db)
                    await db.fetchall("SELECT * FROM app_logs ORDER BY id DESC LIMIT 500")
                else:
                    await fdb.set_setting(db, f"bench.key{n % 50}", str(n))
                counts["ops"] += 1
            except sqlite3.OperationalError as exc:
                counts["locked" if "locked" in str(exc) else "other_errors"] += 1
            await asyncio.sleep(0.01)


async def parallel_load(home: Path, seconds: float, lines_per_s: int) -> dict:
    data = home / "load.jsonl"
    data.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(2000)))
    counts = collections.Counter()
    async with fdb.connect(home / "ffui.db", home) as db:
        steps = int(seconds / 0.01) + 200
        run = await create_fake_run(db, "load", steps=steps, step_s=0.01, lines_per_s=lines_per_s)
        await manager.schedule(db)
        stop = time.monotonic() + seconds
        await asyncio.gather(*(load_client(home, kind, stop, data, counts) for kind in (0, 1, 1, 2, 2)))
        run = await wait_final(db, run["id"])
        written, lost, dup = await compare_lines(db, run)
    return {**counts, "run": run["status"], "lines": written, "lost": lost, "duplicated": dup}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--targeted", type=int, default=20)
    ap.add_argument("--lines-per-s", type=int, default=3000)
    ap.add_argument("--load-s", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["FFUI_HOME"] = str(home)
        kills = asyncio.run(random_kills(home, args.runs, args.kills, args.lines_per_s, random.Random(args.seed)))
        print(f"random kills: {kills['kills']} kill -9s over {args.runs} runs at {args.lines_per_s} lines/s: "
              f"lost {kills['lost']} and duplicated {kills['duplicated']} of {kills['written']} lines; "
              f"runs with two workers {kills['double_workers']}; not completed {kills['not_completed']}; "
              f"left running {kills['left_running']}")
        hit = asyncio.run(targeted_kills(home, args.targeted, args.lines_per_s))
        print(f"targeted kills: {args.targeted} supervisors killed as they forked their worker "
              f"({hit['before_pid_recorded']} before it recorded the worker's pid): runs with two workers "
              f"{hit['double_workers']}; lost {hit['lost']} and duplicated {hit['duplicated']} of {hit['written']} lines")
        load = asyncio.run(parallel_load(home, args.load_s, args.lines_per_s))
        print(f"parallel load: {load.get('ops', 0)} imports/listings/writes in {args.load_s:.0f} s during a run: "
              f"database is locked {load.get('locked', 0)}, other errors {load.get('other_errors', 0)}; the run "
              f"{load['run']}, lost {load['lost']} and duplicated {load['duplicated']} of {load['lines']} lines")


if __name__ == "__main__":
    main()
