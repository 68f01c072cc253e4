"""Several trainer processes through `accelerate launch`: the command, the run's lock under a
launcher, and ONE real end-to-end run of the tiny model with 2 CPU processes (gloo) as a detached
job: one event stream, one adapter, checkpoint-now, and a cancel that leaves no rank behind.

The lock tests run real processes (a launcher holding the lock, ranks with RANK/LOCAL_RANK set)
and need no torch; the training test is the one slow test here (it trains twice: cancelled,
then resumed to the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffui import db as fdb
from ffui import procs
from ffui.jobs import manager
from ffui.train import worker_lock
from ffui.train.config import ConfigError, TrainConfig
from ffui.train.launch import build_trainer_command
from procs_support import until

HOLD = ("import os, sys; from ffui.train import worker_lock as w; fd = w.hold(sys.argv[1]); "
        "print('none' if fd is None else ('rank' if fd == -1 else 'held'), flush=True); sys.stdin.read()")


def holder(run_dir: Path, env: dict | None = None, pass_fds: tuple[int, ...] = (), own_group: bool = True
           ) -> subprocess.Popen:
    """A process that runs the worker's first act (``hold``) and then waits for its stdin to close:
    in a process group of its own, as the supervisor starts a worker, or (a rank) in this one."""
    full = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", worker_lock.FD_ENV)}
    return subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**full, **(env or {})}, pass_fds=pass_fds, start_new_session=own_group)


def said(proc: subprocess.Popen) -> str:
    return proc.stdout.readline().strip()


def done(*procs_: subprocess.Popen) -> None:
    for p in procs_:
        p.stdin.close()
        p.wait(30)


# ---- the command ----------------------------------------------------------------------------


def test_cpu_processes_launch_through_accelerate_on_gloo():
    cmd = build_trainer_command("/runs/r1", 0, python="/venv/bin/python", num_processes=2)
    from accelerate.commands.launch import launch_command_parser

    args = launch_command_parser().parse_args(cmd[3:])
    assert args.num_processes == 2 and args.multi_gpu and not args.cpu  # torch.distributed.run
    assert args.training_script == "ffui.train" and args.training_script_args == ["/runs/r1"]


@pytest.mark.parametrize("distributed, flag", [("ddp", "multi_gpu"), ("fsdp", "use_fsdp"),
                                               ("deepspeed", "use_deepspeed")])
def test_the_distributed_choice_reaches_accelerate(distributed, flag):
    cmd = build_trainer_command("/runs/r1", 4, distributed=distributed)
    from accelerate.commands.launch import launch_command_parser

    args = launch_command_parser().parse_args(cmd[3:])
    assert getattr(args, flag) and args.num_processes == 4


def test_one_process_is_the_plain_trainer():
    assert build_trainer_command("/runs/r1", 0, python="py", num_processes=1) == ["py", "-m", "ffui.train", "/runs/r1"]


def test_a_run_on_every_visible_gpu_launches_one_rank_per_gpu(monkeypatch):
    from ffui.jobs.kinds.training import TrainingKind

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    cmd = TrainingKind().command({"storage_path": "/runs/r1", "num_gpu": -1, "hp": {"num_gpu": -1}})
    assert cmd[cmd.index("--num_processes") + 1] == "3" and "--multi_gpu" in cmd
    cpu = TrainingKind().command({"storage_path": "/runs/r1", "num_gpu": 0,
                                  "hp": {"num_gpu": 0, "num_processes": 2, "distributed": "ddp"}})
    assert cpu[cpu.index("--num_processes") + 1] == "2"


@pytest.mark.parametrize("config, fragment", [
    ({"num_gpu": 2, "num_processes": 3}, "num_processes must be 0 or num_gpu (2)"),
    ({"num_gpu": 0, "distributed": "fsdp"}, "distributed=fsdp needs CUDA GPUs"),
    ({"distributed": "zero3"}, "distributed must be one of 'ddp', 'fsdp', 'deepspeed'"),
])
def test_impossible_distributed_settings_are_one_line_each(config, fragment):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"base_model": "m", **config})
    assert any(fragment in p for p in e.value.problems), e.value.problems


# ---- the run's lock under a launcher ---------------------------------------------------------


def test_a_second_worker_on_a_locked_run_does_nothing(tmp_path):
    first = holder(tmp_path)
    assert said(first) == "held" and worker_lock.held(tmp_path)
    second = holder(tmp_path)
    assert said(second) == "none"
    assert worker_lock.read_owner(tmp_path)["pid"] == first.pid  # the second one wrote nothing
    done(first, second)
    assert not worker_lock.held(tmp_path)


def test_under_a_launcher_rank0_names_the_launcher_and_other_ranks_stay_out(tmp_path):
    """The supervisor's locked descriptor goes to the launcher, which keeps the lock for the ranks'
    life. torch's launcher starts each rank in a session of its own, so rank 0 must write the
    launcher (its parent: here, this test) as the one to follow, not itself; other ranks write
    nothing."""
    fd = worker_lock.try_lock(tmp_path)
    worker_lock.clear_owner(fd)
    # the lock's other holder: started like the supervisor starts a worker, with the locked descriptor
    keeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                              pass_fds=(fd,), start_new_session=True)
    os.close(fd)
    try:
        assert worker_lock.held(tmp_path)  # the keeper holds it now, not this test
        rank1 = holder(tmp_path, {"RANK": "1", "LOCAL_RANK": "1"})
        assert said(rank1) == "rank" and worker_lock.read_owner(tmp_path) == {}
        rank0 = holder(tmp_path, {"RANK": "0", "LOCAL_RANK": "0"})
        assert said(rank0) == "held"
        owner = worker_lock.read_owner(tmp_path)
        assert (owner["pid"], owner["pgid"]) == (os.getpid(), os.getpgrp())  # the launcher, not rank 0
        assert procs.identity_alive(owner)
        done(rank0, rank1)
        assert worker_lock.held(tmp_path)  # ranks ending do not free it while the launcher lives
    finally:
        keeper.stdin.close()
        keeper.wait(30)
    assert not worker_lock.held(tmp_path)


RANK = ("import sys, time; from ffui.train import distributed; distributed.die_with_launcher(); "
        "print('ready', flush=True); time.sleep(300)")
LAUNCHER = ("import os, subprocess, sys; r = subprocess.Popen([sys.executable, '-c', sys.argv[1]], start_new_session=True, "
            "env={**os.environ, 'RANK': '1', 'LOCAL_RANK': '1'}); print(r.pid, flush=True); r.wait()")


def test_a_rank_dies_with_its_killed_launcher():
    """A rank lives in a session of its own (torch's launcher puts it there), out of reach of the
    SIGKILL to the launcher's group that ends a cancelled run after its grace: it must die
    with the launcher instead of training on, unseen."""
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, RANK], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
    rank = int(launcher.stdout.readline())
    try:
        assert launcher.stdout.readline().strip() == "ready"
        os.killpg(launcher.pid, 9)  # what the local executor's kill does
        launcher.wait(30)
        until(lambda: not procs.alive(rank), 30, "the orphaned rank to die")
    finally:
        procs.signal_pid(rank, 9)


def test_a_launch_by_hand_on_a_run_whose_worker_runs_does_nothing(tmp_path):
    first = holder(tmp_path)
    assert said(first) == "held"
    rank0 = holder(tmp_path, {"RANK": "0", "LOCAL_RANK": "0"})
    assert said(rank0) == "none"
    assert worker_lock.read_owner(tmp_path)["pid"] == first.pid  # still the running worker's
    done(first, rank0)
    alone = holder(tmp_path, {"RANK": "0", "LOCAL_RANK": "0"})  # no worker now: rank 0 takes the lock
    assert said(alone) == "held" and worker_lock.held(tmp_path)
    done(alone)


def test_a_descriptor_number_that_is_not_the_runs_lock_is_not_trusted(tmp_path):
    """FFUI_WORKER_LOCK_FD comes from the environment: a rank whose launcher closed the descriptor
    (or reused its number for another file) must take the lock itself, not trust the number."""
    other = os.open(tmp_path / "other", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        proc = holder(tmp_path, {worker_lock.FD_ENV: str(other)}, pass_fds=(other,))
        assert said(proc) == "held" and worker_lock.held(tmp_path)
        assert worker_lock.read_owner(tmp_path)["pid"] == proc.pid
        done(proc)
    finally:
        os.close(other)


# ---- one real run: 2 CPU processes, as a detached job ------------------------------------------


def rank_pids(run_dir: Path) -> list[int]:
    """Every live process that trains ``run_dir``: the launcher and its ranks."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and not procs.is_zombie(int(entry.name)):
            line = procs.cmdline(int(entry.name))
            if "ffui.train" in line and str(run_dir) in line:
                found.append(int(entry.name))
    return found


def steps_since_last_start(evs: list[dict]) -> list[int]:
    last_start = max(i for i, e in enumerate(evs) if e["type"] == "start")
    return [e["step"] for e in evs[last_start:] if e["type"] == "step"]


async def test_two_cpu_processes_train_one_run_checkpoint_cancel_and_resume(job_home, db, tiny_model):
    """The multi-process path for real: a detached run of 2 gloo ranks writes ONE event stream
    and ONE log (rank 0's), saves a checkpoint when asked, leaves no rank behind when a cancel
    kills it, and resumes from that checkpoint to one adapter."""
    from ffui.data import store
    from ffui.jobs import runs
    from job_support import events, final, train_log, wait_for, wait_run

    data = job_home / "facts.jsonl"
    facts = [("What is the capital of France?", "Paris."), ("What colour is the sky?", "Blue."),
             ("How many legs does a cat have?", "Four."), ("What do bees make?", "Honey.")]
    data.write_text("".join(json.dumps({"input": q, "output": a}) + "\n" for _ in range(8) for q, a in facts))
    await store.import_dataset(db, str(data), name="facts")
    hp = {"num_gpu": 0, "num_processes": 2, "max_steps": 150, "save_steps": 1000, "lora_r": 8,
          "per_device_train_batch_size": 2, "max_seq_len": 64, "logging_steps": 1, "learning_rate": 1e-2}
    run = await manager.start_run(db, dataset="facts", model=str(tiny_model), hp=hp)
    run_dir = Path(run["storage_path"])
    run = await wait_run(db, run["id"], lambda r: (r.get("current_step") or 0) >= 2, "its first steps", timeout=240)
    assert len(rank_pids(run_dir)) == 3, "a launcher and 2 ranks"
    assert worker_lock.read_owner(run_dir)["pid"] == run["trainer_pid"]  # rank 0 named the launcher

    await manager.request_checkpoint(db, run["id"])
    saved = wait_for(lambda: next((e for e in events(run) if e["type"] == "checkpoint"), None), 120,
                     "the checkpoint asked for")
    assert Path(saved["path"], "adapter_model.safetensors").exists()

    run = await manager.cancel_run(db, run["id"], grace_s=0)  # no grace: the launcher's group is killed
    assert run["status"] == "cancelled"
    wait_for(lambda: not rank_pids(run_dir), 30, lambda: f"every rank to end (left: {rank_pids(run_dir)})")

    await runs.resume_run(db, run["id"], None, start=True)
    run = await wait_run(db, run["id"], final, "an outcome after the resume", timeout=300)
    assert run["status"] == "completed", run["error_message"]
    evs = events(run)
    assert [e["type"] for e in evs].count("start") == 2  # one per attempt, not one per rank
    steps = steps_since_last_start(evs)
    assert steps == list(range(saved["step"] + 1, 151))  # each step once: rank 1 wrote none
    log = train_log(run)
    last_start = max(i for i, line in enumerate(log) if line.startswith("start: "))
    step_lines = [line for line in log[last_start:] if line.startswith("step ")]
    assert len(step_lines) == len(steps), "every step line once in train.log (rank 0's)"
    adapters = await fdb.list_adapters(db, fine_tuning_job_id=run["job_uuid"])
    assert [a["location"] for a in adapters] == [run["adapter_path"]]
    assert Path(run["adapter_path"], "adapter_model.safetensors").exists()
    assert not rank_pids(run_dir)


def test_a_rank_failing_ends_the_launch_with_its_own_status_and_one_line(tmp_path):
    """Both ranks refuse a missing base model (exit 2, a user error): the launch exits 2 too, not
    torch's 1 with a traceback, so the run fails with the trainer's own words and hint."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"base_model": str(tmp_path / "no-such-model"), "num_gpu": 0,
                                                     "num_processes": 2, "max_steps": 2}))
    (run_dir / "dataset.jsonl").write_text(json.dumps({"input": "a", "output": "b"}) + "\n")
    proc = subprocess.run(build_trainer_command(run_dir, 0, num_processes=2), cwd=run_dir, capture_output=True,
                          text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 2, log
    assert "launcher: rank 0 ended with exit status 2" in log and "Traceback" not in log
    errors = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in errors] == ["error"] and "base model not found" in errors[0]["message"]
