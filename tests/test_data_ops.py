"""merge / dedupe / filter / split / sample / shuffle: exact counts, sources untouched."""

import hashlib
import json

import pytest

from ffui.data import store
from ffui.data.errors import DataError
from ffui.data.ops import split_counts


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


async def fingerprint(db, name):
    """(row count, pair_count, hash of every stored row) of a dataset."""
    s = await store.resolve(db, name)
    h = hashlib.sha256()
    for r in await db.fetchall("SELECT id, input_text, output_text, messages_json, metadata_json "
                               "FROM scraped_pairs WHERE session_id = ? ORDER BY id", (s["id"],)):
        h.update(json.dumps(r).encode())
    n = await db.scalar("SELECT COUNT(*) FROM scraped_pairs WHERE session_id = ?", (s["id"],))
    return n, s["pair_count"], h.hexdigest(), s["metadata_json"]


# 10 rows: rows 8 and 9 repeat rows 0 and 1 exactly; row 7 is row 2 up to case and whitespace
PAIRS = [{"input": f"Question number {i}?", "output": f"Answer {i}."} for i in range(7)]
PAIRS += [{"input": "  QUESTION number 2? ", "output": "answer   2."}, PAIRS[0], PAIRS[1]]


@pytest.fixture
async def a(db, tmp_path):
    await store.import_dataset(db, write_jsonl(tmp_path / "a.jsonl", PAIRS), name="a")
    return "a"


async def test_dedupe_exact_and_normalised(db, a):
    before = await fingerprint(db, a)
    r = await store.dedupe(db, a)
    assert (r["name"], r["rows"], r["removed"]) == ("a-dedupe", 8, 2)
    r = await store.dedupe(db, a, name="a-norm", normalised=True)
    assert (r["rows"], r["removed"]) == (7, 3)
    kept = [p["input"] for p in await store.page(db, "a-norm", limit=50)]
    assert kept == [p["input"] for p in PAIRS[:7]]  # first occurrences, in order
    assert await fingerprint(db, a) == before


async def test_dedupe_ignores_extra_columns_but_not_turns(db, tmp_path):
    chat = [{"id": i, "messages": [{"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": "hello"}]} for i in range(3)]
    chat.append({"id": 9, "messages": [{"role": "user", "content": "hi"},
                                       {"role": "assistant", "content": "hello"},
                                       {"role": "user", "content": "more"},
                                       {"role": "assistant", "content": "sure"}]})
    await store.import_dataset(db, write_jsonl(tmp_path / "c.jsonl", chat), name="c")
    r = await store.dedupe(db, "c")
    assert (r["rows"], r["removed"]) == (2, 2)
    # a system prompt in a column is trained as the first turn: it tells rows apart
    pairs = [{"id": i, "system_prompt": sp, "question": "2+2?", "response": "4"}
             for i, sp in enumerate(["Be brief.", "Be brief.", "Explain.", ""])]
    await store.import_dataset(db, write_jsonl(tmp_path / "p.jsonl", pairs), name="p")
    r = await store.dedupe(db, "p")
    assert (r["rows"], r["removed"]) == (3, 1)


async def test_merge_concat_interleave_files_and_mapping(db, a, tmp_path):
    b_rows = [{"input": f"b{i}", "output": f"B{i}"} for i in range(5)]
    await store.import_dataset(db, write_jsonl(tmp_path / "b.jsonl", b_rows), name="b")
    f_rows = [{"q": f"f{i}", "ans": f"F{i}"} for i in range(3)]
    f = write_jsonl(tmp_path / "f.jsonl", f_rows)
    before = (await fingerprint(db, "a"), await fingerprint(db, "b"))
    r = await store.merge(db, ["a", "b", str(f)], name="m", mapping=["input=q", "output=ans"])
    assert (r["rows"], r["format"]) == (18, "input-output")
    ins = [p["input"] for p in await store.page(db, "m", limit=100)]
    assert ins == [p["input"] for p in PAIRS] + [x["input"] for x in b_rows] + ["f0", "f1", "f2"]
    r = await store.merge(db, ["b", str(f)], name="mi", interleave_rows=True,
                          mapping=["input=q", "output=ans"])
    ins = [p["input"] for p in await store.page(db, "mi", limit=100)]
    assert ins == ["b0", "f0", "b1", "f1", "b2", "f2", "b3", "b4"]
    assert (await fingerprint(db, "a"), await fingerprint(db, "b")) == before
    with pytest.raises(DataError, match="neither a dataset nor a file"):
        await store.merge(db, ["a", "nope"], name="x")


