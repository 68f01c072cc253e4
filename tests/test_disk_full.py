"""ffui on a full disk: one clear line, nothing half-written, the database still sound.

A full disk is made for real: a small tmpfs is mounted and filled. That needs root (as on
the CI machines); elsewhere these tests skip and say so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import mounted_tmpfs
from ffui.db import open_sync


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


def test_a_run_whose_disk_fills_fails_saying_so(small_disk, tmp_path, ffui):
    pytest.importorskip("torch", reason="the trainer needs the [train] extras (torch)")
    from ffui.train.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny", arch="llama")
    home = small_disk / "home"
    db = tmp_path / "ffui.db"  # the database on another disk: only the run's files run out of room
    env = {"FFUI_DB": str(db)}
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(16)))
    assert ffui("data", "import", data, "--name", "chat", home=home, env=env).returncode == 0
    r = ffui("train", "--dataset", "chat", "--model", model, "--set", "max_steps=50", "--set", "num_gpu=0",
             "--set", "save_steps=5", "--set", "max_seq_len=32", home=home, env=env)
    assert r.returncode == 0, r.stderr
    fill(small_disk)
    deadline = time.monotonic() + 180
    run = None
    while time.monotonic() < deadline:
        conn = open_sync(db)
        run = dict(zip(("status", "error_message", "trainer_pgid", "supervisor_pid"), conn.execute(
            "SELECT status, error_message, trainer_pgid, supervisor_pid FROM training_runs").fetchone()))
        conn.close()
        if run["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.5)
    try:
        assert run["status"] == "failed", run
        assert "disk" in run["error_message"] and "full" in run["error_message"], run["error_message"]
        assert "Traceback" not in run["error_message"]
    finally:
        from ffui import procs

        procs.signal_group((run or {}).get("trainer_pgid"), signal.SIGKILL)
        procs.signal_pid((run or {}).get("supervisor_pid"), signal.SIGKILL)
