"""`ffui publish RUN --to org/name` and `ffui data publish NAME --to org/name`: to the Hugging
Face Hub, here the fake one on 127.0.0.1 (tests/fakehub.py), which speaks the upload protocol the
real huggingface_hub client sends (create repo, preupload, LFS batch and PUT, NDJSON commit).

The run published is one of the fake worker's (its "adapter" is a folder with a config and a
safetensors file), so no torch is needed; the publish job itself is the real worker, detached,
under the real supervisor, started by the real `ffui` command.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from fakehub import FakeHub
from job_support import final, wait_run

TOKEN = "hf_fakehubTOKEN0123456789abcdefXYZ"
ROWS = [{"input": f"question {i}", "output": f"answer {i}"} for i in range(20)]


@pytest.fixture
def hub(tmp_path, monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    with FakeHub(token=TOKEN) as h:
        hf = tmp_path / "hf"
        # without hf_xet's protocol (which the fake does not speak) the client uploads over git LFS
        h.env = {"HF_ENDPOINT": h.url, "HF_HOME": str(hf), "HF_HUB_CACHE": str(hf / "hub"),
                 "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1",
                 "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the supervisors the tests start themselves
        yield h
    assert not h.unknown, f"the client called endpoints the fake hub does not implement: {h.unknown}"


@pytest.fixture
async def trained(job_home, db, tmp_path):
    """A completed run (the fake worker's) with an adapter holding a safetensors file, on dataset "qa"."""
    from ffui.data import store
    from ffui.db import update_training_run
    from ffui.jobs.fake_worker import create_fake_run
    from ffui.jobs.scheduler import schedule

    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    session = (await store.import_dataset(db, str(data), name="qa"))
    run = await create_fake_run(db, "tuned", steps=2, step_s=0.01)
    await update_training_run(db, run["id"], dataset_id=str(session["id"]),
                              hp={"method": "lora", "learning_rate": 0.0002, "lora_r": 8})
    await schedule(db)
    run = await wait_run(db, run["id"], final, "an outcome")
    assert run["status"] == "completed", run["error_message"]
    (Path(run["adapter_path"]) / "adapter_model.safetensors").write_bytes(os.urandom(4096))
    (Path(run["adapter_path"]) / "README.md").write_text("peft's own template card")
    return run


def set_token(ffui, home, hub, token=TOKEN):
    r = ffui("settings", "set", "huggingface.token", home=home, input=token + "\n", env=hub.env)
    assert r.returncode == 0, r.stderr


def one_error_line(r, *fragments) -> str:
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def publish(ffui, home, hub, run, *args):
    return ffui("publish", str(run["id"]), *args, "--wait", home=home, env=hub.env)


def reason(r) -> str:
    """The failed job's reason, as `--wait` printed it."""
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if line.strip().startswith("reason:")]
    assert len(lines) == 1, r.stdout
    return lines[0]


async def test_a_run_is_published_with_its_files_and_a_card(job_home, trained, hub, ffui):
    set_token(ffui, job_home, hub)
    r = publish(ffui, job_home, hub, trained, "--to", "fakeorg/tuned-lora", "--private")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"published at: {hub.url}/fakeorg/tuned-lora" in r.stdout
    repo = hub.repos[("model", "fakeorg/tuned-lora")]
    assert repo.private
    assert set(repo.files) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    (commit,) = hub.commits
    assert commit.lfs_files == ["adapter_model.safetensors"]  # the weights went over LFS, the rest inline
    assert repo.files["adapter_model.safetensors"].file.read_bytes() == \
        Path(trained["adapter_path"], "adapter_model.safetensors").read_bytes()
    card = repo.files["README.md"].file.read_text()
    for fact in ("library_name: peft", "`fake`", "`qa`", "| learning_rate | 0.0002 |", "| lora_r | 8 |",
                 "final_loss", "ffui 0.1.0", "AutoPeftModelForCausalLM"):
        assert fact in card, fact
    assert Path(trained["adapter_path"], "README.md").read_text() == "peft's own template card"  # not touched
    with sqlite3.connect(job_home / "ffui.db") as conn:
        (name,) = conn.execute("SELECT huggingface_name FROM adapters WHERE id = ?",
                               (trained["adapter_id"],)).fetchone()
        logs = "\n".join(m for (m,) in conn.execute("SELECT message FROM app_logs"))
    assert name == "fakeorg/tuned-lora"
    assert TOKEN not in logs and TOKEN not in r.stdout + r.stderr  # the token is sent, never shown
    job_dir = Path(json.loads(ffui("runs", "show", str(trained["id"] + 1), "--json", home=job_home).stdout)
                   ["storage_path"])
    assert TOKEN not in (job_dir / "config.json").read_text() + (job_dir / "train.log").read_text()
    assert all(q.auth == f"Bearer {TOKEN}" for q in hub.requests if not q.path.startswith("/_lfs"))


