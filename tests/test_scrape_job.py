"""``ffui scrape`` as a detached job, end to end: the real ``ffui`` console script, its supervisor
and worker processes, a real SQLite file, and the fake forums of tests/fakeforum.py.

The fakes police the APIs' rules (``forum.violations`` stays empty); waiting polls a condition.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from ffui.data.scrape_worker import read_raw
from fakeforum import FakeForum
from job_support import final, wait_for, wait_run

pytestmark = pytest.mark.timeout(180)


def chan_forum(f: FakeForum, threads: int) -> None:
    for t in range(threads):
        no = 1000 + 10 * t
        f.add_thread("g", [{"no": no, "com": f"Question {t}: tabs or spaces?"},
                           {"no": no + 1, "com": f"Answer {t}: spaces, always."},
                           {"no": no + 2, "com": f"Rebuttal {t}: tabs are one byte."}])


def set_api(ffui, home, key: str, url: str) -> None:
    r = ffui("settings", "set", key, url, home=home)
    assert r.returncode == 0, r.stderr


async def pairs(db, name: str) -> list[dict]:
    session = await db.fetchone("SELECT id, source, source_details FROM scrape_sessions WHERE name = ?", (name,))
    assert session is not None, f"no dataset {name!r}"
    rows = await db.fetchall("SELECT input_text, output_text, source_url, metadata_json FROM scraped_pairs "
                             "WHERE session_id = ? ORDER BY id", (session["id"],))
    return [dict(r) | {"session": dict(session)} for r in rows]


def runs_json(ffui, home) -> list[dict]:
    r = ffui("runs", "list", "--json", home=home)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


async def test_a_4chan_scrape_job_fills_a_dataset_and_is_listed_as_a_scrape(ffui, job_home, db):
    with FakeForum() as forum:
        chan_forum(forum, 2)
        set_api(ffui, job_home, "sources.4chan.api_url", forum.url)
        r = ffui("scrape", "4chan", "--boards", "g", "--mode", "contextual", "--context-k", "2",
                 "--dataset", "chan", "--wait", home=job_home)
        assert forum.violations == []
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dataset 'chan': 4 pairs" in r.stdout
    got = await pairs(db, "chan")
    assert [(p["input_text"], p["output_text"]) for p in got[:2]] == [
        ("Question 0: tabs or spaces?", "Answer 0: spaces, always."),
        ("Question 0: tabs or spaces?\n\nAnswer 0: spaces, always.", "Rebuttal 0: tabs are one byte.")]
    assert got[0]["source_url"] == "https://boards.4chan.org/g/thread/1000#p1001"
    assert got[0]["session"]["source"] == "4chan"
    assert got[0]["session"]["source_details"] == "boards=g mode=contextual k=2"
    listed = runs_json(ffui, job_home)
    assert [(x["kind"], x["status"], x["name"]) for x in listed] == [("scrape", "completed", "scrape-chan")]
    r = ffui("data", "list", home=job_home)
    assert "chan" in r.stdout


async def test_repair_pairs_a_scraped_dataset_again_without_a_request(ffui, job_home, db):
    with FakeForum() as forum:
        chan_forum(forum, 1)
        set_api(ffui, job_home, "sources.4chan.api_url", forum.url)
        r = ffui("scrape", "4chan", "--boards", "g", "--dataset", "chan", "--wait", home=job_home)
        assert r.returncode == 0, r.stdout + r.stderr
        sent = len(forum.requests)
        r = ffui("scrape", "repair", "chan", "--mode", "contextual", "--context-k", "0", home=job_home)
        assert r.returncode == 0, r.stderr
        assert len(forum.requests) == sent
    assert r.stdout.strip() == ("dataset 'chan-contextual': 2 pairs from the 1 items 'chan' was made "
                                "from (nothing fetched)")
    got = await pairs(db, "chan-contextual")
    assert got[1]["input_text"] == "Question 0: tabs or spaces?\n\nAnswer 0: spaces, always."
    assert got[1]["session"]["source_details"] == "repair of chan: mode=contextual k=0"
    r = ffui("scrape", "repair", "chan", "--mode", "parent-child", home=job_home)
    assert r.returncode == 1 and r.stderr.strip() == (
        "ffui: unknown pairing mode 'parent-child' (use one of adjacent, contextual, quote-chain)")
    assert len(await pairs(db, "chan")) == 2  # the scraped dataset is as it was


async def test_a_bad_option_is_one_line_and_queues_nothing(ffui, job_home):
    r = ffui("scrape", "4chan", "--boards", "g", "--ban", "(unclosed", home=job_home)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "not a valid regular expression" in r.stderr
    r = ffui("scrape", "reddit", "--subreddit", "rust", "--post", "https://redd.it/abc", home=job_home)
    assert r.returncode == 1 and "either a subreddit or a post URL" in r.stderr
    r = ffui("scrape", "stackexchange", "--site", "stackoverflow", "--key-from-settings", home=job_home)
    assert r.returncode == 1 and "no API key is stored" in r.stderr
    assert runs_json(ffui, job_home) == []


async def test_cancel_keeps_what_was_scraped_and_says_how_much(ffui, job_home, db):
    with FakeForum() as forum:
        chan_forum(forum, 20)  # 20 s of fetching: the cancel lands well before its end
        set_api(ffui, job_home, "sources.4chan.api_url", forum.url)
        r = ffui("scrape", "4chan", "--boards", "g", "--dataset", "partial", home=job_home)
        assert r.returncode == 0, r.stderr
        run_id = runs_json(ffui, job_home)[0]["id"]
        run = await wait_run(db, run_id, lambda x: len(read_raw(Path(x["storage_path"]))) >= 2,
                             "two threads fetched")
        r = ffui("runs", "cancel", str(run_id), home=job_home)
        assert r.returncode == 0, r.stderr
        assert forum.violations == []
    run = await wait_run(db, run_id, final, "an end")
    assert run["status"] == "cancelled"
    kept = await pairs(db, "partial")
    assert 4 <= len(kept) < 40
    logs = ffui("runs", "logs", str(run_id), home=job_home).stdout
    assert f"cancelled: kept what was fetched; dataset 'partial': {len(kept)} pairs" in logs


async def test_a_cancelled_scrape_goes_on_once_its_dataset_is_removed(ffui, job_home, db):
    with FakeForum() as forum:
        chan_forum(forum, 20)  # 20 s of fetching: the cancel lands well before its end
        set_api(ffui, job_home, "sources.4chan.api_url", forum.url)
        assert ffui("scrape", "4chan", "--boards", "g", "--dataset", "more", home=job_home).returncode == 0
        run_id = runs_json(ffui, job_home)[0]["id"]
        await wait_run(db, run_id, lambda x: len(read_raw(Path(x["storage_path"]))) >= 2, "two threads")
        assert ffui("runs", "cancel", str(run_id), home=job_home).returncode == 0
        r = ffui("runs", "resume", str(run_id), "--wait", home=job_home)
        assert r.returncode == 1  # its dataset holds what was fetched: the name is taken
        assert "a dataset named 'more' exists already" in r.stdout and "items are kept" in r.stdout
        assert ffui("data", "rm", "more", "--yes", home=job_home).returncode == 0
        r = ffui("runs", "resume", str(run_id), "--wait", home=job_home)
        assert r.returncode == 0, r.stdout + r.stderr
        assert forum.violations == []
        threads = forum.thread_paths()
    assert len(threads) == len(set(threads)) == 20
    texts = [(p["input_text"], p["output_text"]) for p in await pairs(db, "more")]
    assert len(texts) == len(set(texts)) == 40


async def test_a_killed_scrape_resumes_from_its_cursor_without_fetching_or_storing_twice(ffui, job_home, db):
    with FakeForum() as forum:
        chan_forum(forum, 6)
        set_api(ffui, job_home, "sources.4chan.api_url", forum.url)
        assert ffui("scrape", "4chan", "--boards", "g", "--dataset", "again", home=job_home).returncode == 0
        run_id = runs_json(ffui, job_home)[0]["id"]
        run = await wait_run(db, run_id, lambda x: len(read_raw(Path(x["storage_path"]))) >= 2
                             and x.get("trainer_pid"), "two threads fetched")
        os.kill(run["trainer_pid"], signal.SIGKILL)  # the worker dies mid-scrape, as with kill -9
        run = await wait_run(db, run_id, final, "an end")
        assert run["status"] == "failed"
        fetched_before = set(forum.thread_paths())
        r = ffui("runs", "resume", str(run_id), "--wait", home=job_home)
        assert r.returncode == 0, r.stdout + r.stderr
        assert forum.violations == []
        threads = forum.thread_paths()
    assert len(threads) == len(set(threads)) == 6  # none fetched twice
    assert fetched_before <= set(threads)
    got = await pairs(db, "again")
    texts = [(p["input_text"], p["output_text"]) for p in got]
    assert len(texts) == len(set(texts)) == 12


async def test_a_scrape_does_not_wait_behind_training_and_its_key_stays_secret(ffui, job_home, db):
    from ffui.jobs.fake_worker import create_fake_run
    from ffui.jobs.manager import schedule

    key = "sekr3t-se-key-0042"
    set_api(ffui, job_home, "jobs.max_concurrent", "1")
    r = ffui("settings", "set", "sources.stackexchange.key", home=job_home, input=key + "\n")
    assert r.returncode == 0, r.stderr
    training = await create_fake_run(db, steps=10_000, step_s=0.05)
    await schedule(db)
    await wait_run(db, training["id"], lambda x: x["status"] == "running", "running")
    with FakeForum(min_interval_s=0.1) as forum:
        forum.stackexchange.add_question("stackoverflow", 7, "Why &lt;b&gt;?", "<p>Bold.</p>", [
            {"answer_id": 70, "body": "<p>Because.</p>", "score": 2, "is_accepted": True, "owner": "Kim"}])
        set_api(ffui, job_home, "sources.stackexchange.api_url", f"{forum.url}/2.3")
        r = ffui("scrape", "stackexchange", "--site", "stackoverflow", "--key-from-settings",
                 "--dataset", "so", home=job_home)
        assert r.returncode == 0, r.stderr
        assert "started" in r.stdout  # not queued behind the training run, which still runs
        scrape_id = [x for x in runs_json(ffui, job_home) if x["kind"] == "scrape"][0]["id"]
        assert (await wait_run(db, scrape_id, final, "an end"))["status"] == "completed"
        assert forum.violations == []
        assert forum.requests and all(f"key={key}" in sent.query for sent in forum.requests)
    got = await pairs(db, "so")
    assert [(p["input_text"], p["output_text"]) for p in got] == [("Why <b>?\n\nBold.", "Because.")]
    attribution = json.loads(got[0]["metadata_json"])["attribution"]
    assert attribution["author"] == "Kim" and attribution["licence"] == "CC BY-SA 4.0"
    run_dir = Path((await db.fetchone("SELECT storage_path FROM training_runs WHERE id = ?",
                                      (scrape_id,)))["storage_path"])
    for name in ("config.json", "train.log", "events.jsonl"):
        assert key not in (run_dir / name).read_text()
    logged = await db.fetchall("SELECT message FROM app_logs")
    assert not any(key in row["message"] for row in logged)


async def test_the_datasets_screen_starts_a_scrape_from_a_form(job_home, db):
    from textual.widgets import Input

    from ffui.db import set_setting
    from tui_support import app_for, notifications, screen_text, settle, wait_for as ui_wait_for

    with FakeForum() as forum:
        chan_forum(forum, 1)
        await set_setting(db, "sources.4chan.api_url", forum.url)
        app = app_for(job_home)
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("2")
            await settle(pilot)
            await pilot.press("w")
            await settle(pilot)
            app.screen.query_one("#f-target", Input).value = "g,../x"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "'../x' is not a board name" in str(app.screen.query_one("#form-error").render())
            app.screen.query_one("#f-target", Input).value = "g"
            app.screen.query_one("#f-name", Input).value = "webchan"
            await pilot.press("ctrl+s")
            await ui_wait_for(pilot, lambda: any("started" in n for n in notifications(app)),
                              what="a notice that the scrape started")
            assert any("dataset webchan appears here when it ends" in n for n in notifications(app))
            run = await wait_run(db, 1, final, "an end")
            await pilot.press("1")
            await settle(pilot)
            await pilot.press("enter")  # the run screen: pairs, requests and waits, not steps
            await ui_wait_for(pilot, lambda: "2 pairs from 1 items, 2 requests, " in screen_text(app)
                              and "s waiting for rate limits" in screen_text(app),
                              what=lambda: f"the scrape's progress on its run screen: {screen_text(app)[:400]}")
        assert forum.violations == []
    assert run["status"] == "completed" and (run.get("metadata") or {}).get("kind") == "scrape"
    assert [(p["input_text"], p["output_text"]) for p in await pairs(db, "webchan")] == [
        ("Question 0: tabs or spaces?", "Answer 0: spaces, always."),
        ("Answer 0: spaces, always.", "Rebuttal 0: tabs are one byte.")]
