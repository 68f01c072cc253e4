"""The job manager with real processes: a real trainer on the tiny model, real supervisors.

These tests kill things (the starting process, the supervisor, the trainer) the way an
operator's machine would, and check what the user sees afterwards in the database.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ffui import db as fdb
from ffui import procs
from ffui.jobs import manager

pytest.importorskip("torch", reason="the job tests run the real trainer, which needs the [train] extras (torch)")

STEP_S_CFG = {
    "method": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "learning_rate": 2e-3,
    "per_device_train_batch_size": 4, "max_seq_len": 64, "logging_steps": 1, "save_steps": 5,
    "save_total_limit": None, "num_gpu": 0, "seed": 1,
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from ffui.train.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", arch="llama")


@pytest.fixture
async def jobs_home(home, tiny_model):
    """A home with the tiny model and a small chat dataset; every run's processes are killed after."""
    from ffui.data import store

    data = home / "chat.jsonl"
    with open(data, "w") as fh:
        for i in range(32):
            fh.write(json.dumps({"messages": [
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}]}) + "\n")
    async with fdb.connect(home / "ffui.db", home) as db:
        await store.import_dataset(db, str(data), name="chat")
        await fdb.set_setting(db, "jobs.cancel_grace_s", "20")
    yield home
    async with fdb.connect(home / "ffui.db", home) as db:
        for run in await fdb.list_training_runs(db):
            procs.signal_group(run.get("trainer_pgid"), signal.SIGKILL)
            procs.signal_pid(run.get("supervisor_pid"), signal.SIGKILL)


async def start(home, model, steps=12, **extra):
    async with fdb.connect(home / "ffui.db", home) as db:
        return await manager.start_run(db, dataset="chat", model=str(model), hp={**STEP_S_CFG, "max_steps": steps, **extra})


async def wait_until(home, run_id, predicate, timeout=180):
    deadline = time.monotonic() + timeout
    async with fdb.connect(home / "ffui.db", home) as db:
        while time.monotonic() < deadline:
            run = await fdb.get_training_run(db, run_id)
            if predicate(run):
                return run
            await asyncio.sleep(0.3)
    raise AssertionError(f"run {run_id} never reached the expected state: {run['status']} step {run.get('current_step')}")


def final(run):
    return run["status"] in fdb.FINAL_STATUSES


async def log_messages(home, run_id, source="train"):
    async with fdb.connect(home / "ffui.db", home) as db:
        rows = await db.fetchall("SELECT message FROM app_logs WHERE run_id = ? AND source = ? ORDER BY id", (run_id, source))
    return [r["message"] for r in rows]


def train_log_lines(run):
    text = (Path(run["storage_path"]) / "train.log").read_text(encoding="utf-8", errors="replace")
    return [ln.rsplit("\r", 1)[-1] for ln in text.split("\n")[:-1]] + ([text.split("\n")[-1]] if not text.endswith("\n") and text else [])


async def test_a_run_completes_and_registers_its_adapter(jobs_home, tiny_model):
    run = await start(jobs_home, tiny_model, steps=10)
    assert run["status"] == "running" and Path(run["storage_path"], "dataset.jsonl").exists()
    run = await wait_until(jobs_home, run["id"], final)
    assert run["status"] == "completed", run["error_message"]
    assert run["current_step"] == 10 and run["progress"] == 1.0 and run["backend"] == "cpu"
    hist = run["metrics"]["history"]
    assert hist[0][0] == 1 and hist[-1][0] == 10
    assert Path(run["adapter_path"], "adapter_config.json").exists()
    assert run["logs"] and run["logs"][-1] == train_log_lines(run)[-1]
    assert await log_messages(jobs_home, run["id"]) == train_log_lines(run)
    async with fdb.connect(jobs_home / "ffui.db", jobs_home) as db:
        adapters = await fdb.list_adapters(db, fine_tuning_job_id=run["job_uuid"])
        assert [a["location"] for a in adapters] == [run["adapter_path"]]
        assert (await fdb.get_model(db, adapters[0]["model_id"]))["location"] == str(tiny_model)


