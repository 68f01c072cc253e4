"""Each format, from each file type, imports and exports back unchanged (turn for turn)."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ffui.data import store
from ffui.data.errors import DataError
from ffui.data.formats import Layout, detect_layout, normalise_row
from ffui.data.importer import preview_import
from ffui.data.training import export_for_training

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "",
     "output": "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Sleep well."},
    {"instruction": "Translate the sentence to French.", "input": "Good morning, friends!",
     "output": "Bonjour, les amis !"},
    {"instruction": "Summarise the text.", "input": "Ünïcödé text — with “quotes” and 日本語.",
     "output": "A short summary.", "category": "summarization"},
    {"instruction": "What is 2+2?", "input": "", "output": "4"},
]

SHAREGPT = [
    {"id": "conv-1", "conversations": [
        {"from": "system", "value": "You are a helpful assistant."},
        {"from": "human", "value": "Hi! Can you help me plan a trip?"},
        {"from": "gpt", "value": "Of course. Where would you like to go?"},
        {"from": "human", "value": "Kyoto, in April."},
        {"from": "gpt", "value": "April is cherry-blossom season; book early.", "weight": 1},
    ]},
    {"id": "conv-2", "conversations": [
        {"from": "human", "value": "Write a haiku about rain."},
        {"from": "gpt", "value": "Soft rain on the roof\nthe kettle hums its answer\nsteam curls into dusk"},
    ]},
    {"id": "conv-3", "conversations": [
        {"from": "user", "value": "Role names vary between datasets."},
        {"from": "assistant", "value": "And they come back as they were."},
    ]},
]

CHATML = [
    {"messages": [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "Rayleigh scattering favours short wavelengths."},
        {"role": "user", "content": "And sunsets?"},
        {"role": "assistant", "content": "Longer paths scatter the blue away, leaving red."},
    ]},
    {"messages": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "content": "{\"temp\": 18}", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "It is 18 °C in Paris."},
    ]},
    {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Describe this."}]},
        {"role": "assistant", "content": "A plain description."},
    ]},
]

IO = [
    {"prompt": "Capital of France?", "completion": "Paris"},
    {"prompt": "Capital of Japan?", "completion": "Tokyo", "source": "geo", "score": 0.9},
    {"prompt": "Largest planet?", "completion": "Jupiter"},
]

TEXT = [
    {"text": "Once upon a time there was a small model."},
    {"text": "It learned from plain text, one line at a time.\nEven with newlines."},
]

SAMPLES = {"alpaca": ALPACA, "sharegpt": SHAREGPT, "chatml": CHATML, "input-output": IO,
           "text": TEXT}
# Arrow needs one type per column: no mix of string and list content there
COLUMNAR = dict(SAMPLES, chatml=CHATML[:2])


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("fmt", list(SAMPLES))
async def test_jsonl_roundtrip_byte_for_byte(db, tmp_path, fmt):
    rows = SAMPLES[fmt]
    src = write_jsonl(tmp_path / f"{fmt}.jsonl", rows)
    res = await store.import_dataset(db, src, name=fmt)
    assert (res["format"], res["rows"], res["bad"]) == (fmt, len(rows), 0)
    out = tmp_path / f"{fmt}-out.jsonl"
    await store.export_dataset(db, fmt, out)
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("fmt", list(SAMPLES))
async def test_json_array_roundtrip(db, tmp_path, fmt):
    rows = SAMPLES[fmt]
    src = tmp_path / f"{fmt}.json"
    src.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    res = await store.import_dataset(db, src, name=fmt)
    assert (res["format"], res["rows"], res["kind"]) == (fmt, len(rows), "json")
    out = tmp_path / "out.jsonl"
    await store.export_dataset(db, fmt, out)
    assert read_jsonl(out) == rows
    assert [list(r) for r in read_jsonl(out)] == [list(r) for r in rows]  # key order too


async def test_a_json_object_wrapping_the_rows_imports_its_rows(db, tmp_path):
    """SQuAD-style {"version", "data": [...]}, a {"train", "test"} object, one pretty-printed row."""
    src = tmp_path / "squad.json"
    src.write_text(json.dumps({"version": "v2", "data": SAMPLES["input-output"]}, indent=2), encoding="utf-8")
    res = await store.import_dataset(db, src, name="wrapped")
    assert (res["format"], res["rows"], res["kind"]) == ("input-output", len(SAMPLES["input-output"]), "json")
    out = tmp_path / "out.jsonl"
    await store.export_dataset(db, "wrapped", out)
    assert read_jsonl(out) == SAMPLES["input-output"]

    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"train": ALPACA[:3], "test": ALPACA[3:]}), encoding="utf-8")
    with pytest.raises(DataError) as e:
        await store.import_dataset(db, splits, name="both")
    assert "'train', 'test'" in str(e.value) and "--split" in str(e.value)
    res = await store.import_dataset(db, splits, name="test-part", split="test")
    assert (res["format"], res["rows"]) == ("alpaca", 1)

    one = tmp_path / "one.json"
    one.write_text(json.dumps(CHATML[0], indent=2), encoding="utf-8")
    res = await store.import_dataset(db, one, name="one")
    assert (res["format"], res["rows"]) == ("chatml", 1)
    out = tmp_path / "one.jsonl"
    await store.export_dataset(db, "one", out)
    assert read_jsonl(out) == [CHATML[0]]


async def test_multiturn_stored_whole(db, tmp_path):
    await store.import_dataset(db, write_jsonl(tmp_path / "s.jsonl", SHAREGPT), name="s")
    page = await store.page(db, "s", limit=10)
    first = page[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant", "user",
                                                      "assistant"]
    assert first["input"] == "Kyoto, in April."
    assert first["output"] == "April is cherry-blossom season; book early."
    assert first["messages"][4]["weight"] == 1
    # chatml export: the same turns, OpenAI roles
    out = tmp_path / "chat.jsonl"
    await store.export_dataset(db, "s", out, shape="chatml")
    got = read_jsonl(out)
    assert [len(r["messages"]) for r in got] == [5, 2, 2]
    assert got[0]["messages"][1] == {"role": "user", "content": "Hi! Can you help me plan a trip?"}


@pytest.mark.parametrize("fmt,delim", [("alpaca", ","), ("input-output", "\t"), ("text", ","),
                                       ("alpaca", ";")])  # ';': spreadsheets in many locales
async def test_csv_tsv_roundtrip(db, tmp_path, fmt, delim):
    rows = [{k: str(v) for k, v in r.items()} for r in SAMPLES[fmt]]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    rows = [{c: r.get(c, "") for c in cols} for r in rows]  # CSV: every row has every column
    src = tmp_path / ("data.tsv" if delim == "\t" else "data.csv")
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, delimiter=delim)
        w.writeheader()
        w.writerows(rows)
    res = await store.import_dataset(db, src, name="c")
    assert (res["format"], res["rows"]) == (fmt, len(rows))
    out = tmp_path / "out.jsonl"
    await store.export_dataset(db, "c", out)
    assert read_jsonl(out) == rows


COMPRESSORS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
@pytest.mark.parametrize("inner,fmt", [(".jsonl", "sharegpt"), (".json", "chatml"), (".csv", "alpaca")])
async def test_compressed_files_import_as_they_are(db, tmp_path, suffix, inner, fmt):
    """Hub and Kaggle datasets often come as .jsonl.gz, .json.bz2, .csv.xz: read without unpacking."""
    import importlib

    rows = SAMPLES[fmt]
    plain = tmp_path / f"data{inner}"
    if inner == ".jsonl":
        write_jsonl(plain, rows)
    elif inner == ".json":
        plain.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    else:
        rows = [{k: str(r.get(k, "")) for k in ("instruction", "input", "output")} for r in rows]
        with open(plain, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    src = tmp_path / f"data{inner}{suffix}"
    src.write_bytes(importlib.import_module(COMPRESSORS[suffix]).compress(plain.read_bytes()))
    preview = preview_import(str(src), n=2)
    assert preview["format"] == fmt and len(preview["rows"]) == 2
    res = await store.import_dataset(db, src, name="z")
    assert (res["format"], res["rows"], res["bad"]) == (fmt, len(rows), 0)
    out = tmp_path / "out.jsonl"
    await store.export_dataset(db, "z", out)
    assert read_jsonl(out) == rows
    if inner == ".jsonl":
        assert out.read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("fmt", list(SAMPLES))
async def test_parquet_roundtrip(db, tmp_path, fmt):
    table = pa.Table.from_pylist(COLUMNAR[fmt])
    src = tmp_path / "data.parquet"
    pq.write_table(table, src)
    res = await store.import_dataset(db, src, name="p")
    assert (res["format"], res["rows"], res["kind"]) == (fmt, table.num_rows, "parquet")
    out = tmp_path / "out.parquet"
    await store.export_dataset(db, "p", out, fmt="parquet")
    assert pq.read_table(out).to_pylist() == table.to_pylist()


async def test_parquet_export_writes_row_groups_readers_expect(db, tmp_path, monkeypatch):
    """10,000 rows are one row group (they were five of 2,048: slow for every Parquet reader),
    and a group still ends at ROW_GROUP_ROWS, so a big export never holds the whole table."""
    from ffui.data import writers

    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(10_000)))
    await store.import_dataset(db, src, name="pairs")
    out = tmp_path / "one.parquet"
    await store.export_dataset(db, "pairs", out, fmt="parquet")
    meta = pq.ParquetFile(out).metadata
    assert (meta.num_row_groups, meta.num_rows) == (1, 10_000)
    monkeypatch.setattr(writers, "ROW_GROUP_ROWS", 4096)
    out = tmp_path / "three.parquet"
    await store.export_dataset(db, "pairs", out, fmt="parquet")
    f = pq.ParquetFile(out)
    assert [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)] == [4096, 4096, 1808]
    assert f.read().column("output").to_pylist() == [f"a{i}" for i in range(10_000)]


async def test_a_downloaded_hub_repo_folder_imports_its_split(db, tmp_path):
    """A dataset repo as `huggingface-cli download` or `git clone` leaves it: data files named by
    split (sharded parquet, a compressed JSONL), a README, a .git folder."""
    import gzip

    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "objects" / "stray.jsonl").write_text('{"not": "data"}\n')
    (repo / "README.md").write_text("---\nlicense: mit\n---\n")
    (repo / "dataset_infos.json").write_text('{"default": {"features": {}}}')  # older repos describe themselves
    rows = COLUMNAR["chatml"] * 3
    pq.write_table(pa.Table.from_pylist(rows[:4]), repo / "data" / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[4:]), repo / "data" / "train-00001-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:1]), repo / "data" / "test-00000-of-00001.parquet")
    (repo / "data" / "validation.jsonl.gz").write_bytes(gzip.compress(
        "".join(json.dumps(r) + "\n" for r in rows[1:3]).encode()))

    p = preview_import(str(repo), n=2)
    assert (p["kind"], p["format"], p["total"]) == ("files", "chatml", len(rows))
    res = await store.import_dataset(db, repo, name="train")
    assert (res["rows"], res["format"], res["kind"]) == (len(rows), "chatml", "files")
    await store.export_dataset(db, "train", tmp_path / "train.jsonl")
    assert read_jsonl(tmp_path / "train.jsonl") == rows  # shard after shard, in order
    assert (await store.import_dataset(db, repo, name="test", split="test"))["rows"] == 1
    assert (await store.import_dataset(db, repo, name="dev", split="dev"))["rows"] == 2  # dev = validation
    assert (await store.show(db, "dev"))["origin"]["split"] == "validation"

    with pytest.raises(DataError, match="no split named 'holdout'.*train, test, validation"):
        await store.import_dataset(db, repo, name="x", split="holdout")
    (repo / "data" / "train-00001-of-00002.parquet").unlink()
    (repo / "data" / "train-00001-of-00002.jsonl").write_text(json.dumps(rows[4]) + "\n" + '{"messages": [\n')
    with pytest.raises(DataError) as ei:
        await store.import_dataset(db, repo, name="y")
    assert "data/train-00001-of-00002.jsonl, line 2" in str(ei.value) and "malformed JSON" in str(ei.value)
    assert await db.scalar("SELECT COUNT(*) FROM scrape_sessions WHERE name = 'y'") == 0
    docs = tmp_path / "docs-only"
    (docs / "docs").mkdir(parents=True)
    (docs / "docs" / "notes.md").write_text("hi")  # only documents: a text dataset (objective=pretrain)
    res = await store.import_dataset(db, docs, name="z")
    assert (res["rows"], res["format"]) == (1, "text")
    empty = tmp_path / "empty"
    (empty / "docs").mkdir(parents=True)
    (empty / "docs" / ".hidden.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(DataError, match="no data files"):
        await store.import_dataset(db, empty, name="w")


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "chatml"])
async def test_save_to_disk_folder_roundtrip(db, tmp_path, fmt):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(COLUMNAR[fmt])
    ds.save_to_disk(str(tmp_path / "in"))
    res = await store.import_dataset(db, tmp_path / "in", name="h")
    assert (res["format"], res["rows"], res["kind"]) == (fmt, len(ds), "hf")
    await store.export_dataset(db, "h", tmp_path / "out", fmt="hf")
    back = datasets.load_from_disk(str(tmp_path / "out"))
    assert back.to_list() == ds.to_list()
    # a DatasetDict folder: --split picks one
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "dd"))
    res = await store.import_dataset(db, tmp_path / "dd", name="dd-test", split="test")
    assert res["rows"] == 1


async def test_export_hf_opens_with_load_from_disk_in_chatml(db, tmp_path):
    datasets = pytest.importorskip("datasets")
    await store.import_dataset(db, write_jsonl(tmp_path / "a.jsonl", ALPACA), name="a")
    await store.export_dataset(db, "a", tmp_path / "hf", fmt="hf", shape="chatml")
    back = datasets.load_from_disk(str(tmp_path / "hf"))
    assert len(back) == len(ALPACA)
    assert back[1]["messages"] == [
        {"role": "user", "content": "Translate the sentence to French.\n\nGood morning, friends!"},
        {"role": "assistant", "content": "Bonjour, les amis !"}]


async def test_mapping_and_forced_format(db, tmp_path):
    rows = [{"q": "Why?", "a": "Because.", "meta": 1}, {"q": "How?", "a": "Like so.", "meta": 2}]
    src = write_jsonl(tmp_path / "qa.jsonl", rows)
    res = await store.import_dataset(db, src, name="qa", mapping=["input=q", "output=a"])
    assert res["format"] == "input-output"
    page = await store.page(db, "qa")
    assert (page[0]["input"], page[0]["output"]) == ("Why?", "Because.")
    await store.export_dataset(db, "qa", tmp_path / "o.jsonl")
    assert read_jsonl(tmp_path / "o.jsonl") == rows
    # an alpaca file read as plain pairs with a mapping
    src2 = write_jsonl(tmp_path / "al.jsonl", ALPACA[:2])
    res = await store.import_dataset(db, src2, name="al", fmt="input-output",
                                     mapping=["input=instruction"])
    assert res["format"] == "input-output"


def test_detection_of_each_format():
    for fmt, rows in SAMPLES.items():
        assert detect_layout(rows).format == fmt
    lay = detect_layout([{"question": "a", "answer": "b"}])
    assert (lay.format, lay.columns) == ("input-output", {"input": "question", "output": "answer"})
    lay = detect_layout([{"instruction": "i", "context": "c", "response": "r", "category": "x"}])
    assert lay.format == "alpaca" and lay.columns["input"] == "context"  # dolly-style


def test_canonical_record_mapping():
    lay = detect_layout(ALPACA)
    rec = normalise_row(ALPACA[1], lay)
    assert rec == {"input": "Translate the sentence to French.\n\nGood morning, friends!",
                   "output": "Bonjour, les amis !", "messages": None,
                   "metadata": {"instruction_chars": 33}}
    rec = normalise_row(CHATML[0], detect_layout(CHATML))
    assert rec["input"] == "And sunsets?" and rec["messages"] == CHATML[0]["messages"]
    assert rec["metadata"] is None


def test_export_for_training_shapes():
    lay = detect_layout(ALPACA)
    recs = [normalise_row(r, lay) for r in ALPACA[:2]]
    lines = [json.loads(x) for x in export_for_training(recs, lay)]
    assert lines[1] == {"input": "Translate the sentence to French.\n\nGood morning, friends!",
                        "output": "Bonjour, les amis !",
                        "fields": ALPACA[1]}
    chat = [normalise_row(r, detect_layout(SHAREGPT)) for r in SHAREGPT]
    lines = [json.loads(x) for x in export_for_training(chat, detect_layout(SHAREGPT))]
    assert [len(x["messages"]) for x in lines] == [5, 2, 2]
    assert lines[0]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    text = [normalise_row(r, detect_layout(TEXT)) for r in TEXT]
    assert [json.loads(x) for x in export_for_training(text, "text")] == TEXT


async def test_write_training_file(db, tmp_path):
    await store.import_dataset(db, write_jsonl(tmp_path / "c.jsonl", CHATML), name="c")
    res = await store.write_training_file(db, "c", tmp_path / "dataset.jsonl")
    assert res["rows"] == 3 and res["kinds"]["messages"] == 3
    assert [r["messages"] for r in read_jsonl(tmp_path / "dataset.jsonl")] == \
        [r["messages"] for r in CHATML]


async def test_a_system_prompt_column_leads_the_conversation_in_training_and_chatml(db, tmp_path):
    """sharegpt exports with a top-level "system", OpenOrca's "system_prompt" beside a pair: stored
    as they came, and the model is trained with them as the first turn."""
    sharegpt = [{"system": "Answer in French.", "conversations": [
        {"from": "human", "value": "Hello"}, {"from": "gpt", "value": "Bonjour"}]},
        {"system": "Ignored: the conversation has its own.", "conversations": [
            {"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hey"}]}]
    orca = [{"id": "t0.1", "system_prompt": "Think step by step.", "question": "2+2?", "response": "4"},
            {"id": "t0.2", "system_prompt": "", "question": "3+3?", "response": "6"}]
    await store.import_dataset(db, write_jsonl(tmp_path / "sg.jsonl", sharegpt), name="sg")
    await store.import_dataset(db, write_jsonl(tmp_path / "orca.jsonl", orca), name="orca")

    await store.write_training_file(db, "sg", tmp_path / "sg-train.jsonl")
    first, second = read_jsonl(tmp_path / "sg-train.jsonl")
    assert first["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant"]
    assert second["messages"][0]["content"] == "Be brief."
    await store.write_training_file(db, "orca", tmp_path / "orca-train.jsonl")
    lines = read_jsonl(tmp_path / "orca-train.jsonl")
    assert (lines[0]["system"], lines[0]["input"], lines[0]["output"]) == ("Think step by step.", "2+2?", "4")
    assert "system" not in lines[1]  # an empty column is no system prompt

    await store.export_dataset(db, "orca", tmp_path / "orca-chat.jsonl", shape="chatml")
    assert read_jsonl(tmp_path / "orca-chat.jsonl")[0]["messages"] == [
        {"role": "system", "content": "Think step by step."}, {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"}]
    await store.export_dataset(db, "sg", tmp_path / "sg-out.jsonl")  # its own format: unchanged
    assert read_jsonl(tmp_path / "sg-out.jsonl") == sharegpt


def test_preview_writes_nothing(tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", ALPACA)
    p = preview_import(src, n=2)
    assert p["format"] == "alpaca" and p["kind"] == "jsonl" and len(p["records"]) == 2
    assert p["columns"] == ["instruction", "input", "output"]


def test_layout_roundtrip_dict():
    lay = detect_layout(IO)
    assert Layout.from_dict(lay.to_dict()) == lay
    assert Layout.from_dict(None, "standard").format == "input-output"
