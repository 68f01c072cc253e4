"""The one dataset data layer: the seed-001 API (ffui.db) that ffui itself fills, pages and
deletes datasets through.

Paging both ways, deletes that take a dataset's prompts and registry row along, the fill path
that imports, merges and operations share (hidden while it fills, nothing kept on a cancel),
and datasets left half-filled by a dead process removed by the next new dataset.
"""

import asyncio
import json
import sqlite3
import subprocess
import sys

import pytest

import ffui.db as fdb
from ffui.data import store
from ffui.data.formats import Layout
from ffui.db import dataset_fill
from ffui.procs import identity


def write_pairs(path, n, start=0):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(start, start + n):
            f.write(json.dumps({"input": f"question {i}", "output": f"answer {i}"}) + "\n")
    return path


async def session_with_gaps(db):
    """A seed-style session (ids not contiguous: another session's rows sit in between)."""
    sid = await fdb.create_scrape_session(db, "reddit", name="gappy")
    other = await fdb.create_scrape_session(db, "reddit", name="other")
    for i in range(30):
        await fdb.add_scraped_pairs(db, sid, [{"input": f"q{i}", "output": "a"}])
        await fdb.add_scraped_pairs(db, other, [{"input": f"x{i}", "output": "b"}])
    return sid


async def test_pages_go_both_ways_by_keyset_and_offset(db):
    sid = await session_with_gaps(db)
    ids = [r["id"] for r in await fdb.get_pairs_for_session(db, sid)]
    assert len(ids) == 30 and ids == sorted(ids)
    after = await fdb.get_pairs_for_session(db, sid, limit=5, after_id=ids[9])
    assert [r["id"] for r in after] == ids[10:15]
    before = await fdb.get_pairs_for_session(db, sid, limit=5, before_id=ids[10])
    assert [r["id"] for r in before] == ids[5:10]  # the rows just before, in id order
    assert [r["input_text"] for r in before] == [f"q{i}" for i in range(5, 10)]
    assert [r["id"] for r in await fdb.get_pairs_for_session(db, sid, limit=3, before_id=ids[1])] \
        == ids[:1]
    assert [r["id"] for r in await fdb.get_pairs_for_session(db, sid, limit=4, offset=20)] \
        == ids[20:24]
    assert await fdb.get_pairs_for_session(db, sid, limit=4, offset=30) == []
    # the last page (what End shows in the dataset browser) and its records
    last = await store.page_before(db, sid, 2 ** 62, limit=4)
    assert [r["input"] for r in last] == ["q26", "q27", "q28", "q29"]


async def test_deleting_a_dataset_unbinds_its_prompts_and_drops_its_registry_row(db, tmp_path):
    a = await store.import_dataset(db, write_pairs(tmp_path / "a.jsonl", 10), name="a")
    b = await store.import_dataset(db, write_pairs(tmp_path / "b.jsonl", 10), name="b")
    await store.add_prompt(db, "ask", "a")
    await store.add_prompt(db, "ask-b", "b")
    rid_a = (await store.show(db, "a"))["registry_id"]
    rid_b = (await store.show(db, "b"))["registry_id"]
    await fdb.create_training_run(db, "uses-b", base_model="/m", create_storage=False,
                                  registry_dataset_id=rid_b)

    deleted = await fdb.delete_scrape_session(db, a["id"])
    assert deleted == {"id": a["id"], "pairs": 10, "unbound_prompts": ["ask"]}
    assert await fdb.get_scrape_session(db, a["id"]) is None
    assert await fdb.count_pairs(db, a["id"]) == 0
    assert await fdb.get_dataset(db, rid_a) is None
    assert (await store.get_prompt_by_name(db, "ask"))["dataset_id"] is None
    # a registry row a training run refers to stays, marked
    assert (await fdb.delete_scrape_session(db, b["id"]))["unbound_prompts"] == ["ask-b"]
    assert (await fdb.get_dataset(db, rid_b))["description"] == "deleted from ffui"
    assert await fdb.delete_scrape_session(db, b["id"]) is None
    assert await store.list_datasets(db) == []


