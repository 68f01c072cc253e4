"""ffui on a full disk: one clear line, nothing half-written, the database still sound.

A full disk is made for real: a small tmpfs is mounted and filled. That needs root (as on
the CI machines); elsewhere these tests skip and say so.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from conftest import mounted_tmpfs
from ffui import procs
from ffui.db import open_sync
from job_support import at_step, final, wait_run


@pytest.fixture
def small_disk(tmp_path):
    with mounted_tmpfs(tmp_path, "32m", "to fill") as mnt:
        yield mnt


def fill(disk: Path, leave: int = 0) -> None:
    """Write a filler file until the disk is full (less `leave` bytes)."""
    with open(disk / "filler", "wb") as f:
        block = b"\0" * (1 << 20)
        try:
            while True:
                free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
                if free <= leave:
                    break
                f.write(block[: max(1, min(len(block), free - leave))])
                f.flush()
        except OSError:
            pass


def test_an_import_onto_a_full_disk_is_one_line_and_writes_nothing(small_disk, tmp_path, ffui):
    home = small_disk / "home"
    src = tmp_path / "big.jsonl"
    with open(src, "w") as f:
        for i in range(40000):
            f.write(json.dumps({"input": f"question number {i} " * 4, "output": f"answer {i} " * 4}) + "\n")
    assert ffui("db", "init", home=home).returncode == 0
    fill(small_disk, leave=1 << 20)
    r = ffui("data", "import", src, "--name", "big", home=home)
    assert r.returncode == 1, r.stdout
    assert r.stderr.strip().splitlines() == [
        "ffui: the disk holding the database is full: free some space and try again "
        "(nothing of the failed change was written)"]
    (small_disk / "filler").unlink()
    assert "no datasets yet" in ffui("data", "list", home=home).stdout
    conn = open_sync(home / "ffui.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert ffui("data", "import", src, "--name", "big", home=home).returncode == 0  # with room, it lands


async def test_a_run_whose_disk_fills_fails_saying_so(small_disk, tmp_path):
    """The worker's checkpoints and log fill the disk; its own error cannot be written there, so the
    supervisor says why (the fake worker: what is checked is the machinery, not torch.save)."""
    from ffui import db as fdb
    from ffui.jobs import manager
    from ffui.jobs.fake_worker import create_fake_run

    home = small_disk / "home"
    home.mkdir()
    # the database on another disk: only the run's files run out of room
    async with fdb.connect(tmp_path / "ffui.db", home) as db:
        try:
            run = await create_fake_run(db, steps=100000, step_s=0.01, lines_per_s=500, save_steps=5)
            await manager.schedule(db)
            await wait_run(db, run["id"], at_step(5), "a first checkpoint")
            fill(small_disk)
            run = await wait_run(db, run["id"], final, "an outcome", timeout=120)
            assert run["status"] == "failed", run
            assert "disk" in run["error_message"] and "full" in run["error_message"], run["error_message"]
            assert f"ffui runs resume {run['id']}" in run["error_message"]
            assert "Traceback" not in run["error_message"]
        finally:
            run = await fdb.get_training_run(db, run["id"])
            procs.signal_group(run.get("trainer_pgid"), signal.SIGKILL)
            procs.signal_pid(run.get("supervisor_pid"), signal.SIGKILL)
