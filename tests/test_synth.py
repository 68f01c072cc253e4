"""Synthetic pairs from documents against a fake OpenAI-compatible endpoint (tests/fakeopenai.py):
the source itself, and ``ffui synth`` as a job through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ffui.data.errors import DataError
from ffui.data.sources.synthetic import SyntheticOptions, SyntheticSource, chunks, context_warning

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


def pdf_file(path, pages: list[str]) -> None:
    """A minimal valid PDF by hand (pypdf reads but does not lay out text): one line a page, Helvetica."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               "<< /Type /Pages /Kids [%s] /Count %d >>" % (" ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages))), len(pages)),
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {5 + 2 * i} 0 R >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)


def docx_file(path) -> None:
    import docx

    doc = docx.Document()
    doc.add_paragraph("Opening words before any heading")
    doc.add_heading("Setup", level=1)
    doc.add_paragraph("Setup needs a key.")
    doc.add_heading("Usage", level=1)
    doc.add_paragraph("Usage is one command.")
    doc.save(str(path))


def test_pdf_and_docx_pairs_carry_their_file_and_page_or_section(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    pdf_file(folder / "manual.pdf", ["Page one about tokens", "Page two about batches"])
    docx_file(folder / "notes.docx")
    (folder / "z.md").write_text("Markdown text\n")
    with FakeOpenAI() as api:
        src = SyntheticSource([str(folder)], endpoint=api.url, model="tiny-writer", pairs_per_chunk=1)
        rows = [r for _, r in src.rows()]
    got = [(r["input"], r["metadata"]["file"].rsplit("/", 1)[-1], r["metadata"]["page"],
            r["metadata"].get("section"), r["metadata"].get("paragraph")) for r in rows]
    assert got == [("Question 1 on: Page one about tokens", "manual.pdf", 1, None, None),
                   ("Question 1 on: Page two about batches", "manual.pdf", 2, None, None),
                   ("Question 1 on: Opening words before any heading", "notes.docx", None, 1, 1),
                   ("Question 1 on: Setup", "notes.docx", None, 2, 2),
                   ("Question 1 on: Usage", "notes.docx", None, 3, 4),
                   ("Question 1 on: Markdown text", "z.md", None, None, None)]
    assert src.source_details == "sources=3, type=qa, model=tiny-writer"


def test_a_broken_pdf_or_a_missing_reader_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf at all")
    with pytest.raises(DataError) as e:
        list(SyntheticSource([str(tmp_path / "bad.pdf")], endpoint="http://127.0.0.1:9/v1", model="m").rows())
    assert str(e.value).startswith(f"{tmp_path / 'bad.pdf'}: not a readable PDF") and "\n" not in str(e.value)
    docx_file(tmp_path / "n.docx")
    monkeypatch.setitem(__import__("sys").modules, "docx", None)  # as if python-docx were not installed
    with pytest.raises(DataError) as e:
        list(SyntheticSource([str(tmp_path / "n.docx")], endpoint="http://127.0.0.1:9/v1", model="m").rows())
    assert str(e.value) == (f"{tmp_path / 'n.docx'}: reading .docx files needs the python-docx package "
                            "(pip install python-docx, or ffui[documents])")


def test_a_judge_scores_each_pair_and_drops_those_below_the_threshold(tmp_path):
    (tmp_path / "a.md").write_text("Good text\n")
    (tmp_path / "b.md").write_text("LOW quality text\n")
    (tmp_path / "c.md").write_text("NOSCORE text\n")
    with FakeOpenAI() as api:
        src = SyntheticSource([str(tmp_path)], endpoint=api.url, model="tiny-writer", pairs_per_chunk=2,
                              options=SyntheticOptions("cot", judge_threshold=7), retries=1)
        rows = [r for _, r in src.rows()]
        judged = [q for q in api.requests if q["messages"][-1]["content"].startswith("Score this training pair")]
    assert [(r["input"], r["metadata"]["judge_score"], r["metadata"]["type"]) for r in rows] == [
        ("Question 1 on: Good text", 8, "cot"), ("Question 2 on: Good text", 8, "cot")]
    assert src.dropped == 4 and src.note == "4 pairs scored below 7 and dropped"  # b.md scored 3, c.md unreadable
    assert len(judged) == 2 + 2 + 2 * 2  # one a pair, c.md's asked again once
    assert judged[0]["response_format"]["json_schema"]["schema"]["required"] == ["score"]
    assert "step by step" in api.requests[0]["messages"][-1]["content"]  # cot asks for the reasoning
    assert src.source_details == "sources=3, type=cot, model=tiny-writer, judge>=7"
    with pytest.raises(DataError) as e:
        SyntheticOptions(judge_threshold=11)
    assert str(e.value) == "a judge threshold of 11? (give 1 to 10)"


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
    assert str(e.value) == "unknown pair type 'essay' (use one of qa, cot, summary)"


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


async def test_ffui_synth_judges_pairs_and_sends_the_stored_key_only_as_a_header(ffui, job_home, db, tmp_path):
    key = "sk-local-endpoint-0042"
    (tmp_path / "a.md").write_text("Good text\n")
    (tmp_path / "b.md").write_text("LOW quality text\n")
    r = ffui("synth", str(tmp_path), "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--key-from-settings",
             home=job_home)
    assert r.returncode != 0 and "no API key is stored" in r.stdout + r.stderr
    assert "ffui settings set sources.synthetic.api_key" in r.stdout + r.stderr
    assert ffui("settings", "set", "sources.synthetic.api_key", home=job_home, input=key + "\n").returncode == 0
    with FakeOpenAI() as api:
        r = ffui("synth", str(tmp_path), "--endpoint", api.url, "--model", "tiny-writer", "--type", "cot",
                 "--pairs-per-chunk", "1", "--judge-threshold", "7", "--key-from-settings", "--dataset", "judged",
                 "--wait", home=job_home)
        assert r.returncode == 0, r.stdout + r.stderr
        assert api.authorization and set(api.authorization) == {f"Bearer {key}"}
    assert "dataset 'judged': 1 pairs" in r.stdout
    session = await db.fetchone("SELECT source_details FROM scrape_sessions WHERE name = 'judged'")
    assert session["source_details"] == "sources=2, type=cot, model=tiny-writer, judge>=7"
    run = json.loads(ffui("runs", "list", "--json", home=job_home).stdout)[0]
    log = ffui("runs", "logs", str(run["id"]), home=job_home).stdout
    assert "1 pairs scored below 7 and dropped" in log
    run_dir = Path((await db.fetchone("SELECT storage_path FROM training_runs WHERE id = ?",
                                      (run["id"],)))["storage_path"])
    for name in ("config.json", "train.log", "events.jsonl"):
        assert key not in (run_dir / name).read_text()
    assert not any(key in row["message"] for row in await db.fetchall("SELECT message FROM app_logs"))
    r = ffui("scrape", "repair", "judged", "--name", "again", home=job_home)  # a judged-out pair stays out
    assert r.returncode == 0 and "dataset 'again': 1 pairs from the 2 items" in r.stdout, r.stdout + r.stderr
    r = ffui("scrape", "repair", "judged", "--judge-threshold", "1", "--name", "all", home=job_home)
    assert r.returncode == 0 and "dataset 'all': 2 pairs" in r.stdout, r.stdout + r.stderr
    r = ffui("scrape", "repair", "judged", "--mode", "contextual", home=job_home)
    assert r.returncode != 0 and "a synthetic dataset has no pairing mode" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr


async def test_the_datasets_screen_makes_a_dataset_from_documents_with_live_progress(job_home, db, tmp_path):
    from textual.widgets import Input

    from tui_support import app_for, screen_text, settle, wait_for as ui_wait_for

    folder = docs(tmp_path)
    pdf_file(folder / "manual.pdf", ["Page one about tokens"])
    with FakeOpenAI() as api:
        app = app_for(job_home)
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("2")
            await settle(pilot)
            await pilot.press("g")
            await settle(pilot)
            app.screen.query_one("#f-paths", Input).value = str(tmp_path / "nowhere")
            app.screen.query_one("#f-endpoint", Input).value = api.url
            app.screen.query_one("#f-model", Input).value = "tiny-writer"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "nowhere: no such file or folder" in str(app.screen.query_one("#form-error").render())
            app.screen.query_one("#f-paths", Input).value = str(folder)
            app.screen.query_one("#f-pairs_per_chunk", Input).value = "1"
            app.screen.query_one("#f-name", Input).value = "fromdocs"
            await pilot.press("ctrl+s")
            await ui_wait_for(pilot, lambda: "completed: dataset fromdocs: 4 pairs from 4 items" in screen_text(app),
                              what=lambda: f"the job's end on the status line: {screen_text(app)[-400:]}")
            await ui_wait_for(pilot, lambda: "fromdocs" in screen_text(app).split("completed")[0],
                              what="the new dataset in the list")
    rows = await db.fetchall("SELECT p.metadata_json FROM scraped_pairs p JOIN scrape_sessions s "
                             "ON s.id = p.session_id WHERE s.name = 'fromdocs' ORDER BY p.id")
    assert [(m["file"].rsplit("/", 1)[-1], m["page"]) for m in (json.loads(r["metadata_json"]) for r in rows)] == [
        ("a.md", None), ("b.html", None), ("c.txt", None), ("manual.pdf", 1)]


def test_chunks_longer_than_ollamas_default_context_are_warned_about(ffui, job_home, tmp_path):
    (tmp_path / "a.md").write_text("text\n")
    r = ffui("synth", str(tmp_path), "--endpoint", "http://127.0.0.1:11434/v1", "--model", "m",
             "--chunk-words", "3000", "--dataset", "long", home=job_home)
    assert "may be longer than Ollama's default context (2048)" in r.stderr
    assert "OLLAMA_CONTEXT_LENGTH" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = ffui("synth", str(tmp_path), "--endpoint", "http://127.0.0.1:11434/v1", "--model", "m",
             "--dataset", "short", home=job_home)
    assert "Ollama" not in r.stderr  # 400 words a chunk fit
    assert context_warning("http://127.0.0.1:8000/v1", 3000) is None  # vLLM: its own --max-model-len errors
