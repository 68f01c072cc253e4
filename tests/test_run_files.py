"""Run files and links: ffui never follows a symbolic link out of a run directory, says what
it deleted, keeps what it creates private, and hands the hub token only to hub downloads."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from ffui import db as fdb
from procs_support import dead_pid, until


async def _run_row(home: Path, **fields) -> dict:
    async with fdb.connect(home / "ffui.db", home) as db:
        run = await fdb.create_training_run(db, "linked", base_model="/models/none", hp={"method": "lora"})
        if fields:
            await fdb.update_training_run(db, run["id"], **fields)
        return await fdb.get_training_run(db, run["id"])


def _wait_final(home: Path, run_id: int, timeout: float = 60) -> dict:
    def final():
        conn = fdb.open_sync(home / "ffui.db")
        try:
            row = conn.execute("SELECT status, error_message FROM training_runs WHERE id = ?", (run_id,)).fetchone()
        finally:
            conn.close()
        return {"status": row[0], "error_message": row[1]} if row[0] in fdb.FINAL_STATUSES else None
    return until(final, timeout, f"run {run_id} to end", interval=0.1)


def test_a_train_log_replaced_by_a_link_is_not_read_into_the_runs_log(home, tmp_path, ffui):
    foreign = tmp_path / "someone-elses.log"
    foreign.write_text("a line of someone else's file\n")
    run = asyncio.run(_run_row(home, status="running", trainer_pid=dead_pid()))
    run_dir = Path(run["storage_path"])
    (run_dir / "events.jsonl").write_text("")
    (run_dir / "train.log").symlink_to(foreign)
    assert ffui("runs", "list", home=home).returncode == 0  # the start-up reconcile supervises the orphan
    _wait_final(home, run["id"])
    logs = ffui("runs", "logs", str(run["id"]), home=home)
    assert logs.returncode == 0, logs.stderr
    assert "someone else's" not in logs.stdout


def test_a_run_directory_replaced_by_a_link_is_not_trained_into(home, tmp_path, ffui):
    run = asyncio.run(_run_row(home))
    run_dir = Path(run["storage_path"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text(json.dumps({"base_model": "/models/none"}))
    run_dir.rmdir()
    run_dir.symlink_to(elsewhere)
    assert ffui("runs", "list", home=home).returncode == 0  # schedules the pending run
    outcome = _wait_final(home, run["id"])
    assert outcome["status"] == "failed"
    assert outcome["error_message"].startswith(f"could not start the trainer: {run_dir} is a symbolic link")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["config.json"]  # no train.log, no events
    logs = ffui("runs", "logs", str(run["id"]), home=home).stdout
    assert f"{run_dir} is a symbolic link" in logs and "does not follow links" in logs


def test_runs_rm_artifacts_on_a_linked_directory_says_what_it_left(home, tmp_path, ffui):
    run = asyncio.run(_run_row(home, status="failed"))
    run_dir = Path(run["storage_path"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    run_dir.rmdir()
    run_dir.symlink_to(elsewhere)
    r = ffui("runs", "rm", str(run["id"]), "--artifacts", "--yes", home=home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"run {run['id']} deleted; removed the link {run_dir}; what it points at "
                                f"({elsewhere}) was left untouched")
    assert (elsewhere / "keep.txt").read_text() == "mine" and not run_dir.is_symlink()


def test_runs_rm_artifacts_says_what_it_deleted(home, ffui):
    run = asyncio.run(_run_row(home, status="failed"))
    run_dir = Path(run["storage_path"])
    (run_dir / "train.log").write_text("x\n")
    r = ffui("runs", "rm", str(run["id"]), "--artifacts", "--yes", home=home)
    assert r.stdout.strip() == f"run {run['id']} deleted; deleted {run_dir} (checkpoints, adapter, logs)"
    assert not run_dir.exists()


def test_what_ffui_writes_is_private_to_the_user(home, tmp_path, ffui):
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"input": "q", "output": "a"}) + "\n")
    assert ffui("data", "import", src, "--name", "d", home=home).returncode == 0
    assert ffui("db", "export", home / "all.json", home=home).returncode == 0
    assert ffui("data", "export", "d", tmp_path / "out.jsonl", home=home).returncode == 0
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    r = ffui("train", "-d", "d", "-m", model, "--name", "private", home=home)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (home / "training_outputs").glob("private_*")
    assert run_dir.stat().st_mode & 0o777 == 0o700
    for path in (home / "all.json", tmp_path / "out.jsonl", run_dir / "config.json", run_dir / "dataset.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o600, path


async def test_the_trainer_gets_the_hub_token_only_for_a_hub_model(db, tmp_path, monkeypatch):
    """The supervisor's real start of a trainer, with a trainer that reports its environment."""
    from ffui.jobs.supervisor import RunSupervisor
    from ffui.train import launch

    monkeypatch.setattr(launch, "build_trainer_command", lambda run_dir, num_gpu, module=None, **launch_options: [
        sys.executable, "-c", "import os; print('HF_TOKEN' in os.environ)"])
    monkeypatch.setenv("HF_TOKEN", "hf_fromTheShell123")
    await fdb.set_setting(db, "huggingface.token", "hf_storedToken123")
    local = tmp_path / "model"
    local.mkdir()
    seen = {}
    for name, base in (("local", str(local)), ("hub", "org/model")):
        run = await fdb.create_training_run(db, name, base_model=base, hp={"base_model": base})
        await fdb.update_training_run(db, run["id"], status="running")
        sup = RunSupervisor(db, run["id"], 5)
        await sup.start_or_adopt(await fdb.get_training_run(db, run["id"]))
        sup.proc.wait(30)
        seen[name] = (Path(run["storage_path"]) / "train.log").read_text().strip()
    assert seen == {"local": "False", "hub": "True"}


def test_a_checkpoints_folder_replaced_by_a_link_is_not_trained_into(home, tmp_path, ffui):
    run = asyncio.run(_run_row(home))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = Path(run["storage_path"]) / "checkpoints"
    link.symlink_to(elsewhere)
    assert ffui("runs", "list", home=home).returncode == 0  # schedules the pending run
    outcome = _wait_final(home, run["id"])
    assert outcome["status"] == "failed"
    assert outcome["error_message"].startswith(f"could not start the trainer: {link} is a symbolic link")
    assert not list(elsewhere.iterdir())
