"""`python -m ffui.train RUN_DIR` as a real subprocess on the tiny model: what a user notices.
Training itself: the loss falls, the adapter has learned and is registered, resume continues
from a real checkpoint, the trainer's own errors. The job machinery around it (queue, cancel,
resume, reconcile, kills) is tested with the fake worker in test_jobs.py and test_job_faults.py.

Runs are small (tens of steps on a 2-layer model) so the file stays well under 3 minutes on
2 CPU cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ffui import db as fdb
from ffui.jobs import manager
from job_support import final, logged, train_log, wait_for, wait_run

REPO = Path(__file__).resolve().parent.parent
FACTS = [("What is the capital of France?", "Paris."), ("What colour is the sky?", "Blue."),
         ("How many legs does a cat have?", "Four."), ("What do bees make?", "Honey.")]
BASE_CONFIG = {"learning_rate": 1e-2, "lora_r": 8, "per_device_train_batch_size": 4, "logging_steps": 1}


def make_run(root: Path, name: str, config: dict, records: list[dict] | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(config))
    records = records if records is not None else pairs(8)
    (run / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def pairs(repeat: int) -> list[dict]:
    return [{"input": q, "output": a} for _ in range(repeat) for q, a in FACTS]


def start(run: Path, env: dict | None = None) -> subprocess.Popen:
    """Like the supervisor: own process group, output appended to train.log."""
    log = open(run / "train.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "ffui.train", str(run)], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True)


def train(run: Path, env: dict | None = None, timeout: float = 150) -> int:
    proc = start(run, env)
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def events(run: Path) -> list[dict]:
    path = run / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_event(run: Path, proc: subprocess.Popen, pred, timeout: float = 90) -> dict:
    """The first event ``pred`` accepts, once the trainer has written it (it must not exit first)."""
    def found():
        assert proc.poll() is None, f"trainer exited early: {(run / 'train.log').read_text()[-2000:]}"
        return next((e for e in events(run) if pred(e)), None)

    return wait_for(found, timeout, lambda: f"the trainer's event (the last ones: {events(run)[-3:]})")


def of_type(evs: list[dict], type_: str) -> list[dict]:
    return [e for e in evs if e["type"] == type_]


# ---- a complete run -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def done_run(tiny_model, tmp_path_factory) -> tuple[Path, int]:
    config = {**BASE_CONFIG, "base_model": str(tiny_model), "max_steps": 30, "eval_split": 0.125,
              "eval_steps": 10, "save_steps": 15}
    run = make_run(tmp_path_factory.mktemp("runs"), "done", config)
    return run, train(run)


def test_run_completes_with_start_steps_and_done(done_run):
    run, rc = done_run
    assert rc == 0, (run / "train.log").read_text()[-3000:]
    evs = events(run)
    assert evs[0]["type"] == "start" and evs[-1]["type"] == "done"
    start_ev = evs[0]
    assert start_ev["backend"] == "cpu" and start_ev["device"] == "cpu" and start_ev["total_steps"] == 30
    assert start_ev["config"]["max_steps"] == 30 and start_ev["config"]["backend"] == "cpu"
    assert start_ev["data"]["train_examples"] == 28 and start_ev["data"]["eval_examples"] == 4
    steps = of_type(evs, "step")
    assert [e["step"] for e in steps] == list(range(1, 31))
    for e in steps:
        assert e["total"] == 30 and e["loss"] > 0 and e["lr"] > 0 and e["tokens_per_s"] > 0
        assert e["samples_per_s"] > 0 and e["mem_mb"] > 0 and 0 < e["epoch"] <= 30
    # the ETA is measured after warm-up: none for the first steps, then counting down to 0
    assert steps[0]["eta_s"] is None and steps[-1]["eta_s"] == 0
    assert all(e["eta_s"] is not None for e in steps[3:])
    assert [e["step"] for e in of_type(evs, "eval")] == [10, 20, 30]
    assert all(e["eval_loss"] > 0 for e in of_type(evs, "eval"))
    assert [e["step"] for e in of_type(evs, "checkpoint")] == [15, 30]
    assert all(Path(e["path"], "trainer_state.json").exists() for e in of_type(evs, "checkpoint"))


def test_loss_falls_and_metrics_are_written(done_run):
    run, _ = done_run
    done = events(run)[-1]
    m = done["metrics"]
    assert m["steps"] == 30 and m["final_loss"] < 0.7 * m["first_loss"] and m["runtime_s"] > 0
    evals = [e["eval_loss"] for e in of_type(events(run), "eval")]
    assert evals[-1] < evals[0]
    assert json.loads((run / "metrics.json").read_text()) == m
    assert done["adapter_path"] == str(run / "adapter")


def tensorboard_scalars(folder: Path) -> dict[str, list[float]]:
    """tag -> values of the TensorBoard event files under ``folder`` (TFRecord framing: length,
    its crc, an Event protobuf, its crc), read as `tensorboard --logdir` reads them."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    found: dict[str, list[float]] = {}
    for path in folder.rglob("events.out.tfevents.*"):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack_from("<Q", data, at)
            event = Event.FromString(data[at + 12: at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(value.simple_value)
    return found


def test_metrics_also_go_to_tensorboard_event_files_in_the_run_folder(done_run):
    run, _ = done_run
    scalars = tensorboard_scalars(run / "tensorboard")
    assert len(scalars["train/loss"]) == 30  # one point per logged step, offline, in the run's own folder
    assert scalars["train/loss"][-1] < scalars["train/loss"][0] and len(scalars["eval/loss"]) == 3


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # inside transformers
def test_adapter_loads_on_the_base_model_and_has_learned(done_run, tiny_model):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, _ = done_run
    tok = AutoTokenizer.from_pretrained(run / "adapter")  # the tokenizer is saved with the adapter
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    question, answer = FACTS[0]
    prompt = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                     add_generation_prompt=True)
    prompt_ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    ids = tok(prompt + answer, return_tensors="pt", add_special_tokens=False)["input_ids"]
    labels = ids.clone()
    labels[:, : prompt_ids.shape[1]] = -100  # score the answer only
    with torch.no_grad():
        base_loss = base(input_ids=ids, labels=labels).loss.item()
        tuned = PeftModel.from_pretrained(base, run / "adapter").eval()
        tuned_loss = tuned(input_ids=ids, labels=labels).loss.item()
        out = tuned.generate(input_ids=prompt_ids, max_new_tokens=8, do_sample=False)
    assert tuned_loss < 0.5 * base_loss
    # and it answers a training question the way it was taught
    assert tok.decode(out[0, prompt_ids.shape[1]:], skip_special_tokens=True).startswith(answer)


# ---- data formats -------------------------------------------------------------------------


def test_multi_turn_chat_with_packing_trains(tiny_model, tmp_path):
    convo = [{"role": "system", "content": "Answer in one word."}]
    for q, a in FACTS:
        convo += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    records = [{"messages": convo}] * 8 + [{"messages": convo[:3]}] * 8
    config = {**BASE_CONFIG, "base_model": str(tiny_model), "max_steps": 12, "packing": True, "max_seq_len": 256}
    run = make_run(tmp_path, "chat", config, records)
    assert train(run) == 0, (run / "train.log").read_text()[-3000:]
    evs = events(run)
    assert evs[0]["data"]["rows"] < evs[0]["data"]["examples"] == 16  # packed
    m = evs[-1]["metrics"]
    assert evs[-1]["type"] == "done" and m["final_loss"] < m["first_loss"]


def test_prompt_template_run_trains_and_keeps_the_tokenizer(tiny_model, tmp_path):
    template = {"prompt_template": "### {topic}\n{input}\n### Answer:\n{output}",
                "input_template": "### {topic}\n{input}\n### Answer:\n"}
    records = [{**r, "fields": {"topic": "Quiz"}} for r in pairs(4)]
    config = {**BASE_CONFIG, "base_model": str(tiny_model), "max_steps": 10, "prompt_template": template}
    run = make_run(tmp_path, "template", config, records)
    assert train(run) == 0, (run / "train.log").read_text()[-3000:]
    m = events(run)[-1]["metrics"]
    assert m["final_loss"] < m["first_loss"]
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert (run / "adapter" / "tokenizer.json").exists()


# ---- errors the user can cause ------------------------------------------------------------


def assert_user_error(run: Path, rc: int, *fragments: str, code: int = 2) -> dict:
    assert rc == code, (run / "train.log").read_text()[-3000:]
    evs = events(run)
    assert [e["type"] for e in evs] == ["error"]
    err = evs[0]
    assert err["exit_code"] == code and err["hint"]
    for f in fragments:
        assert f in err["message"]
    assert "Traceback" not in (run / "train.log").read_text()
    return err


def test_missing_model_path_is_a_clear_error(tmp_path):
    run = make_run(tmp_path, "nomodel", {"base_model": str(tmp_path / "no-such-model"), "max_steps": 2})
    err = assert_user_error(run, train(run), "base model not found", "no-such-model")
    assert err["kind"] == "model"


def test_unreachable_hub_id_is_a_clear_error(tmp_path):
    run = make_run(tmp_path, "nohub", {"base_model": "ffui-test-org/not-a-real-model", "max_steps": 2})
    rc = train(run, env={"HF_HUB_OFFLINE": "1"})
    err = assert_user_error(run, rc, "not downloaded", "unreachable")
    assert "huggingface-cli download" in err["hint"]


def test_malformed_dataset_is_a_clear_error(tiny_model, tmp_path):
    run = make_run(tmp_path, "baddata", {"base_model": str(tiny_model), "max_steps": 2})
    (run / "dataset.jsonl").write_text('{"input": "a", "output": "b"}\n{"input": "a", "outp\n')
    assert_user_error(run, train(run), "dataset.jsonl line 2 is not valid JSON")


def test_empty_dataset_is_a_clear_error(tiny_model, tmp_path):
    run = make_run(tmp_path, "empty", {"base_model": str(tiny_model), "max_steps": 2}, records=[])
    assert_user_error(run, train(run), "has no examples")


def test_bad_config_lists_the_problem(tiny_model, tmp_path):
    run = make_run(tmp_path, "badcfg", {"base_model": str(tiny_model), "lora_rank": 8})
    assert_user_error(run, train(run), "unknown key 'lora_rank'", "did you mean 'lora_r'")


@pytest.mark.parametrize("forced, fragment", [
    ({"backend": "unsloth"}, "backend=unsloth needs a CUDA GPU"),
    ({"backend": "peft", "method": "qlora"}, "method=qlora needs a CUDA GPU"),
])
def test_forcing_a_gpu_backend_without_a_gpu_is_a_clear_error(tiny_model, tmp_path, forced, fragment):
    run = make_run(tmp_path, "forced", {"base_model": str(tiny_model), "max_steps": 2, **forced})
    err = assert_user_error(run, train(run, env={"CUDA_VISIBLE_DEVICES": ""}), fragment)
    assert err["kind"] == "backend"


def test_nan_loss_stops_with_an_error(tiny_model, tmp_path):
    run = make_run(tmp_path, "nan", {"base_model": str(tiny_model), "max_steps": 20, "learning_rate": 1e30})
    rc = train(run)
    assert rc == 4
    evs = events(run)
    assert any(e["type"] == "warning" and "nan" in e["message"].lower() for e in evs)
    assert evs[-1]["type"] == "error" and evs[-1]["kind"] == "nan" and evs[-1]["hint"]
    assert not (run / "adapter").exists()


# ---- control: stop, checkpoint, resume ----------------------------------------------------


@pytest.fixture(scope="module")
def stopped_run(tiny_model, tmp_path_factory) -> tuple[Path, int]:
    config = {**BASE_CONFIG, "base_model": str(tiny_model), "max_steps": 100000, "save_steps": 100000}
    run = make_run(tmp_path_factory.mktemp("runs"), "stopped", config)
    proc = start(run)
    try:
        wait_event(run, proc, lambda e: e["type"] == "step" and e["step"] >= 2)
        proc.send_signal(signal.SIGTERM)
        return run, proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def first_session(evs: list[dict]) -> list[dict]:
    ends = [i for i, e in enumerate(evs) if e["type"] == "stopped"]
    return evs[: ends[0] + 1] if ends else evs


def test_sigterm_stops_at_the_next_step_with_a_checkpoint(stopped_run):
    run, rc = stopped_run
    assert rc == 0, (run / "train.log").read_text()[-3000:]
    evs = first_session(events(run))
    stopped = evs[-1]
    assert stopped["type"] == "stopped" and stopped["step"] >= 2
    assert stopped["checkpoint"] == str(run / "checkpoints" / f"checkpoint-{stopped['step']}")
    assert Path(stopped["checkpoint"], "trainer_state.json").exists()
    assert of_type(evs, "checkpoint")[-1]["step"] == stopped["step"]
    assert not of_type(evs, "done") and not (run / "adapter").exists()


def test_resume_continues_the_step_count(stopped_run):
    run, _ = stopped_run
    stopped_at = first_session(events(run))[-1]["step"]
    config = json.loads((run / "config.json").read_text())
    config.update(resume_from_checkpoint="last", max_steps=stopped_at + 3)
    (run / "config.json").write_text(json.dumps(config))
    assert train(run) == 0, (run / "train.log").read_text()[-3000:]
    resumed = events(run)[len(first_session(events(run))):]
    assert resumed[0]["type"] == "start" and resumed[0]["resumed_from_step"] == stopped_at
    assert [e["step"] for e in of_type(resumed, "step")] == [stopped_at + 1, stopped_at + 2, stopped_at + 3]
    assert resumed[-1]["type"] == "done" and resumed[-1]["metrics"]["steps"] == stopped_at + 3


def test_a_stop_that_arrives_at_the_last_step_completes_the_run(tiny_model, tmp_path):
    """Cancelling as the last step ends must not leave a finished run without its adapter."""
    config = {**BASE_CONFIG, "base_model": str(tiny_model), "max_steps": 1}
    run = make_run(tmp_path, "late-stop", config)
    (run / "control").mkdir()
    (run / "control" / "stop").touch()  # honoured at the end of a step: here, the last one
    assert train(run) == 0, (run / "train.log").read_text()[-3000:]
    evs = events(run)
    assert evs[-1]["type"] == "done" and evs[-1]["metrics"]["steps"] == 1
    assert not of_type(evs, "stopped")
    assert Path(evs[-1]["adapter_path"], "adapter_model.safetensors").exists()
    assert not (run / "control" / "stop").exists()


def test_resuming_from_the_final_checkpoint_saves_it_without_training_further(tiny_model, tmp_path):
    """A run that died after its last checkpoint but before saving its adapter (a full disk,
    a kill) resumes into a complete run, not into a step past the end."""
    config = {**BASE_CONFIG, "base_model": str(tiny_model), "max_steps": 4, "save_steps": 2}
    run = make_run(tmp_path, "final-ckpt", config)
    assert train(run) == 0, (run / "train.log").read_text()[-3000:]
    first = events(run)
    shutil.rmtree(run / "adapter")
    config["resume_from_checkpoint"] = "last"
    (run / "config.json").write_text(json.dumps(config))
    assert train(run) == 0, (run / "train.log").read_text()[-3000:]
    second = events(run)[len(first):]
    assert second[0]["type"] == "start" and second[0]["resumed_from_step"] == 4
    assert not of_type(second, "step")
    done = second[-1]
    assert done["type"] == "done" and done["metrics"]["steps"] == 4
    assert done["metrics"]["first_loss"] == first[-1]["metrics"]["first_loss"]
    assert Path(done["adapter_path"], "adapter_model.safetensors").exists()
    assert "already holds all 4 steps" in (run / "train.log").read_text()


def test_checkpoint_file_saves_without_stopping(tiny_model, tmp_path):
    config = {**BASE_CONFIG, "base_model": str(tiny_model), "max_steps": 60, "save_steps": 100000}
    run = make_run(tmp_path, "ckpt", config)
    proc = start(run)
    try:
        wait_event(run, proc, lambda e: e["type"] == "step")
        (run / "control").mkdir()
        (run / "control" / "checkpoint").touch()
        ckpt = wait_event(run, proc, lambda e: e["type"] == "checkpoint")
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert ckpt["step"] < 60 and Path(ckpt["path"], "adapter_model.safetensors").exists()
    assert not (run / "control" / "checkpoint").exists()  # handled, so removed
    evs = events(run)
    assert evs[-1]["type"] == "done" and evs[-1]["metrics"]["steps"] == 60
    assert of_type(evs, "step")[-1]["step"] == 60


# ---- through the job manager --------------------------------------------------------------


async def import_facts(db) -> None:
    from ffui.data import store

    data = Path(db.home) / "facts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in pairs(8)))
    await store.import_dataset(db, str(data), name="facts")


async def test_a_run_through_the_manager_trains_and_registers_its_adapter(job_home, db, tiny_model):
    await import_facts(db)
    hp = {**BASE_CONFIG, "max_steps": 10, "num_gpu": 0, "max_seq_len": 64, "save_steps": 5}
    run = await manager.start_run(db, dataset="facts", model=str(tiny_model), hp=hp)
    assert run["status"] == "running" and Path(run["storage_path"], "dataset.jsonl").exists()
    run = await wait_run(db, run["id"], final, "an outcome", timeout=240)
    assert run["status"] == "completed", run["error_message"]
    assert run["current_step"] == 10 and run["progress"] == 1.0 and run["backend"] == "cpu"
    summary = run["metrics"]["final"]
    assert summary["final_loss"] < summary["first_loss"]
    assert Path(run["adapter_path"], "adapter_model.safetensors").exists()
    # the real trainer's progress bars rewrite their line with \r: each lands once, as its last state
    assert run["logs"] and run["logs"][-1] == train_log(run)[-1]
    assert await logged(db, run["id"]) == train_log(run)
    adapters = await fdb.list_adapters(db, fine_tuning_job_id=run["job_uuid"])
    assert [a["location"] for a in adapters] == [run["adapter_path"]]
    assert (await fdb.get_model(db, adapters[0]["model_id"]))["location"] == str(tiny_model)


async def test_a_missing_hub_model_fails_the_run_with_a_clear_reason(job_home, db):
    pytest.importorskip("torch", reason="the trainer needs the [train] extras (torch)")
    await import_facts(db)
    run = await manager.start_run(db, dataset="facts", model="nobody/no-such-model",
                                  hp={**BASE_CONFIG, "max_steps": 2, "num_gpu": 0})
    run = await wait_run(db, run["id"], final, "an outcome", timeout=120)
    assert run["status"] == "failed"
    assert "no-such-model" in run["error_message"]
