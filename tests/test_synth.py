"""Synthetic pairs from documents against a fake OpenAI-compatible endpoint (tests/fakeopenai.py):
the source itself, and ``ffui synth`` as a job through the real CLI."""

from __future__ import annotations

import json

import pytest

from ffui.data.errors import DataError
from ffui.data.sources.synthetic import SyntheticOptions, SyntheticSource, chunks

from fakeopenai import FakeOpenAI
from job_support import final, wait_run

CODE_HTML = "<h2>Install</h2><p>Run this:</p><pre><code>pip install ffui\nffui --help\n</code></pre>"


def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Alpha notes\n\nAlpha is the first letter.\n")
    (folder / "b.html").write_text(CODE_HTML)
    (folder / "c.txt").write_text("FLAKY Gamma text\nmore gamma\n")
    (folder / "skip.bin").write_bytes(b"\0\1")
    return folder


def test_chunks_keep_whole_lines_and_overlap():
    text = "\n".join(f"line {i} has four words" for i in range(10))
    got = chunks(text, words=10, overlap=5)
    assert got[0] == "line 0 has four words\nline 1 has four words"
    assert got[1].startswith("line 1 has four words")  # the overlap: the last line again
    assert chunks("```\ncode  kept\n```", words=400) == ["```\ncode  kept\n```"]


def test_pairs_come_from_each_chunk_with_its_file_and_invalid_answers_are_retried(tmp_path):
    folder = docs(tmp_path)
    kept = []
    with FakeOpenAI(latency_s=0.5) as api:  # (long enough for two requests to meet in it)
        src = SyntheticSource([str(folder)], endpoint=api.url, model="tiny-writer", pairs_per_chunk=2,
                              concurrency=2, on_thread=kept.append)
        rows = [r for _, r in src.rows()]
        assert api.in_flight_max == 2  # three chunks, never more than two at once
        schema = api.requests[0]["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["schema"]["required"] == ["pairs"]
    assert [(r["input"], r["metadata"]["file"].rsplit("/", 1)[-1]) for r in rows] == [
        ("Question 1 on: # Alpha notes", "a.md"), ("Question 2 on: # Alpha notes", "a.md"),
        ("Question 1 on: Install", "b.html"), ("Question 2 on: Install", "b.html"),
        ("Question 1 on: FLAKY Gamma text", "c.txt"), ("Question 2 on: FLAKY Gamma text", "c.txt")]
    assert src.invalid == 0 and len(api.requests) == 4  # c.txt's first answer was not JSON: asked again
    html_prompt = [q["messages"][-1]["content"] for q in api.requests if "Install" in q["messages"][-1]["content"]]
    assert "Text:\nInstall\n\nRun this:\n\n```\npip install ffui\nffui --help\n```" in html_prompt[0]  # code kept
    assert src.source_details == "sources=3, type=qa, model=tiny-writer"
    assert rows[0]["metadata"]["chunk"] == 1 and len(kept) == 3


def test_answers_invalid_after_the_retries_are_counted_not_fatal(tmp_path):
    (tmp_path / "x.md").write_text("BROKEN always\n")
    (tmp_path / "y.md").write_text("Fine text\n")
    with FakeOpenAI() as api:
        src = SyntheticSource([str(tmp_path)], endpoint=api.url, model="tiny-writer", pairs_per_chunk=1, retries=2)
        rows = [r for _, r in src.rows()]
    assert [r["input"] for r in rows] == ["Question 1 on: Fine text"] and src.invalid == 1
    assert len(api.requests) == 4  # three tries for x.md, one for y.md


def test_an_unknown_model_a_dead_endpoint_and_a_bad_type_are_one_line(tmp_path):
    (tmp_path / "a.md").write_text("text\n")
    with FakeOpenAI() as api, pytest.raises(DataError) as e:
        list(SyntheticSource([str(tmp_path)], endpoint=api.url, model="nope").rows())
    assert str(e.value) == f"synthetic: the endpoint has no model 'nope' (see {api.url}/models for the ones it has)"
    with pytest.raises(DataError) as e:
        list(SyntheticSource([str(tmp_path)], endpoint="http://127.0.0.1:9/v1", model="m").rows())
    assert "cannot be reached" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DataError) as e:
        SyntheticOptions("essay")
    assert str(e.value) == "unknown pair type 'essay' (use one of qa, summary)"


async def test_ffui_synth_makes_a_dataset_as_a_job(ffui, job_home, db, tmp_path):
    folder = docs(tmp_path)
    with FakeOpenAI() as api:
        r = ffui("synth", str(folder), "--endpoint", api.url, "--model", "tiny-writer", "--pairs-per-chunk", "1",
                 "--dataset", "syn", "--wait", home=job_home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dataset 'syn': 3 pairs" in r.stdout
    session = await db.fetchone("SELECT id, source, source_details FROM scrape_sessions WHERE name = 'syn'")
    assert session["source"] == "synthetic"
    assert session["source_details"] == "sources=3, type=qa, model=tiny-writer"
    rows = await db.fetchall("SELECT input_text, metadata_json FROM scraped_pairs WHERE session_id = ? ORDER BY id",
                             (session["id"],))
    assert [json.loads(x["metadata_json"])["file"].rsplit("/", 1)[-1] for x in rows] == ["a.md", "b.html", "c.txt"]
    run = json.loads(ffui("runs", "list", "--json", home=job_home).stdout)[0]
    assert run["kind"] == "scrape" and (await wait_run(db, run["id"], final, "an end"))["status"] == "completed"
