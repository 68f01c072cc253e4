"""Bad input: a clear error naming the file and line/row, and nothing written; --skip-bad."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ffui.data import store
from ffui.data.errors import DataError

GOOD = [{"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."} for i in range(6)]


def lines(rows):
    return [json.dumps(r, ensure_ascii=False).encode() for r in rows]


def write(path, chunks):
    path.write_bytes(b"\n".join(chunks) + b"\n")
    return path


async def snapshot(db):
    return (await db.scalar("SELECT COUNT(*) FROM scrape_sessions"),
            await db.scalar("SELECT COUNT(*) FROM scraped_pairs"),
            await db.scalar("SELECT COUNT(*) FROM datasets"))


async def rejects(db, path, *where, **kw):
    before = await snapshot(db)
    with pytest.raises(DataError) as ei:
        await store.import_dataset(db, path, name="bad", **kw)
    msg = str(ei.value)
    assert "\n" not in msg
    assert os.path.basename(str(path)) in msg, msg
    for w in where:
        assert w in msg, msg
    assert await snapshot(db) == before, "something was written"
    return msg


async def test_malformed_json_line(db, tmp_path):
    p = write(tmp_path / "a.jsonl", lines(GOOD[:2]) + [b'{"instruction": "x", "output": '] +
              lines(GOOD[2:]))
    await rejects(db, p, "line 3", "malformed JSON", "--skip-bad")


async def test_wrong_encoding(db, tmp_path):
    p = write(tmp_path / "latin1.jsonl", lines(GOOD[:1]) +
              ['{"instruction": "café", "input": "", "output": "x"}'.encode("latin-1")])
    await rejects(db, p, "line 2", "UTF-8")
    u16 = tmp_path / "u16.jsonl"
    u16.write_bytes(b"\n".join(lines(GOOD)).decode().encode("utf-16"))
    await rejects(db, u16, "UTF-16")


async def test_missing_field(db, tmp_path):
    p = write(tmp_path / "m.jsonl", lines(GOOD[:3]) +
              lines([{"instruction": "no answer here", "input": ""}]) + lines(GOOD[3:]))
    await rejects(db, p, "line 4", "missing field 'output'")


async def test_empty_files(db, tmp_path):
    for name, data in (("e.jsonl", b""), ("ws.jsonl", b"\n\n  \n"), ("e.csv", b""),
                       ("e.json", b"[]"), ("h.csv", b"instruction,output\n")):
        p = tmp_path / name
        p.write_bytes(data)
        await rejects(db, p, "empty" if data.strip() not in (b"[]", b"instruction,output") else "no")


async def test_fifty_megabyte_field(db, tmp_path):
    huge = {"instruction": "summarise", "input": "", "output": "x" * 50_000_000}
    p = write(tmp_path / "big.jsonl", lines(GOOD[:1]) + lines([huge]) + lines(GOOD[1:]))
    await rejects(db, p, "line 2", "MB", "'output'")


async def test_binary_data(db, tmp_path):
    p = tmp_path / "blob.jsonl"
    p.write_bytes(bytes(range(256)) * 64)
    await rejects(db, p, "binary")
    p = write(tmp_path / "nul.jsonl", lines(GOOD[:2]) + [b'{"instruction": "a\x00b"}'])
    await rejects(db, p, "line 3", "binary")
    c = tmp_path / "nul.csv"
    c.write_bytes(b"instruction,output\nhello,world\nbad\x00row,x\n")
    await rejects(db, c, "line 3", "binary")


async def test_wrong_column_mapping(db, tmp_path):
    p = write(tmp_path / "qa.jsonl", lines([{"question": "q", "answer": "a"}] * 3))
    msg = await rejects(db, p, "line 1", "'answr'", mapping=["input=question", "output=answr"])
    assert "question" in msg and "answer" in msg  # lists the real columns
    with pytest.raises(DataError, match="unknown field"):
        await store.import_dataset(db, p, name="x", mapping=["bogus=question"])


async def test_unknown_shape_and_wrong_types(db, tmp_path):
    p = write(tmp_path / "odd.jsonl", lines([{"a": 1, "b": 2}]))
    await rejects(db, p, "line 1", "cannot tell the format", "--format")
    p = write(tmp_path / "arr.jsonl", lines(GOOD[:1]) + [b"[1, 2, 3]"])
    await rejects(db, p, "line 2", "JSON object")
    p = write(tmp_path / "nested.jsonl", lines(GOOD[:1]) +
              lines([{"instruction": {"a": 1}, "input": "", "output": "x"}]))
    await rejects(db, p, "line 2", "must be text")
    chat = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant",
                                                              "content": "yo"}]}]
    p = write(tmp_path / "chat.jsonl", lines(chat) + lines([{"messages": [{"content": "x"}]}]))
    await rejects(db, p, "line 2", "turn 1", "'role'")
    p = write(tmp_path / "chat2.jsonl", lines(chat) + lines([{"messages": []}]))
    await rejects(db, p, "line 2", "no turns")


async def test_json_array_errors(db, tmp_path):
    p = tmp_path / "a.json"
    p.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c" "output": 1}\n]')
    await rejects(db, p, "line 3", "malformed JSON")
    p.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c"}\n]')
    await rejects(db, p, "line 3", "missing field")
    p.write_text('[\n  {"instruction": "a", "output": "b"},\n')
    await rejects(db, p, "cut off")


async def test_csv_errors(db, tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("instruction,input,output\na,b,c\nd,e,f,g\n")
    await rejects(db, p, "line 3", "4 fields", "header has 3")
    p.write_bytes(b"instruction,input,output\na,b,c\ncaf\xe9,x,y\n")
    await rejects(db, p, "line 3", "UTF-8")


async def test_damaged_parquet_and_folder(db, tmp_path):
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD), p)
    data = p.read_bytes()
    p.write_bytes(data[:4] + b"\x00" * 40 + data[44:len(data) // 2])
    await rejects(db, p, "Parquet")
    folder = tmp_path / "notds"
    folder.mkdir()
    await rejects(db, folder, "save_to_disk")


async def test_damaged_or_unsupported_compressed_files(db, tmp_path):
    import gzip
    import lzma

    data = b"\n".join(lines(GOOD * 2000)) + b"\n"
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(data)[:3000])  # a download that stopped
    await rejects(db, cut, "cannot decompress the gzip file", "cut short")
    await rejects(db, cut, "cannot decompress", skip_bad=True)  # not a bad row: the file is broken
    fake = tmp_path / "plain.jsonl.xz"
    fake.write_bytes(data)  # named .xz, not compressed
    await rejects(db, fake, "cannot decompress the xz file")
    bad_row = tmp_path / "bad.jsonl.xz"
    bad_row.write_bytes(lzma.compress(b"\n".join(lines(GOOD[:2]) + [b"{broken"] + lines(GOOD[2:])) + b"\n"))
    await rejects(db, bad_row, "line 3", "malformed JSON")  # lines count in the decompressed text
    for name, tool in (("a.jsonl.zst", "zstd -d a.jsonl.zst"), ("b.zip", "unzip b.zip")):
        p = tmp_path / name
        p.write_bytes(b"\x28\xb5\x2f\xfd" + os.urandom(64))
        await rejects(db, p, "does not unpack", tool)
    parquet_gz = tmp_path / "d.parquet.gz"
    buf = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD), buf)
    parquet_gz.write_bytes(gzip.compress(buf.read_bytes()))
    await rejects(db, parquet_gz, "decompress it first")


async def test_missing_file_and_hub_offline(db, tmp_path, monkeypatch):
    await rejects(db, tmp_path / "nope.jsonl", "no such file")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = await rejects(db, "someone/some-dataset", "hub")
    assert "import" in msg


async def test_bad_row_at_the_end_rolls_back_everything(db, tmp_path):
    rows = [{"input": f"q{i}", "output": f"a{i}"} for i in range(20_000)]
    p = write(tmp_path / "late.jsonl", lines(rows) + [b'{"input": "q", "output": 5, "x": ]'])
    await rejects(db, p, "line 20001")


async def test_name_taken_and_bad_names(db, tmp_path):
    p = write(tmp_path / "a.jsonl", lines(GOOD))
    await store.import_dataset(db, p, name="a")
    before = await snapshot(db)
    with pytest.raises(DataError, match="exists already"):
        await store.import_dataset(db, p, name="a")
    for bad in ("", "12", "a/b", "#x"):
        with pytest.raises(DataError):
            await store.import_dataset(db, p, name=bad)
    assert await snapshot(db) == before


async def test_skip_bad_counts_reports_and_keeps_the_rest(db, tmp_path):
    chunks = (lines(GOOD[:2]) + [b"{not json"] + lines(GOOD[2:4]) +
              lines([{"instruction": "missing output"}]) + ['{"instruction": "café", "output": "x"}'
                                                           .encode("latin-1")] +
              [b""] + lines(GOOD[4:]))
    p = write(tmp_path / "mixed.jsonl", chunks)
    res = await store.import_dataset(db, p, name="mixed", skip_bad=True)
    assert (res["rows"], res["bad"]) == (6, 3)
    assert [b.split(":")[0] for b in res["bad_examples"]] == ["line 3", "line 6", "line 7"]
    page = await store.page(db, "mixed", limit=100)
    assert [r["input"] for r in page] == [g["instruction"] for g in GOOD]
    info = await store.show(db, "mixed")
    assert info["import"]["bad"] == 3


async def test_skip_bad_with_nothing_good_writes_nothing(db, tmp_path):
    p = write(tmp_path / "allbad.jsonl", [b"{x", b"{y", b"[1]"])
    await rejects(db, p, "no valid rows", skip_bad=True)
