"""A big import fills its dataset in chunks: other writers get the database in between, and a
cancelled, failed or killed import keeps nothing (a killed one is hidden, then removed)."""

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import BIN
from ffui.data import store
from ffui.db import dataset_fill
from ffui.data.errors import DataError


def write_pairs(path, n, bad_at=None):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            if i == bad_at:
                f.write('{"input": "broken", "output": \n')
            else:
                f.write(json.dumps({"input": f"question {i} " + "x" * 40, "output": f"answer {i}"}) + "\n")
    return path


def counts(path):
    with sqlite3.connect(path) as con:
        return (con.execute("SELECT COUNT(*) FROM scrape_sessions").fetchone()[0],
                con.execute("SELECT COUNT(*) FROM scraped_pairs").fetchone()[0],
                con.execute("SELECT COUNT(*) FROM datasets").fetchone()[0])


def filling_count(path, name):
    """pair_count of dataset ``name`` as another process sees it, or None."""
    with sqlite3.connect(path, timeout=30) as con:
        row = con.execute("SELECT pair_count FROM scrape_sessions WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


@contextlib.contextmanager
def another_writer(db_path, name):
    """Another process's writer, with a 1 s busy timeout, writing every 10 ms while the body
    runs; it counts its writes, the times it found the database locked, and the row counts of
    dataset ``name`` it saw."""
    stop = threading.Event()
    seen: dict = {"writes": 0, "locked": 0, "counts": set()}

    def write():
        con = sqlite3.connect(db_path, timeout=1.0, isolation_level=None)
        while not stop.is_set():
            try:
                con.execute("INSERT INTO app_state(key, value) VALUES ('probe', ?) ON CONFLICT(key) DO UPDATE "
                            "SET value = excluded.value", (str(time.time()),))
                seen["writes"] += 1
                row = con.execute("SELECT pair_count FROM scrape_sessions WHERE name = ?", (name,)).fetchone()
                if row:
                    seen["counts"].add(row[0])
            except sqlite3.OperationalError as e:
                assert "locked" in str(e) or "busy" in str(e), e
                seen["locked"] += 1
            time.sleep(0.01)
        con.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        yield seen
    finally:
        stop.set()
        t.join()


def assert_left_room(seen, rows):
    assert seen["locked"] == 0, f"the other writer found the database locked {seen['locked']} times"
    assert seen["writes"] > 10
    assert any(0 < c < rows for c in seen["counts"]), "the count did not grow chunk by chunk"


async def test_an_import_leaves_the_database_to_other_writers_between_chunks(home, db, monkeypatch):
    """Another process writing with a 1 s busy timeout never finds the database locked while
    200,000 rows go in (one transaction would hold it for the whole import, and chunks with no
    pause between them starve it too), and sees the dataset's row count grow chunk by chunk."""
    monkeypatch.setattr(dataset_fill, "FILL_CHUNK_S", 0.1)
    src = write_pairs(home / "big.jsonl", 200_000)
    with another_writer(home / "ffui.db", "big") as seen:
        res = await store.import_dataset(db, src, name="big")
    assert res["rows"] == 200_000
    assert_left_room(seen, 200_000)
    assert (await store.show(db, "big"))["rows"] == 200_000


async def test_an_operation_fills_like_an_import_and_leaves_room_to_other_writers(home, db, monkeypatch):
    """A shuffle of 200,000 rows goes through the same fill path: the other writer is never
    locked out (one transaction for the whole copy would hold the database for seconds)."""
    await store.import_dataset(db, write_pairs(home / "big.jsonl", 200_000), name="big")
    monkeypatch.setattr(dataset_fill, "FILL_CHUNK_S", 0.1)
    with another_writer(home / "ffui.db", "mixed") as seen:
        res = await store.shuffle(db, "big", name="mixed", seed=3)
    assert res["rows"] == 200_000
    assert_left_room(seen, 200_000)
    assert (await store.show(db, "mixed"))["rows"] == 200_000


async def test_while_it_fills_a_dataset_is_hidden_and_refused(home, db, monkeypatch):
    monkeypatch.setattr(dataset_fill, "FILL_CHUNK_S", 0.1)
    src = write_pairs(home / "big.jsonl", 100_000)
    task = asyncio.ensure_future(store.import_dataset(db, src, name="big"))
    from ffui.db import connect

    async with connect(home / "ffui.db", home) as other:  # another connection: what the UI sees
        deadline = time.monotonic() + 60
        while not (filling_count(home / "ffui.db", "big") or 0) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not task.done(), "the import finished before it could be looked at; make it bigger"
        assert "big" not in [d["name"] for d in await store.list_datasets(other)]
        with pytest.raises(DataError, match="still being imported"):
            await store.resolve(other, "big")
        with pytest.raises(DataError, match="being imported right now"):
            await store.import_dataset(other, home / "big.jsonl", name="big")
    assert (await task)["rows"] == 100_000
    assert [d["name"] for d in await store.list_datasets(db)] == ["big"]


async def test_a_cancelled_or_failed_import_keeps_nothing(home, db, monkeypatch):
    monkeypatch.setattr(dataset_fill, "FILL_CHUNK_S", 0.1)
    before = counts(home / "ffui.db")
    task = asyncio.ensure_future(store.import_dataset(db, write_pairs(home / "big.jsonl", 100_000), name="big"))
    deadline = time.monotonic() + 60
    while not (filling_count(home / "ffui.db", "big") or 0) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert filling_count(home / "ffui.db", "big") > 0  # some chunks were committed
    task.cancel()  # what escape does in the import screen
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counts(home / "ffui.db") == before

    bad = write_pairs(home / "bad.jsonl", 30_000, bad_at=25_000)  # after many committed chunks
    with pytest.raises(DataError, match="line 25001"):
        await store.import_dataset(db, bad, name="bad")
    assert counts(home / "ffui.db") == before
    assert (await store.import_dataset(db, bad, name="bad", skip_bad=True))["rows"] == 29_999


def test_an_import_killed_halfway_is_hidden_then_removed(home, ffui):
    """kill -9 in the middle of an import (a closed SSH session without tmux, the OOM killer):
    the partial dataset is not listed, says what happened, and the next import removes it."""
    src = write_pairs(home / "big.jsonl", 600_000)
    assert ffui("data", "list", home=home).returncode == 0  # the database exists
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    env["FFUI_HOME"] = str(home)
    proc = subprocess.Popen([str(BIN / "ffui"), "data", "import", str(src), "--name", "big"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (filling_count(home / "ffui.db", "big") or 0) and time.monotonic() < deadline:
            assert proc.poll() is None, "the import ended before it could be killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    partial = filling_count(home / "ffui.db", "big")
    assert 0 < partial < 600_000

    listed = ffui("data", "list", home=home)
    assert "big" not in listed.stdout
    shown = ffui("data", "show", "big", home=home)
    assert shown.returncode != 0 and "Traceback" not in shown.stderr
    assert "was interrupted" in shown.stderr and shown.stderr.strip().count("\n") == 0, shown.stderr

    small = write_pairs(home / "small.jsonl", 10)
    r = ffui("data", "import", small, "--name", "big", home=home)  # the name is free again
    assert r.returncode == 0, r.stderr
    assert counts(home / "ffui.db") == (1, 10, 1), "the partial rows were not removed"


def test_ctrl_c_on_an_import_keeps_nothing(home, ffui):
    src = write_pairs(home / "big.jsonl", 600_000)
    assert ffui("data", "list", home=home).returncode == 0
    before = counts(home / "ffui.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    env["FFUI_HOME"] = str(home)
    # (a CI runner started in the background hands its children SIGINT ignored; a terminal does not)
    proc = subprocess.Popen([str(BIN / "ffui"), "data", "import", str(src), "--name", "big"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (filling_count(home / "ffui.db", "big") or 0) and time.monotonic() < deadline:
        assert proc.poll() is None, "the import ended before ctrl+c"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "ffui: interrupted", err
    assert counts(home / "ffui.db") == before, "the committed chunks were not removed"