async def test_merge_mixed_formats_becomes_chatml(db, a, tmp_path):
    sg = [{"conversations": [{"from": "human", "value": "hey"}, {"from": "gpt", "value": "yo"},
                             {"from": "human", "value": "bye"}, {"from": "gpt", "value": "cya"}]}]
    await store.import_dataset(db, write_jsonl(tmp_path / "s.jsonl", sg), name="s")
    r = await store.merge(db, ["s", "a"], name="mix")
    assert (r["rows"], r["format"]) == (11, "chatml")
    await store.export_dataset(db, "mix", tmp_path / "mix.jsonl")
    out = [json.loads(x) for x in (tmp_path / "mix.jsonl").read_text().splitlines()]
    assert len(out[0]["messages"]) == 4
    assert out[1] == {"messages": [{"role": "user", "content": PAIRS[0]["input"]},
                                   {"role": "assistant", "content": PAIRS[0]["output"]}]}


async def test_filter_lengths_and_empty(db, tmp_path):
    rows = [{"input": "x" * n, "output": "y" * n} for n in range(1, 11)]  # total 2..20
    rows += [{"input": "", "output": "only output"}, {"input": "only input", "output": "  "}]
    await store.import_dataset(db, write_jsonl(tmp_path / "l.jsonl", rows), name="l")
    before = await fingerprint(db, "l")
    r = await store.filter_dataset(db, "l", min_chars=6, max_chars=14)
    assert r["rows"] == 7  # totals 6, 8, 10, 12, 14 and the two odd rows (11 and 12 chars)
    r = await store.filter_dataset(db, "l", name="l-in", field="input", max_chars=3)
    assert r["rows"] == 4  # inputs of length 1, 2, 3 and the empty one
    r = await store.filter_dataset(db, "l", name="l-ne", drop_empty=True)
    assert (r["rows"], r["removed"]) == (10, 2)
    assert await fingerprint(db, "l") == before
    with pytest.raises(DataError, match="no filter"):
        await store.filter_dataset(db, "l", name="l-x")


async def test_split_exact_counts_seeded_and_disjoint(db, tmp_path):
    rows = [{"input": f"q{i}", "output": f"a{i}"} for i in range(101)]
    await store.import_dataset(db, write_jsonl(tmp_path / "s.jsonl", rows), name="s")
    before = await fingerprint(db, "s")
    r = await store.split(db, "s", ratios="0.8,0.1,0.1", seed=7)
    assert [(p["name"], p["rows"]) for p in r["parts"]] == [
        ("s-train", 81), ("s-validation", 10), ("s-test", 10)]
    parts = {}
    for p in r["parts"]:
        parts[p["part"]] = [x["input"] for x in await store.page(db, p["name"], limit=500)]
    allrows = sorted(sum(parts.values(), []))
    assert allrows == sorted(x["input"] for x in rows)  # disjoint, complete
    assert parts["train"] == sorted(parts["train"], key=lambda s: int(s[1:]))  # source order
    await store.split(db, "s", ratios="80,10,10", seed=7, prefix="again")
    assert [x["input"] for x in await store.page(db, "again-test", limit=50)] == parts["test"]
    r3 = await store.split(db, "s", ratios="0.5,0.5", seed=8, prefix="two")
    assert [p["rows"] for p in r3["parts"]] == [51, 50]
    assert await fingerprint(db, "s") == before
    st = await store.stats(db, "s-train")
    assert st["leakage"] == {"s-validation": {"rows_also_there": 0},
                             "s-test": {"rows_also_there": 0}}
    with pytest.raises(DataError, match="exists already"):
        await store.split(db, "s", seed=1)