def test_killing_the_process_that_started_a_run_leaves_it_running(jobs_home, tiny_model, ffui):
    """kill -9 of `ffui train --wait`: the run completes and every line lands once."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "ffui"), "train", "--dataset", "chat", "--model", str(tiny_model),
         "--set", "max_steps=15", "--set", "num_gpu=0", "--set", "max_seq_len=64", "--set", "lora_r=4", "--wait"],
        env={**os.environ, "FFUI_HOME": str(jobs_home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    run = asyncio.run(wait_until(jobs_home, 1, lambda r: r and (r.get("current_step") or 0) >= 2))
    proc.kill()
    proc.wait()
    run = asyncio.run(wait_until(jobs_home, 1, final))
    assert run["status"] == "completed", run["error_message"]
    assert asyncio.run(log_messages(jobs_home, 1)) == train_log_lines(run)


async def test_a_killed_supervisor_is_replaced_and_nothing_is_lost_or_repeated(jobs_home, tiny_model, ffui):
    run = await start(jobs_home, tiny_model, steps=60)
    run = await wait_until(jobs_home, run["id"], lambda r: (r.get("current_step") or 0) >= 3 and r.get("supervisor_pid"))
    old = run["supervisor_pid"]
    os.kill(old, signal.SIGKILL)
    await asyncio.sleep(1.0)  # the trainer goes on writing while nobody is watching
    r = ffui("runs", "list", home=jobs_home)  # any ffui start reconciles
    assert r.returncode == 0, r.stderr
    # (a fast machine may finish the run meanwhile: the new supervisor then only finalises it)
    await wait_until(jobs_home, run["id"], lambda x: x.get("supervisor_pid") not in (None, old) or final(x))
    run = await wait_until(jobs_home, run["id"], final)
    assert run["status"] == "completed", run["error_message"]
    assert run["supervisor_pid"] != old
    assert run["current_step"] == 60
    assert await log_messages(jobs_home, run["id"]) == train_log_lines(run)


async def test_killing_the_trainer_fails_the_run_with_the_signal(jobs_home, tiny_model):
    run = await start(jobs_home, tiny_model, steps=200)
    run = await wait_until(jobs_home, run["id"], lambda r: (r.get("current_step") or 0) >= 2)
    os.kill(run["trainer_pid"], signal.SIGKILL)
    run = await wait_until(jobs_home, run["id"], final, timeout=30)
    assert run["status"] == "failed"
    assert run["exit_signal"] == signal.SIGKILL
    assert "SIGKILL" in run["error_message"] and "memory" in run["error_message"]


async def test_cancel_stops_with_a_checkpoint_and_leaves_no_process(jobs_home, tiny_model, ffui):
    run = await start(jobs_home, tiny_model, steps=400)
    run = await wait_until(jobs_home, run["id"], lambda r: (r.get("current_step") or 0) >= 3)
    r = ffui("runs", "cancel", run["id"], home=jobs_home)
    assert r.returncode == 0, r.stderr
    assert f"run {run['id']}: cancelled" in r.stdout
    async with fdb.connect(jobs_home / "ffui.db", jobs_home) as db:
        run = await fdb.get_training_run(db, run["id"])
    assert run["status"] == "cancelled" and run["completed_at"]
    assert not procs.group_alive(run["trainer_pgid"])
    await asyncio.sleep(1)
    assert not procs.alive(run["supervisor_pid"], "ffui.jobs.supervisor")
    assert manager.list_checkpoints(run), "the trainer saved a checkpoint when asked to stop"


async def test_resume_continues_the_step_count(jobs_home, tiny_model, ffui):
    # enough steps that the cancel lands mid-run even on a fast machine (a step of the tiny model takes ~20 ms)
    run = await start(jobs_home, tiny_model, steps=400)
    run = await wait_until(jobs_home, run["id"], lambda r: (r.get("current_step") or 0) >= 6)
    r = ffui("runs", "cancel", run["id"], home=jobs_home)
    assert r.returncode == 0, r.stderr
    async with fdb.connect(jobs_home / "ffui.db", jobs_home) as db:
        run = await fdb.get_training_run(db, run["id"])
    stopped_at = max(step for step, _ in manager.list_checkpoints(run))
    assert 5 <= stopped_at < 400
    r = ffui("runs", "resume", run["id"], home=jobs_home)
    assert r.returncode == 0, r.stderr
    run = await wait_until(jobs_home, run["id"], final)
    assert run["status"] == "completed", run["error_message"]
    steps = [json.loads(line) for line in Path(run["storage_path"], "events.jsonl").read_text().splitlines()]
    resumed = [e["step"] for e in steps if e["type"] == "step"]
    second_start = max(i for i, e in enumerate(steps) if e["type"] == "start")
    after = [e["step"] for e in steps[second_start:] if e["type"] == "step"]
    assert after[0] == stopped_at + 1 and after[-1] == 400, resumed


async def test_two_runs_on_one_cpu_queue(jobs_home, tiny_model):
    first = await start(jobs_home, tiny_model, steps=8)
    second = await start(jobs_home, tiny_model, steps=8)
    assert first["status"] == "running" and second["status"] == "pending"
    first = await wait_until(jobs_home, first["id"], final)
    second = await wait_until(jobs_home, second["id"], final)
    assert first["status"] == second["status"] == "completed"
    assert second["started_at"] >= first["completed_at"]


async def test_checkpoint_now_saves_without_stopping(jobs_home, tiny_model, ffui):
    run = await start(jobs_home, tiny_model, steps=400, save_steps=1000)  # still running when asked
    run = await wait_until(jobs_home, run["id"], lambda r: (r.get("current_step") or 0) >= 3)
    r = ffui("runs", "checkpoint", run["id"], home=jobs_home)
    assert r.returncode == 0, r.stderr
    run = await wait_until(jobs_home, run["id"], lambda r: r.get("checkpoint_path") or final(r))
    assert run["status"] == "running" and run["checkpoint_path"]
    await wait_until(jobs_home, run["id"], final)


def test_bad_train_requests_are_one_line_errors(jobs_home, tiny_model, ffui):
    cases = [
        (["--dataset", "nope", "--model", str(tiny_model)], "no dataset named 'nope'"),
        (["--dataset", "chat", "--model", "/no/such/model"], "does not exist"),
        (["--dataset", "chat", "--model", str(tiny_model), "--set", "learning_rate=fast"], "learning_rate"),
        (["--dataset", "chat", "--model", str(tiny_model), "--set", "lora_rank=8"], "lora_rank"),
        (["--dataset", "chat", "--model", str(tiny_model), "--config", "missing"], "no saved config named 'missing'"),
    ]
    for args, message in cases:
        r = ffui("train", *args, home=jobs_home)
        assert r.returncode != 0, args
        assert "Traceback" not in r.stderr
        assert message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no runs yet" in ffui("runs", "list", home=jobs_home).stdout


async def test_a_missing_hub_model_fails_with_a_clear_reason(jobs_home, tiny_model):
    async with fdb.connect(jobs_home / "ffui.db", jobs_home) as db:
        run = await manager.start_run(db, dataset="chat", model="nobody/no-such-model", hp={**STEP_S_CFG, "max_steps": 2})
    run = await wait_until(jobs_home, run["id"], final, timeout=120)
    assert run["status"] == "failed"
    assert "no-such-model" in run["error_message"]


def test_accelerate_command_for_several_gpus():
    from ffui.train.launch import build_trainer_command

    cmd = build_trainer_command("/runs/r1", 4, python="/venv/bin/python")
    assert cmd[:3] == ["/venv/bin/python", "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    assert cmd[-3:] == ["-m", "ffui.train", "/runs/r1"]
    assert build_trainer_command("/runs/r1", 1, python="p") == ["p", "-m", "ffui.train", "/runs/r1"]


def test_a_model_is_registered_once(jobs_home, tiny_model, ffui):
    r = ffui("models", "add", tiny_model, "--name", "mine", home=jobs_home)
    assert r.returncode == 0, r.stderr
    r = ffui("models", "add", str(tiny_model) + "/", "--name", "again", home=jobs_home)
    assert r.returncode == 1 and "already registered as 'mine'" in r.stderr and len(r.stderr.splitlines()) == 1
    assert ffui("models", "list", home=jobs_home).stdout.count(str(tiny_model)) == 1