def filling_rows(path, name):
    """The session row of dataset ``name`` as another process sees it (None: not there)."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT metadata_json FROM scrape_sessions WHERE name = ?", (name,)).fetchone()
    finally:
        conn.close()
    return None if row is None else json.loads(row[0])


async def test_a_merge_fills_through_the_fill_path_and_a_cancel_keeps_nothing(db, home, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(dataset_fill, "FILL_CHUNK_S", 0.05)
    await store.import_dataset(db, write_pairs(tmp_path / "a.jsonl", 1000), name="a")
    big = write_pairs(tmp_path / "big.jsonl", 200_000, start=1000)
    seen = []

    def progress(state):
        meta = filling_rows(home / "ffui.db", "m")
        if meta is not None:
            seen.append(meta)

    task = asyncio.ensure_future(store.merge(db, ["a", str(big)], name="m", progress=progress))
    for _ in range(3000):
        if seen and "filling" in seen[-1] or task.done():
            break
        await asyncio.sleep(0.01)
    assert not task.done(), "the merge finished before it could be looked at; make it bigger"
    assert seen[-1]["filling"]["pid"] > 0 and seen[-1]["registry_id"]
    assert [d["name"] for d in await store.list_datasets(db)] == ["a"]  # hidden while it fills
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert filling_rows(home / "ffui.db", "m") is None
    assert await fdb.get_dataset(db, seen[-1]["registry_id"]) is None
    done = await store.merge(db, ["a", str(write_pairs(tmp_path / "s.jsonl", 5))], name="m")
    assert done["rows"] == 1005 and "filling" not in filling_rows(home / "ffui.db", "m")


async def test_records_with_their_source_urls_fill_a_dataset(db):
    """What a scraper will hand the fill path: dicts, each with the page it came from."""
    records = ({"input": f"q{i}", "output": f"a{i}", "source_url": f"https://forum.example/t/{i}",
                "metadata": {"score": i}} for i in range(2500))
    out = await store.fill_dataset(db, name="forum", layout=Layout.default("input-output"),
                                   source="scrape", source_details="forum.example", meta={},
                                   registry={"description": "a forum"}, records=records)
    assert out["rows"] == 2500
    assert [d["rows"] for d in await store.list_datasets(db) if d["name"] == "forum"] == [2500]
    rec = (await store.page(db, "forum", limit=1, offset=2499))[0]
    assert (rec["input"], rec["source_url"], rec["metadata"]) == \
        ("q2499", "https://forum.example/t/2499", {"score": 2499})
    # an operation's copy keeps them
    await store.shuffle(db, "forum", name="forum-mixed", seed=1)
    urls = {r["source_url"] for r in await store.page(db, "forum-mixed", limit=2500)}
    assert len(urls) == 2500


async def test_a_dataset_left_filling_by_a_dead_process_goes_with_the_next_new_dataset(db, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owner = identity(dead.pid)
    finally:
        dead.kill()
        dead.wait()
    lay = Layout.default("input-output")
    common = dict(source="import", source_details=None, dataset_format=lay.format,
                  metadata={"layout": lay.to_dict()})
    sid = await fdb.create_filling_session(db, name="half", owner=owner,
                                           registry={"type": "ffui", "name": "half"}, **common)
    await fdb.fill_scraped_pairs(db, sid, [("q", "a", None, None)] * 10)
    live = await fdb.create_filling_session(db, name="busy", owner=identity(),
                                            registry={"type": "ffui", "name": "busy"}, **common)
    rid = json.loads((await fdb.get_scrape_session(db, sid))["metadata_json"])["registry_id"]
    assert await store.list_datasets(db) == []

    await store.import_dataset(db, write_pairs(tmp_path / "n.jsonl", 3), name="next")
    assert await fdb.get_scrape_session(db, sid) is None
    assert await fdb.count_pairs(db, sid) == 0 and await fdb.get_dataset(db, rid) is None
    assert await fdb.get_scrape_session(db, live) is not None  # its writer is alive: kept
    assert [d["name"] for d in await store.list_datasets(db)] == ["next"]


async def test_a_split_shows_all_its_parts_or_none(db, home, tmp_path, monkeypatch):
    """While a later part is copied the earlier ones stay hidden, and a cancel then removes them
    all (with their registry rows): never a train part without its validation part."""
    monkeypatch.setattr(dataset_fill, "FILL_CHUNK_S", 0.02)
    await store.import_dataset(db, write_pairs(tmp_path / "s.jsonl", 100_000), name="s")
    task = asyncio.ensure_future(store.split(db, "s", ratios="0.5,0.5"))
    for _ in range(3000):
        if filling_rows(home / "ffui.db", "s-validation") is not None or task.done():
            break
        await asyncio.sleep(0.01)
    assert not task.done(), "the split finished before it could be looked at; make it bigger"
    train = filling_rows(home / "ffui.db", "s-train")
    assert "filling" in train  # made, but hidden until its sibling is made too
    assert [d["name"] for d in await store.list_datasets(db)] == ["s"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert filling_rows(home / "ffui.db", "s-train") is None
    assert filling_rows(home / "ffui.db", "s-validation") is None
    assert await fdb.get_dataset(db, train["registry_id"]) is None
    done = await store.split(db, "s", ratios="0.5,0.5")
    assert [p["rows"] for p in done["parts"]] == [50_000, 50_000]
    assert [d["name"] for d in await store.list_datasets(db)] == ["s", "s-train", "s-validation"]