def test_split_counts_largest_remainder():
    assert split_counts(10, [0.8, 0.1, 0.1]) == [8, 1, 1]
    assert split_counts(7, [0.5, 0.5]) == [4, 3]
    assert split_counts(1000003, [0.8, 0.1, 0.1]) == [800003, 100000, 100000]
    assert sum(split_counts(99, [1 / 3] * 3)) == 99


async def test_sample_and_shuffle(db, tmp_path):
    rows = [{"input": f"q{i}", "output": f"a{i}"} for i in range(100)]
    await store.import_dataset(db, write_jsonl(tmp_path / "s.jsonl", rows), name="s")
    before = await fingerprint(db, "s")
    r = await store.sample(db, "s", n=7, seed=3)
    assert r["rows"] == 7
    got = [x["input"] for x in await store.page(db, "s-sample", limit=50)]
    assert got == sorted(got, key=lambda s: int(s[1:]))
    r = await store.sample(db, "s", name="quarter", fraction=0.25, seed=3)
    assert r["rows"] == 25
    r = await store.sample(db, "s", name="all", n=1000)
    assert r["rows"] == 100
    r = await store.shuffle(db, "s", seed=5)
    got = [x["input"] for x in await store.page(db, "s-shuffled", limit=500)]
    assert sorted(got) == sorted(x["input"] for x in rows) and got != [x["input"] for x in rows]
    r = await store.shuffle(db, "s", name="s2", seed=5)
    assert [x["input"] for x in await store.page(db, "s2", limit=500)] == got
    assert await fingerprint(db, "s") == before


async def test_ops_keep_format_and_round_trip(db, tmp_path):
    rows = [{"instruction": f"Do {i}", "input": "ctx" if i % 2 else "", "output": f"done {i}",
             "tag": i} for i in range(10)]
    src = write_jsonl(tmp_path / "al.jsonl", rows)
    await store.import_dataset(db, src, name="al")
    await store.sample(db, "al", name="al-all", n=10)
    await store.export_dataset(db, "al-all", tmp_path / "back.jsonl")
    assert (tmp_path / "back.jsonl").read_bytes() == src.read_bytes()


async def test_rm_and_registry(db, a, tmp_path):
    info = await store.show(db, a)
    rid = info["registry_id"]
    reg = await db.fetchone("SELECT * FROM datasets WHERE id = ?", (rid,))
    assert reg["type"] == "local" and reg["name"] == "a" and reg["location"].endswith("a.jsonl")
    await store.dedupe(db, a)
    r = await store.remove(db, a)
    assert r["rows"] == 10
    assert await db.fetchone("SELECT * FROM datasets WHERE id = ?", (rid,)) is None
    assert await db.scalar("SELECT COUNT(*) FROM scraped_pairs WHERE session_id = ?",
                           (info["id"],)) == 0
    assert (await store.count(db, "a-dedupe")) == 8  # derived datasets stay
    with pytest.raises(DataError, match="no dataset named"):
        await store.page(db, "a")


def test_removing_a_dataset_or_a_run_asks_first_and_a_script_must_say_yes(tmp_path, ffui):
    home = tmp_path / "home"
    home.mkdir()
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(3)))
    assert ffui("data", "import", src, "--name", "keep", home=home).returncode == 0
    r = ffui("data", "rm", "keep", home=home, input="")  # not a terminal: no prompt to answer
    assert r.returncode == 1 and "--yes" in r.stderr and "3 rows" in r.stderr
    assert "keep" in ffui("data", "list", home=home).stdout
    r = ffui("data", "rm", "keep", "--yes", home=home, input="")
    assert r.returncode == 0 and "removed keep (3 rows)" in r.stdout
    assert "keep" not in ffui("data", "list", home=home).stdout
