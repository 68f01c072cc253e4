"""The supervisor's tailing and outcome logic on files a trainer left behind (no trainer running)."""

import json
from pathlib import Path

from ffui import db as fdb
from ffui.jobs.supervisor import supervise
from job_support import logged
from procs_support import dead_pid


async def orphan_run(db, lines, events, partial=""):
    run = await fdb.create_training_run(db, "orphan", base_model="/m", hp={"method": "lora"})
    run_dir = Path(run["storage_path"])
    (run_dir / "train.log").write_text("".join(line + "\n" for line in lines) + partial)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    await fdb.update_training_run(db, run["id"], status="running", trainer_pid=dead_pid())
    return run


async def test_a_trainer_that_ended_unseen_is_finalised_from_its_files(db):
    lines = [f"step {i} loss {1 / (i + 1):.3f}" for i in range(1, 1201)]
    events = [{"type": "start", "backend": "cpu", "total_steps": 1200}] + [
        {"type": "step", "step": i, "total": 1200, "loss": 1 / (i + 1)} for i in range(1, 1201)]
    run = await orphan_run(db, lines, events, partial="last line without newline")
    await supervise(str(db.path), str(db.home), run["id"])
    run = await fdb.get_training_run(db, run["id"])
    assert run["status"] == "failed" and "no supervisor was watching" in run["error_message"]
    assert await logged(db, run["id"]) == lines + ["last line without newline"]
    assert len(run["logs"]) == 500 and run["logs"][-1] == "last line without newline"  # the LAST 500
    assert run["current_step"] == 1200 and run["backend"] == "cpu" and run["progress"] == 1.0
    # a second supervisor (say, after a reconcile race) adds nothing
    await fdb.update_training_run(db, run["id"], status="running", supervisor_pid=None)
    await supervise(str(db.path), str(db.home), run["id"])
    assert len(await logged(db, run["id"])) == 1201


async def test_done_event_completes_and_registers_the_adapter(db):
    events = [{"type": "start", "backend": "cpu", "total_steps": 2},
              {"type": "step", "step": 2, "total": 2, "loss": 0.5},
              {"type": "done", "adapter_path": "/runs/x/adapter", "metrics": {"final_loss": 0.5}}]
    run = await orphan_run(db, ["hello"], events)
    await supervise(str(db.path), str(db.home), run["id"])
    run = await fdb.get_training_run(db, run["id"])
    assert run["status"] == "completed" and run["adapter_path"] == "/runs/x/adapter"
    adapter = await fdb.get_adapter(db, run["adapter_id"])
    assert adapter["fine_tuning_job_id"] == run["job_uuid"] and adapter["location"] == "/runs/x/adapter"


async def test_secret_values_printed_by_a_trainer_are_redacted(db):
    await fdb.set_setting(db, "huggingface.token", "hf_LEAKYtoken12345")
    events = [{"type": "error", "message": "401 for token hf_LEAKYtoken12345", "hint": "check the token"}]
    run = await orphan_run(db, ["using token hf_LEAKYtoken12345 to download"], events)
    await supervise(str(db.path), str(db.home), run["id"])
    text = " ".join(r["message"] for r in await db.fetchall("SELECT message FROM app_logs"))
    assert "hf_LEAKYtoken12345" not in text and "***" in text
    row = await db.fetchone("SELECT * FROM training_runs WHERE id = ?", (run["id"],))
    assert "hf_LEAKYtoken12345" not in json.dumps(row) and "***" in row["error_message"]


async def test_a_replacement_supervisor_knows_the_done_its_predecessor_ingested(db):
    """The old supervisor committed `done` and died before recording the outcome; a cancel
    then arrived. The run finished and saved its adapter: it is completed, not failed or cancelled."""
    events = [{"type": "start", "backend": "cpu", "total_steps": 2},
              {"type": "stopped", "step": 1, "checkpoint": "/runs/x/checkpoints/checkpoint-1"},
              {"type": "start", "backend": "cpu", "total_steps": 2, "resumed_from_step": 1},
              {"type": "step", "step": 2, "total": 2, "loss": 0.5},
              {"type": "done", "adapter_path": "/runs/x/adapter", "metrics": {"final_loss": 0.5}}]
    run = await orphan_run(db, ["hello"], events)
    size = (Path(run["storage_path"]) / "events.jsonl").stat().st_size
    await fdb.update_training_run(db, run["id"], events_offset=size, metadata={"cancel_requested": 1.0})
    await supervise(str(db.path), str(db.home), run["id"])
    run = await fdb.get_training_run(db, run["id"])
    assert run["status"] == "completed", run["error_message"]
    assert (await fdb.get_adapter(db, run["adapter_id"]))["location"] == "/runs/x/adapter"


async def test_a_trainers_error_is_one_log_line_not_two(db):
    """The trainer prints its error to train.log (which becomes log lines) and writes it as an
    event; the event's copy made the Logs screen show every failure twice."""
    error = {"type": "error", "message": "model /m not found", "hint": "give a local path or a hub id"}
    printed = "error: model /m not found (give a local path or a hub id)"  # as ffui.train.runner prints it
    run = await orphan_run(db, ["start", printed], [{"type": "start", "backend": "cpu", "total_steps": 2}, error])
    await supervise(str(db.path), str(db.home), run["id"])
    rows = await db.fetchall("SELECT message FROM app_logs WHERE run_id = ? AND message LIKE '%model /m not found%'",
                             (run["id"],))
    assert [r["message"] for r in rows] == [printed]
    run = await fdb.get_training_run(db, run["id"])
    assert run["status"] == "failed" and run["error_message"] == "model /m not found (give a local path or a hub id)"
