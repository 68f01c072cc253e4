"""Job kinds and executors (ffui/jobs/kinds, ffui/jobs/executors), with the torch-free fake worker:
the generic supervisor loop runs a kind it has never heard of, a cancel is enforced once, by the
supervisor, with one grace period, and the local executor does what the executor interface says."""

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from conftest import kill_runs
from job_support import event_types, wait_run as poll
from procs_support import until
from ffui import db as fdb
from ffui import events
from ffui.jobs import manager
from ffui.jobs.executors import Executor, LocalExecutor, WorkerSpec
from ffui.jobs.fake_worker import MODULE, create_fake_run
from ffui.jobs.kinds.training import TrainingKind
from ffui.jobs.supervisor import RunSupervisor


@pytest.fixture
async def jobs_db(db):
    yield db
    kill_runs(db.home)


def ended(run) -> bool:
    return run["status"] in fdb.FINAL_STATUSES


async def messages(db, run_id, source) -> list[str]:
    rows = await db.fetchall("SELECT message FROM app_logs WHERE run_id = ? AND source = ? ORDER BY id",
                             (run_id, source))
    return [r["message"] for r in rows]


async def test_a_queued_fake_run_runs_and_completes_through_the_generic_loop(jobs_db):
    db = jobs_db
    await fdb.set_setting(db, "jobs.max_concurrent", "1")
    first = await create_fake_run(db, "first", steps=40, step_s=0.05)
    queued = await create_fake_run(db, "queued", steps=20, step_s=0.05)
    assert await manager.schedule(db) == [first["id"]]
    assert (await fdb.get_training_run(db, queued["id"]))["status"] == "pending"
    await poll(db, queued["id"], lambda r: r["status"] == "running", "its turn")  # the first one's supervisor starts it
    assert (await fdb.get_training_run(db, first["id"]))["status"] == "completed"
    run = await poll(db, queued["id"], ended, "an outcome")
    assert run["status"] == "completed", run["error_message"]
    assert run["current_step"] == 20 and run["progress"] == 1.0 and run["backend"] == "fake"
    assert (await fdb.get_adapter(db, run["adapter_id"]))["location"] == str(Path(run["storage_path"]) / "adapter")
    assert (await messages(db, run["id"], "supervisor"))[-1] == "run completed"


async def test_a_cancel_is_enforced_once_by_the_supervisor_with_one_grace(jobs_db):
    """A worker deaf to SIGTERM and to the stop file: asked once, killed once after the grace."""
    db = jobs_db
    run = await create_fake_run(db, "deaf", steps=1000, step_s=0.05, hang_at=3)
    await manager.schedule(db)
    await poll(db, run["id"], lambda r: (r.get("current_step") or 0) >= 2, "a few steps")
    run = await manager.cancel_run(db, run["id"], grace_s=3)
    assert run["status"] == "cancelled" and run["error_message"] is None
    assert not LocalExecutor().leftovers(run)
    said = await messages(db, run["id"], "supervisor")
    assert said.count("cancel requested: asked the trainer to save a checkpoint and stop") == 1, said
    assert said.count("the trainer did not stop within 3s; killed its process group") == 1, said
    assert [m for m in said if m.startswith("run ")] == ["run cancelled"], said


async def test_a_cancel_whose_supervisor_died_is_enforced_by_its_replacement(jobs_db):
    db = jobs_db
    run = await create_fake_run(db, "orphaned", steps=1000, step_s=0.05, hang_at=3)
    await manager.schedule(db)
    run = await poll(db, run["id"], lambda r: (r.get("current_step") or 0) >= 2, "a few steps")
    os.kill(run["supervisor_pid"], signal.SIGKILL)
    run = await manager.cancel_run(db, run["id"], grace_s=1)
    assert run["status"] == "cancelled" and not LocalExecutor().leftovers(run)
    said = await messages(db, run["id"], "supervisor")
    assert [m for m in said if m.startswith("run ")] == ["run cancelled"], said


ECHO_WORKER = """
import json, sys, time
def emit(type_, **fields):
    with open("events.jsonl", "a") as fh:
        fh.write(json.dumps({"type": type_, "ts": time.time(), **fields}) + "\\n")
emit("start", backend="echo", total_steps=3)
for n in range(1, 4):
    print("echo", n, flush=True)
    emit("echo", n=n)
emit("done", adapter_path=None, metrics={})
"""


class EchoKind(TrainingKind):
    """A kind this test alone knows: its own worker, its own event, its own end."""

    name = "echo"
    noun = "echoer"

    def command(self, run):
        return [sys.executable, "-c", ECHO_WORKER]

    def apply_event(self, run, event, fields):
        if event["type"] == "echo":
            fields["current_step"] = event["n"]
            return [("INFO", f"echoed {event['n']}")]
        return super().apply_event(run, event, fields)

    async def on_end(self, db, run, out, terminal):
        await db.execute("UPDATE training_runs SET error_message = ? WHERE id = ?",
                         (f"echo ended {out['status']}", run["id"]))