async def test_a_bad_token_is_one_line(job_home, trained, hub, ffui):
    set_token(ffui, job_home, hub, "hf_notAValidToken000000000000000000")
    r = publish(ffui, job_home, hub, trained, "--to", "fakeorg/tuned-lora")
    line = reason(r)
    assert "refused the token (401" in line and "ffui settings set huggingface.token" in line
    assert not hub.commits


async def test_no_write_permission_and_a_taken_name_are_one_line_each(job_home, trained, hub, ffui):
    set_token(ffui, job_home, hub)
    line = reason(publish(ffui, job_home, hub, trained, "--to", "stranger/tuned"))
    assert "may not write to 'stranger' (403)" in line
    assert publish(ffui, job_home, hub, trained, "--to", "fakeuser/tuned").returncode == 0
    line = reason(publish(ffui, job_home, hub, trained, "--to", "fakeuser/tuned"))
    assert "the name fakeuser/tuned is taken" in line and "--update" in line
    assert publish(ffui, job_home, hub, trained, "--to", "fakeuser/tuned", "--update").returncode == 0
    assert len(hub.commits) == 2


async def test_no_network_is_one_line(job_home, trained, hub, ffui):
    set_token(ffui, job_home, hub)
    env = {**hub.env, "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens on the discard port
    r = ffui("publish", str(trained["id"]), "--to", "fakeorg/x", "--wait", home=job_home, env=env)
    assert "cannot reach the Hugging Face hub at http://127.0.0.1:9" in reason(r)


@pytest.mark.parametrize("args, fragment", [
    (["--to", "no-slash"], "give the repo as org/name"),
    (["--to", "fakeorg/x", "--merged"], "has no merged export yet: run ffui export"),
])
async def test_bad_publish_requests_queue_nothing(job_home, trained, hub, ffui, args, fragment):
    set_token(ffui, job_home, hub)
    r = ffui("publish", str(trained["id"]), *args, home=job_home, env=hub.env)
    one_error_line(r, fragment)
    assert not hub.requests


async def test_publishing_without_a_token_says_how_to_set_one(job_home, trained, hub, ffui):
    r = ffui("publish", str(trained["id"]), "--to", "fakeorg/x", home=job_home, env=hub.env)
    one_error_line(r, "needs a Hugging Face token with write access", "ffui settings set huggingface.token")


async def test_a_dataset_is_published_as_parquet_with_a_card(job_home, trained, hub, ffui):
    import pyarrow.parquet as pq

    set_token(ffui, job_home, hub)
    r = ffui("data", "publish", "qa", "--to", "fakeuser/qa-data", home=job_home, env=hub.env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote 20 rows of qa as parquet" in r.stdout and f"published {hub.url}/datasets/fakeuser/qa-data" in r.stdout
    repo = hub.repos[("dataset", "fakeuser/qa-data")]
    assert set(repo.files) == {"README.md", "data/train-00000-of-00001.parquet"}
    table = pq.read_table(repo.files["data/train-00000-of-00001.parquet"].file)
    assert table.num_rows == 20 and table.column("input")[0].as_py() == "question 0"
    assert "path: data/train-*.parquet" in repo.files["README.md"].file.read_text()
    r = ffui("data", "publish", "qa", "--to", "fakeuser/qa-data", home=job_home, env=hub.env)
    one_error_line(r, "the name fakeuser/qa-data is taken")


async def test_the_run_screen_publishes_with_u(job_home, db, trained, hub, ffui, monkeypatch):
    from test_tui_run_words import open_run
    from tui_support import app_for, notifications, wait_for

    set_token(ffui, job_home, hub)
    for key, value in hub.env.items():  # the supervisor the app starts inherits them
        monkeypatch.setenv(key, value)
    app = app_for(job_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_run(app, pilot, trained["id"])
        await pilot.press("u")
        await wait_for(pilot, lambda: app.screen.query_one("#f-to").has_focus, what="the publish form")
        await pilot.press(*"fakeuser/from-tui", "ctrl+s")
        await wait_for(pilot, lambda: any("publish job" in n for n in notifications(app)), what="the job queued")
    job = await wait_run(db, trained["id"] + 1, final, "its outcome")
    assert job["status"] == "completed", job["error_message"]
    assert "adapter_model.safetensors" in hub.repos[("model", "fakeuser/from-tui")].files
