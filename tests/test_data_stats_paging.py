"""Stats, paging of a large dataset, prompt templates, and the ffui data/prompts commands."""

import json
import statistics
import time

import pytest

from ffui.data import store
from ffui.data.errors import DataError
from ffui.data.prompts import render_training_line


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


# -- paging ------------------------------------------------------------------------------------

N = 200_000


@pytest.fixture
async def big(db, tmp_path):
    src = write_jsonl(tmp_path / "big.jsonl",
                      ({"input": f"q{i}", "output": f"a{i}"} for i in range(N)))
    states = []
    res = await store.import_dataset(db, src, name="big", progress=states.append)
    assert res["rows"] == N
    assert states and states[-1]["rows"] == N and states[-1]["unit"] == "bytes"
    assert states[-1]["done"] == states[-1]["total"] == src.stat().st_size
    return "big"


async def test_paging_large_dataset(db, big):
    assert await store.count(db, big) == N
    s = await store.resolve(db, big)
    for offset in (0, 1, 99_999, 150_000, N - 10):
        page = await store.page(db, s, limit=50, offset=offset)
        assert [r["input"] for r in page] == [f"q{i}" for i in range(offset, min(offset + 50, N))]
    assert await store.page(db, s, offset=N) == []
    first = await store.page(db, s, limit=3)
    nxt = await store.page(db, s, limit=3, after_id=first[-1]["id"])
    assert [r["input"] for r in nxt] == ["q3", "q4", "q5"]
    times = []
    for offset in range(0, N, N // 40):
        t0 = time.perf_counter()
        await store.page(db, s, limit=50, offset=offset)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    await store.page(db, s, limit=50, after_id=first[0]["id"] + 180_000)
    keyset = time.perf_counter() - t0
    print(f"page median {statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms, "
          f"keyset {keyset * 1000:.2f} ms")
    # (printed, not asserted: timings flake on shared machines; bench/data_import.py measures
    # paging at 1,000,000 rows against the issue's 5 ms and docs/benchmarks.md records it)
    assert await store.count(db, big) == N


async def test_paging_when_ids_are_not_contiguous(db):
    from ffui.db import add_scraped_pairs, create_scrape_session

    x = await create_scrape_session(db, "reddit", name="x")
    y = await create_scrape_session(db, "reddit", name="y")
    for i in range(30):
        await add_scraped_pairs(db, x, [{"input": f"x{i}", "output": "o"}])
        await add_scraped_pairs(db, y, [{"input": f"y{i}", "output": "o"}] * 2)
    page = await store.page(db, "x", limit=5, offset=12)
    assert [r["input"] for r in page] == [f"x{i}" for i in range(12, 17)]
    assert await store.count(db, "y") == 60
    # a scraper's dataset ("standard" format) exports as plain pairs
    rows = await store.page(db, "y", limit=2, offset=58)
    assert [r["input"] for r in rows] == ["y29", "y29"]


# -- stats -------------------------------------------------------------------------------------

async def test_stats_numbers(db, tmp_path):
    rows = [{"input": "ab", "output": "cdef"}, {"input": "ab", "output": "cdef"},
            {"input": "AB ", "output": "cdef"}, {"input": "", "output": "xyz"},
            {"input": "hello world", "output": "again and again"}]
    await store.import_dataset(db, write_jsonl(tmp_path / "s.jsonl", rows), name="s")
    st = await store.stats(db, "s")
    assert st["rows"] == 5
    assert st["chars"]["input"]["min"] == 0 and st["chars"]["input"]["max"] == 11
    assert st["chars"]["total"]["p50"] == 6
    assert st["duplicates"] == {"exact": 1, "near": 2, "near_means": st["duplicates"]["near_means"]}
    assert st["empty"]["input"] == 1 and st["empty"]["rows"] == 1
    assert sum(h["count"] for h in st["chars"]["total"]["histogram"]) == 5
    assert "turns" not in st


async def test_stats_chat_tokens_and_leakage(db, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", "hi", "there", "how", "are", "you", "fine"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    del tokenizers
    chats = [{"messages": [{"role": "user", "content": "hi there"},
                           {"role": "assistant", "content": "how are you"}]},
             {"messages": [{"role": "system", "content": "fine"},
                           {"role": "user", "content": "hi"},
                           {"role": "assistant", "content": "fine"},
                           {"role": "user", "content": "how are you"},
                           {"role": "assistant", "content": ""}]}] * 5
    await store.import_dataset(db, write_jsonl(tmp_path / "c.jsonl", chats), name="c")
    st = await store.stats(db, "c", tokenizer=str(tmp_path))
    assert st["turns"]["min"] == 2 and st["turns"]["max"] == 5
    assert st["tokens"]["total"]["min"] == 5 and st["tokens"]["total"]["max"] == 6
    assert st["empty"]["turn"] == 5
    assert st["duplicates"]["exact"] == 8
    await store.split(db, "c", ratios="0.6,0.4", seed=1)
    st = await store.stats(db, "c-train")
    assert st["leakage"]["c-validation"]["rows_also_there"] == 6  # duplicates leak across
    st = await store.stats(db, "c-train", against=["c"])
    assert st["leakage"]["c"]["rows_also_there"] == 6
    from ffui.data.stats import format_stats

    text = format_stats("c", st)
    assert "turns per conversation" in text and "leakage: 6 rows also in c" in text
    with pytest.raises(DataError, match="tokenizer"):
        await store.stats(db, "c", tokenizer=str(tmp_path / "nope"))


# -- prompts -----------------------------------------------------------------------------------

async def test_prompt_templates(db, tmp_path):
    rows = [{"instruction": "Translate", "input": "cat", "output": "chat"},
            {"instruction": "Say hi", "input": "", "output": "hi"}]
    await store.import_dataset(db, write_jsonl(tmp_path / "a.jsonl", rows), name="a")
    p = await store.add_prompt(db, "alpaca-style", "a",
                               input_template="### Instruction:\n{instruction}\n\n### Input:\n"
                                              "{input}\n\n### Response:\n",
                               completion_template="{output}")
    assert {"instruction", "input", "output"} <= set(p["fields"])
    out = await store.render_prompt_samples(db, "alpaca-style", n=2)
    assert out[0]["input"] == "### Instruction:\nTranslate\n\n### Input:\ncat\n\n### Response:\n"
    assert out[0]["completion"] == "chat" and out[0]["text"] == out[0]["input"] + "chat"
    with pytest.raises(DataError, match=r"unknown placeholder.*\{question\}"):
        await store.add_prompt(db, "bad", "a", input_template="{question}")
    with pytest.raises(DataError, match="exists already"):
        await store.add_prompt(db, "alpaca-style", "a")
    listed = await store.list_prompts(db)
    assert [(x["name"], x["dataset"]) for x in listed] == [("alpaca-style", "a")]
    # the trainer's view: the same rendering from the dataset.jsonl line
    await store.write_training_file(db, "a", tmp_path / "dataset.jsonl")
    line = json.loads((tmp_path / "dataset.jsonl").read_text().splitlines()[0])
    prompt = await store.get_prompt_by_name(db, "alpaca-style")
    assert render_training_line(line, prompt["input_template"], prompt["completion_template"]) == \
        (out[0]["input"], "chat")
    r = await store.remove(db, "a")
    assert r["unbound_prompts"] == ["alpaca-style"]
    assert (await store.get_prompt_by_name(db, "alpaca-style"))["dataset_id"] is None


# -- the commands ------------------------------------------------------------------------------

def test_cli(ffui, home, tmp_path):
    src = write_jsonl(tmp_path / "qa.jsonl",
                      [{"question": f"q{i}", "answer": f"a{i}"} for i in range(20)])
    r = ffui("data", "import", src, "--name", "qa", home=home)
    assert r.returncode == 0, r.stderr
    assert "imported 20 rows into qa (input-output" in r.stdout
    r = ffui("data", "list", home=home)
    assert "qa" in r.stdout and "20" in r.stdout
    r = ffui("data", "split", "qa", "--ratios", "0.5,0.5", "--seed", "3", home=home)
    assert "qa-train: 10 rows, qa-validation: 10 rows" in r.stdout, r.stderr
    r = ffui("data", "stats", "qa-train", "--json", home=home)
    st = json.loads(r.stdout)
    assert st["rows"] == 10 and st["leakage"]["qa-validation"]["rows_also_there"] == 0
    r = ffui("data", "export", "qa", tmp_path / "out.jsonl", home=home)
    assert r.returncode == 0 and (tmp_path / "out.jsonl").read_bytes() == src.read_bytes()
    r = ffui("prompts", "add", "p", "--dataset", "qa", "-i", "Q: {question}\\nA: ", "-c",
             "{answer}", home=home)
    assert r.returncode == 0, r.stderr
    r = ffui("prompts", "render", "p", home=home)
    assert "Q: q0\nA: " in r.stdout and "a0" in r.stdout
    # errors: one line on stderr, non-zero exit, nothing half-done
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "answer": "y"}\n{"question": \n')
    r = ffui("data", "import", bad, "--name", "bad", home=home)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "bad.jsonl, line 2" in r.stderr
    r = ffui("data", "import", bad, "--name", "bad", "--skip-bad", home=home)
    assert r.returncode == 0 and "left out 1 bad row:" in r.stderr
    r = ffui("data", "show", "nope", home=home)
    assert r.returncode != 0 and "no dataset named 'nope'" in r.stderr