async def test_a_kind_defined_here_runs_through_the_unchanged_supervisor(db):
    # (supervised in this process, whose pid the row then holds: no kill_runs after it)
    run = await fdb.create_training_run(db, "echo", base_model="none", hp={})
    await fdb.update_training_run(db, run["id"], status="running")
    assert await RunSupervisor(db, run["id"], kind=EchoKind()).run() == "completed"
    run = await fdb.get_training_run(db, run["id"])
    assert run["status"] == "completed" and run["current_step"] == 3 and run["backend"] == "echo"
    assert run["error_message"] == "echo ended completed"  # its own end ran, in the outcome's transaction
    assert await messages(db, run["id"], "train") == ["echo 1", "echo 2", "echo 3"]
    assert await messages(db, run["id"], "events") == ["echoed 1", "echoed 2", "echoed 3"]
    said = await messages(db, run["id"], "supervisor")
    assert said[0].startswith("echoer started (pid ") and said[-1] == "run completed", said


def fake_run_dir(tmp_path: Path, **options) -> dict:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"fake": options}))
    return {"id": 1, "storage_path": str(run_dir), "metadata": {}}


def fake_spec(run: dict) -> WorkerSpec:
    return WorkerSpec([sys.executable, "-m", MODULE, run["storage_path"]], noun="fake")


async def test_the_local_executor_does_what_the_executor_interface_says(tmp_path):
    run = fake_run_dir(tmp_path, steps=100000, step_s=0.02)
    executor = LocalExecutor()
    launch = await executor.start(run, fake_spec(run))
    assert launch.state == "started" and launch.note[1].startswith("fake started (pid ")
    run.update(launch.fields)
    assert executor.started(run) and executor.running(run) and executor.describe(run) == f"pid {run['trainer_pid']}"
    # a second executor (a replacement supervisor's) adopts the running worker, never starts another
    again = await LocalExecutor().start(run, fake_spec(run))
    assert again.state == "adopted" and again.fields["trainer_pid"] == run["trainer_pid"]
    assert not LocalExecutor().reset(run), "a resume must wait while the worker still runs"
    executor.request_checkpoint(run)
    until(lambda: events.CHECKPOINT in event_types(run), timeout=60, what="a checkpoint")
    assert executor.running(run)
    executor.request_stop(run)
    until(lambda: not executor.running(run), timeout=60, what="the worker stopped")
    assert executor.exit_status(run) == 0 and event_types(run)[-1] == events.STOPPED
    assert not executor.leftovers(run) and not executor.disk_full(run)
    executor.fetch(run)
    executor.cleanup(run)
    assert LocalExecutor().reset(run) and not Path(run["storage_path"], "control", "stop").exists()
    limit, why = executor.capacity()
    assert limit >= 1 and "jobs.max_concurrent" in why


async def test_the_local_executor_kills_a_deaf_worker_and_its_group(tmp_path):
    run = fake_run_dir(tmp_path, steps=1000, step_s=0.02, hang_at=2)
    executor = LocalExecutor()
    run.update((await executor.start(run, fake_spec(run))).fields)
    until(lambda: events.STEP in event_types(run), timeout=60, what="a step")
    executor.kill(run)
    until(lambda: not executor.running(run), timeout=60, what="the worker killed")
    assert executor.exit_status(run) == -9 and not executor.leftovers(run)


async def test_a_job_cancelled_before_its_worker_started_starts_none(tmp_path):
    run = fake_run_dir(tmp_path)
    launch = await LocalExecutor().start(run, WorkerSpec(fake_spec(run).command, noun="fake", wanted=False))
    assert launch.state == "not-started" and launch.note[1] == "cancelled before its fake started"
    assert event_types(run) == []


def test_an_executor_missing_a_method_cannot_be_made():
    class HalfDone(Executor):
        def capacity(self):
            return 1, "one"

    with pytest.raises(TypeError):
        HalfDone()


@pytest.mark.parametrize("key, name", [("kind", "evaluate-v9"), ("executor", "moonbase")])
async def test_a_job_this_ffui_does_not_know_fails_saying_so_and_runs_nothing(jobs_db, key, name):
    """A row a newer ffui made (another kind, another executor) is not run as training, locally."""
    db = jobs_db
    run = await create_fake_run(db, "from-the-future", steps=5)
    await fdb.update_training_run(db, run["id"], metadata={**run["metadata"], key: name})
    await manager.schedule(db)
    run = await poll(db, run["id"], ended, "an outcome")
    assert run["status"] == "failed"
    assert f"{key} {name!r}" in run["error_message"] and "upgrade ffui" in run["error_message"]
    assert not Path(run["storage_path"], "events.jsonl").exists()  # no worker ran
    assert (await messages(db, run["id"], "supervisor"))[-1] == f"run failed: {run['error_message']}"
