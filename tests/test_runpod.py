"""Training on RunPod pods, end to end against tests/fakerunpod.py: the real runpod SDK, the real
supervisor and pod agent, pods that are processes here. Runs use the fake worker (the job
machinery, in seconds) except the one that trains the tiny model through `ffui train --on runpod`.

Each test ends with no pod left on the fake account: every way a run ends terminates its pod.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import uuid
from pathlib import Path

import pytest

from ffui import db as fdb
from ffui.db import export_database
from ffui.jobs.fake_worker import create_fake_run
from ffui.jobs.manager import cancel_run, reconcile, resume_run
from ffui.jobs.scheduler import schedule
from conftest import run_ffui
from fakerunpod import FakeRunPod
from job_support import final, kill_supervisor, until, wait_run

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def fake(monkeypatch):
    with FakeRunPod() as f:
        monkeypatch.setenv("RUNPOD_API_BASE_URL", f.url)
        monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
        yield f


@pytest.fixture
def ffui(job_home):
    """The real `ffui` console script on this test's home."""
    return functools.partial(run_ffui, home=job_home)


@pytest.fixture
async def pod_db(job_home, db, fake):
    for key, value in {"runpod.api_key": fake.key, "runpod.proxy_url": fake.proxy_url,
                       "runpod.capacity_backoff_s": "0", "runpod.cost_poll_s": "0.5"}.items():
        await fdb.set_setting(db, key, value)
    yield db


async def pod_run(db, *, gpus=("NVIDIA A40",), max_cost=None, image="runpod/pytorch:test", **fake_options) -> dict:
    """A queued fake-worker run on RunPod, started."""
    run = await create_fake_run(db, "podrun", **fake_options)
    await fdb.update_training_run(db, run["id"], metadata={"kind": "fake", "executor": "runpod", "runpod": {
        "gpus": list(gpus), "gpu_count": 1, "cloud": "ALL", "max_cost": max_cost, "image": image}})
    await schedule(db)
    return run


async def ended(db, run_id: int, timeout: float = 120) -> dict:
    return await wait_run(db, run_id, final, "an outcome", timeout)


def no_pods_left(fake: FakeRunPod) -> None:
    until(lambda: not fake.pods, 30, lambda: f"the pods to be terminated: {list(fake.pods)} left")


async def supervisor_lines(db, run_id: int) -> str:
    rows = await db.fetchall("SELECT message FROM app_logs WHERE run_id = ? ORDER BY id", (run_id,))
    return "\n".join(r["message"] for r in rows)


# ---- the API, the key and `ffui pods` ---------------------------------------------------


def test_pods_list_shows_orphans_and_terminate_ends_them(job_home, fake, ffui):
    assert ffui("settings", "set", "runpod.api_key", input=fake.key + "\n").returncode == 0
    orphan = fake.create({"name": f"ffui-{uuid.uuid4()}", "imageName": "img", "gpuTypeId": "NVIDIA A40"})
    fake.create({"name": "someone-elses-pod", "imageName": "img", "gpuTypeId": "NVIDIA A40"})

    listed = ffui("pods", "list")
    assert listed.returncode == 0, listed.stderr
    assert orphan.id in listed.stdout and "no run in this home" in listed.stdout and "ORPHAN" in listed.stdout
    assert "someone-elses-pod" not in listed.stdout  # not ffui's: never listed, never terminated

    refused = ffui("pods", "terminate", "--orphans")  # no terminal: a destructive step needs --yes
    assert refused.returncode != 0 and "--yes" in refused.stderr and orphan.id in fake.pods

    done = ffui("pods", "terminate", "--orphans", "--yes")
    assert done.returncode == 0, done.stderr
    assert orphan.id not in fake.pods and len(fake.pods) == 1
    assert "no ffui pods" in ffui("pods", "list").stdout
    # the key went in the Authorization header, never a URL
    graphql = [r for r in fake.requests if r["path"].startswith("/graphql")]
    assert graphql and all(r["authorization"] == f"Bearer {fake.key}" for r in graphql)
    assert not any(fake.key in r["path"] for r in fake.requests)


def test_a_wrong_or_missing_key_is_one_line(job_home, fake, ffui):
    missing = ffui("pods", "list")
    assert missing.returncode == 1 and "no RunPod API key" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr
    ffui("settings", "set", "runpod.api_key", input="rp_wrong_key\n")
    wrong = ffui("pods", "list")
    assert wrong.returncode == 1 and "RunPod refused the API key" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1 and "rp_wrong_key" not in wrong.stderr


async def test_every_ffui_start_warns_about_an_orphan_pod(pod_db, fake, ffui):
    run = await create_fake_run(pod_db, "podrun")  # a home that has trained on RunPod
    await fdb.update_training_run(pod_db, run["id"], status="cancelled", metadata={"kind": "fake", "executor": "runpod"})
    orphan = fake.create({"name": f"ffui-{run['job_uuid']}", "imageName": "img", "gpuTypeId": "NVIDIA A40"})
    warned = ffui("runs", "list")
    assert warned.returncode == 0, warned.stderr
    assert "1 RunPod pod of ffui belongs to no running run ($0.39/hr)" in warned.stderr, warned.stderr
    assert "ffui pods terminate --orphans" in warned.stderr and orphan.id in fake.pods
    listed = ffui("pods", "list").stdout
    assert f"run {run['id']} 'podrun' (cancelled)" in listed and "ORPHAN" in listed


def ffui_train_on_pod(ffui, home: Path, model: Path, *options: str) -> str:
    """Import a small dataset and start `ffui train --on runpod`; the run's id."""
    data = home / "pairs.jsonl"
    data.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(12)))
    imported = ffui("data", "import", data, "--name", "pairs")
    assert imported.returncode == 0, imported.stderr
    started = ffui("train", "-d", "pairs", "-m", model, "--on", "runpod", "--set", "max_steps=4",
                   "--set", "save_steps=2", *options)
    assert started.returncode == 0, started.stderr
    assert "on RunPod" in started.stdout
    return started.stdout.split()[1]


# ---- a run through a pod ------------------------------------------------------------------


async def test_a_run_completes_on_a_pod_with_its_adapter_home_and_no_pod_left(pod_db, fake, ffui):
    run = await pod_run(pod_db, steps=6, step_s=0.05, save_steps=3)
    done = await ended(pod_db, run["id"])
    assert done["status"] == "completed", done.get("error_message")
    run_dir = Path(done["storage_path"])
    assert (run_dir / "adapter" / "adapter_config.json").is_file()  # brought home
    assert (run_dir / "checkpoints" / "checkpoint-6" / "state.json").is_file()
    adapter = await pod_db.fetchone("SELECT location FROM adapters WHERE fine_tuning_job_id = ?", (done["job_uuid"],))
    assert adapter["location"] == str(run_dir / "adapter")  # the local path, not the pod's
    assert done["pod_stage"] == "terminated" and done["pod_gpu"] == "NVIDIA A40"
    assert done["pod_cost_per_hr"] == pytest.approx(0.39) and done["pod_cost"] is not None
    assert done["current_step"] == 6
    no_pods_left(fake)
    logged = await pod_db.fetchall("SELECT message FROM app_logs WHERE run_id = ? AND source = 'train'", (run["id"],))
    steps = [r["message"] for r in logged if r["message"].startswith("step ")]
    assert len(steps) == 6 and len(set(steps)) == 6  # the pod's train.log, each line once
    # the per-run agent token reached the pod's env only: no log line, no event shows it
    token = done["pod_agent_token"]
    assert token and token not in await supervisor_lines(pod_db, run["id"])
    assert token not in (run_dir / "events.jsonl").read_text() and token not in (run_dir / "train.log").read_text()
    await export_database(pod_db, run_dir.parent / "export.json")
    assert token not in (run_dir.parent / "export.json").read_text()  # nor an export
    shown = ffui("runs", "show", run["id"], "--json")
    assert shown.returncode == 0 and '"pod_stage": "terminated"' in shown.stdout and token not in shown.stdout


async def test_pods_take_no_slot_of_this_machine(pod_db, fake):
    await fdb.set_setting(pod_db, "jobs.max_concurrent", "1")
    local = await create_fake_run(pod_db, "local", steps=10**6, step_s=0.1)
    await schedule(pod_db)
    queued = await create_fake_run(pod_db, "local-2")
    on_pod = await pod_run(pod_db, steps=2)
    assert (await fdb.get_training_run(pod_db, queued["id"]))["status"] == "pending"  # the limit holds locally
    done = await ended(pod_db, on_pod["id"])  # the pod's run did not wait for the local slot
    assert done["status"] == "completed", done.get("error_message")
    assert (await fdb.get_training_run(pod_db, local["id"]))["status"] == "running"
    await cancel_run(pod_db, local["id"])
    no_pods_left(fake)


def test_pod_options_without_on_runpod_are_refused(job_home, ffui):
    r = ffui("train", "-d", "x", "-m", "y", "--gpu", "NVIDIA A40")
    assert r.returncode != 0 and "are for --on runpod" in r.stderr and "Traceback" not in r.stderr


async def test_the_users_key_never_reaches_the_pod(pod_db, fake):
    run = await pod_run(pod_db, steps=40, step_s=0.1)
    await wait_run(pod_db, run["id"], lambda r: (r.get("current_step") or 0) >= 1, "a step", 60)
    pod = next(iter(fake.pods.values()))
    assert fake.key not in json.dumps(pod.env) and fake.key not in pod.docker_args
    assert pod.name == f"ffui-{run['job_uuid']}"
    await cancel_run(pod_db, run["id"])
    no_pods_left(fake)


async def test_no_capacity_falls_back_to_the_next_gpu_type(pod_db, fake):
    fake.capacity["NVIDIA A40"] = 0
    run = await pod_run(pod_db, gpus=("NVIDIA A40", "NVIDIA L40S"), steps=3)
    done = await ended(pod_db, run["id"])
    assert done["status"] == "completed", done.get("error_message")
    assert done["pod_gpu"] == "NVIDIA L40S"
    assert "got a NVIDIA L40S instead of a NVIDIA A40" in await supervisor_lines(pod_db, run["id"])
    no_pods_left(fake)


async def test_no_capacity_anywhere_fails_saying_what_to_try(pod_db, fake):
    fake.capacity.update({"NVIDIA A40": 0, "NVIDIA L40S": 0})
    await fdb.set_setting(pod_db, "runpod.capacity_rounds", "2")
    run = await pod_run(pod_db, gpus=("NVIDIA A40", "NVIDIA L40S"))
    done = await ended(pod_db, run["id"])
    assert done["status"] == "failed" and "no free NVIDIA A40 or NVIDIA L40S" in done["error_message"]
    assert "--gpu-fallback" in done["error_message"] and not fake.pods


async def test_a_create_that_fails_after_making_the_pod_leaves_no_pod(pod_db, fake):
    fake.fail_after_create = True
    run = await pod_run(pod_db)
    done = await ended(pod_db, run["id"])
    assert done["status"] == "failed" and "RunPod refused the request" in done["error_message"]
    no_pods_left(fake)
    assert len(fake.terminated) == 1  # found by its name and terminated


async def test_a_pod_made_by_a_supervisor_killed_before_recording_it_is_terminated(pod_db, fake):
    run = await create_fake_run(pod_db, "podrun", steps=3)
    leftover = fake.create({"name": f"ffui-{run['job_uuid']}", "imageName": "img", "gpuTypeId": "NVIDIA A40"})
    await fdb.update_training_run(pod_db, run["id"], metadata={"kind": "fake", "executor": "runpod", "runpod": {
        "gpus": ["NVIDIA A40"], "gpu_count": 1, "cloud": "ALL", "max_cost": None, "image": "img"}})
    await schedule(pod_db)
    done = await ended(pod_db, run["id"])
    assert done["status"] == "completed", done.get("error_message")
    assert leftover.id in fake.terminated and done["pod_id"] != leftover.id
    no_pods_left(fake)


async def test_an_image_that_never_starts_fails_at_its_deadline(pod_db, fake):
    fake.never_start.add("huge/image:1")
    await fdb.set_setting(pod_db, "runpod.start_deadline_s", "2")
    run = await pod_run(pod_db, image="huge/image:1")
    done = await ended(pod_db, run["id"])
    assert done["status"] == "failed" and "did not start within" in done["error_message"]
    assert "runpod.start_deadline_s" in done["error_message"]
    no_pods_left(fake)


async def test_a_pod_that_vanishes_mid_run_fails_keeping_what_was_fetched(pod_db, fake):
    run = await pod_run(pod_db, steps=200, step_s=0.1, save_steps=2)
    await wait_run(pod_db, run["id"], lambda r: Path(r["storage_path"], "checkpoints", "checkpoint-2").is_dir(),
                   "its first checkpoint home", 90)
    fake.vanish(next(iter(fake.pods)))
    done = await ended(pod_db, run["id"])
    assert done["status"] == "failed" and "is gone" in done["error_message"]
    assert (Path(done["storage_path"]) / "checkpoints" / "checkpoint-2" / "state.json").is_file()
    assert done["pod_stage"] == "terminated"


async def test_an_agent_answering_5xx_for_a_while_is_retried(pod_db, fake):
    run = await pod_run(pod_db, steps=30, step_s=0.1)
    await wait_run(pod_db, run["id"], lambda r: (r.get("current_step") or 0) >= 2, "a step", 60)
    fake.proxy_errors[next(iter(fake.pods))] = 15
    done = await ended(pod_db, run["id"])
    assert done["status"] == "completed", done.get("error_message")
    assert done["current_step"] == 30
    no_pods_left(fake)


async def test_an_agent_that_keeps_answering_5xx_fails_the_run(pod_db, fake):
    await fdb.set_setting(pod_db, "runpod.unreachable_s", "3")
    run = await pod_run(pod_db, steps=300, step_s=0.1)
    await wait_run(pod_db, run["id"], lambda r: (r.get("current_step") or 0) >= 2, "a step", 60)
    fake.proxy_errors[next(iter(fake.pods))] = 10**6
    done = await ended(pod_db, run["id"])
    assert done["status"] == "failed" and "HTTP 502" in done["error_message"]
    no_pods_left(fake)


# ---- cancel, resume, kill -9, cost, the pod ending itself ----------------------------------


async def test_cancel_while_training_brings_the_checkpoint_home_and_resume_takes_a_new_pod(pod_db, fake):
    run = await pod_run(pod_db, steps=12, step_s=0.2)
    await wait_run(pod_db, run["id"], lambda r: (r.get("current_step") or 0) >= 3, "step 3", 60)
    first_pod = (await fdb.get_training_run(pod_db, run["id"]))["pod_id"]
    cancelled = await cancel_run(pod_db, run["id"])
    assert cancelled["status"] == "cancelled"
    no_pods_left(fake)
    steps = [int(p.name.split("-")[1]) for p in (Path(run["storage_path"]) / "checkpoints").iterdir()]
    assert steps and max(steps) >= 3  # the stop's checkpoint, home
    await resume_run(pod_db, run["id"])
    await schedule(pod_db)
    done = await ended(pod_db, run["id"])
    assert done["status"] == "completed", done.get("error_message")
    assert done["pod_id"] != first_pod and done["current_step"] == 12
    no_pods_left(fake)


async def test_cancel_while_the_image_is_pulling_ends_the_pod(pod_db, fake):
    fake.never_start.add("slow/image:1")
    run = await pod_run(pod_db, image="slow/image:1")
    await wait_run(pod_db, run["id"], lambda r: r.get("pod_id"), "a pod", 60)
    assert (await fdb.get_training_run(pod_db, run["id"]))["pod_stage"] == "pulling the image"
    cancelled = await cancel_run(pod_db, run["id"])
    assert cancelled["status"] == "cancelled" and cancelled["pod_stage"] == "terminated"
    no_pods_left(fake)


async def test_kill_9_of_the_supervisor_mid_run_loses_and_repeats_no_line(pod_db, fake):
    run = await pod_run(pod_db, steps=25, step_s=0.1)
    live = await wait_run(pod_db, run["id"], lambda r: (r.get("current_step") or 0) >= 5, "step 5", 60)
    kill_supervisor(live)
    await reconcile(pod_db)  # what the next `ffui` start does
    done = await ended(pod_db, run["id"])
    assert done["status"] == "completed", done.get("error_message")
    logged = await pod_db.fetchall("SELECT message FROM app_logs WHERE run_id = ? AND source = 'train'", (run["id"],))
    steps = [r["message"] for r in logged if r["message"].startswith("step ")]
    assert len(steps) == 25 and len(set(steps)) == 25
    assert "following trainer pod" in await supervisor_lines(pod_db, run["id"])
    no_pods_left(fake)


async def test_max_cost_stops_the_run_with_its_checkpoint_home(pod_db, fake):
    fake.uptime_scale = 3600.0  # an hour of billing each second: $0.39 a second
    run = await pod_run(pod_db, steps=2000, step_s=0.05, max_cost=1.0)
    done = await ended(pod_db, run["id"])
    assert done["status"] == "failed" and "cost limit of $1.00" in done["error_message"]
    assert "ffui runs resume" in done["error_message"]
    assert list((Path(done["storage_path"]) / "checkpoints").iterdir())
    assert done["pod_cost"] >= 1.0
    no_pods_left(fake)


async def test_a_pod_whose_supervisor_went_silent_ends_itself(pod_db, fake):
    # long enough that a busy machine's supervisor (uploading, polling) is never silent that
    # long before it is stopped; 2 s ended the pod during the upload on a loaded CI machine
    await fdb.set_setting(pod_db, "runpod.agent_silence_s", "8")
    run = await pod_run(pod_db, steps=4000, step_s=0.05)
    live = await wait_run(pod_db, run["id"], lambda r: (r.get("current_step") or 0) >= 2, "a step", 60)
    os.kill(live["supervisor_pid"], signal.SIGSTOP)  # a laptop gone to sleep
    try:
        until(lambda: not fake.pods, 60, "the pod to end itself")
    finally:
        os.kill(live["supervisor_pid"], signal.SIGCONT)
    done = await ended(pod_db, run["id"])
    assert done["status"] == "failed" and "is gone" in done["error_message"]


# ---- the real trainer, through the CLI ----------------------------------------------------


def test_ffui_train_on_runpod_trains_the_tiny_model_and_brings_the_adapter_home(job_home, fake, ffui, tiny_model):
    ffui("settings", "set", "runpod.api_key", input=fake.key + "\n")
    assert ffui("settings", "set", "runpod.proxy_url", fake.proxy_url).returncode == 0
    run_id = ffui_train_on_pod(ffui, job_home, tiny_model, "--gpu", "NVIDIA A40", "--max-cost", "5")
    waited = ffui("runs", "show", run_id)
    assert waited.returncode == 0
    until(lambda: "completed" in ffui("runs", "show", run_id).stdout or "failed" in ffui("runs", "show", run_id).stdout,
          240, "the run to end")
    shown = ffui("runs", "show", run_id).stdout
    assert "completed" in shown, shown + ffui("runs", "logs", run_id).stdout[-3000:]
    assert "on RunPod: pod " in shown and "on NVIDIA A40, $0.39/hr" in shown and ": terminated" in shown
    adapters = list(job_home.glob("training_outputs/*/adapter/adapter_config.json"))
    assert adapters, "the adapter is home"
    assert "no ffui pods" in ffui("pods", "list").stdout


# ---- the Train form -----------------------------------------------------------------------


async def test_the_train_form_starts_a_run_on_runpod_on_the_gpu_picked(pod_db, fake, job_home, tiny_model):
    from textual.widgets import Select

    from test_tui_train import make_home, open_form
    from tui_support import app_for, screen_text, settle, wait_for

    await make_home(job_home, model=tiny_model)
    app = app_for(job_home)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        assert not form.query_one("#tr-pod-gpu").display  # this machine: no GPU type to pick
        form.query_one("#tr-model").value = str(tiny_model)
        form.query_one("#tr-dataset", Select).value = next(d["id"] for d in form.datasets if d["name"] == "qa")
        form.query_one("#hp-max_steps").value = "2"
        form.query_one("#tr-where", Select).value = "runpod"
        pick = form.query_one("#tr-pod-gpu", Select)
        await wait_for(pilot, lambda: len(pick._options) > 1, 60, "RunPod's GPU types in the picker")
        assert pick.display and any("NVIDIA L40S" in str(label) and "$0.79/hr" in str(label) for label, _ in pick._options)
        pick.value = "NVIDIA L40S"
        await settle(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: fake.pods, 60, "a pod for the run")
        await wait_for(pilot, lambda: "pod pulling the image" in screen_text(app) or "pod uploading" in screen_text(app)
                       or "pod installing" in screen_text(app) or "pod training" in screen_text(app), 60,
                       lambda: "the pod's stage on the run's screen:\n" + screen_text(app))
        await pilot.press("1")  # the Runs list says the run is on a pod
        await wait_for(pilot, lambda: " pod" in screen_text(app).splitlines()[2], 30,
                       lambda: "'pod' in the Runs list:\n" + screen_text(app))
    runs = await fdb.list_training_runs(pod_db)
    assert len(runs) == 1 and runs[0]["metadata"]["executor"] == "runpod"
    assert runs[0]["metadata"]["runpod"]["gpus"] == ["NVIDIA L40S"]
    assert next(iter(fake.pods.values())).gpu == "NVIDIA L40S"
    await cancel_run(pod_db, runs[0]["id"])
    no_pods_left(fake)


async def test_checkpoint_now_reaches_the_pod_and_the_checkpoint_comes_home(pod_db, fake):
    from ffui.jobs.manager import request_checkpoint

    run = await pod_run(pod_db, steps=400, step_s=0.1)
    await wait_run(pod_db, run["id"], lambda r: (r.get("current_step") or 0) >= 2, "a step", 60)
    await request_checkpoint(pod_db, run["id"])
    await wait_run(pod_db, run["id"], lambda r: any((Path(r["storage_path"]) / "checkpoints").glob("checkpoint-*")),
                   "the checkpoint home", 60)
    assert (await fdb.get_training_run(pod_db, run["id"]))["status"] == "running"  # it goes on
    await cancel_run(pod_db, run["id"])
    no_pods_left(fake)


async def test_cancel_while_waiting_for_a_gpu_makes_no_pod(pod_db, fake):
    fake.capacity["NVIDIA A40"] = 0
    await fdb.set_setting(pod_db, "runpod.capacity_backoff_s", "600")
    run = await pod_run(pod_db)
    events = Path(run["storage_path"], "events.jsonl")  # (the wait is before the pod exists: not yet in the row)
    until(lambda: events.exists() and "waiting for a GPU" in events.read_text(), 60, "the wait for a GPU")
    cancelled = await cancel_run(pod_db, run["id"])
    assert cancelled["status"] == "cancelled"
    assert not fake.pods and not fake.terminated


async def test_a_full_pod_disk_fails_the_run_saying_so(pod_db, fake, tmp_path):
    from conftest import mounted_tmpfs

    with mounted_tmpfs(tmp_path, "4m", "as a pod's disk, to fill") as disk:
        fake.disk = disk
        run = await pod_run(pod_db, steps=10**6, step_s=0.02, lines_per_s=50000)
        done = await ended(pod_db, run["id"])
        assert done["status"] == "failed" and "the pod's disk is full" in done["error_message"], done["error_message"]
        assert "runpod.disk_gb" in done["error_message"]
        no_pods_left(fake)


# ---- where to run, in a saved config --------------------------------------------------------


async def test_a_saved_config_says_where_it_trains_and_the_flags_override_it(pod_db, fake, ffui, job_home):
    fake.never_start.add("slow/image:1")  # the pod waits on its image: where it went shows without a trainer
    saved = ffui("configs", "save", "on-pod", "--set", "on=runpod", "--set", "gpu=NVIDIA L40S", "--set",
                 "gpu_fallback=NVIDIA A40", "--set", "max_cost=5", "--set", "image=slow/image:1", "--set", "gpu_count=2", "--set", "max_steps=4")
    assert saved.returncode == 0, saved.stderr
    shown = ffui("configs", "show", "on-pod").stdout
    assert '"on": "runpod"' in shown and '"gpu": "NVIDIA L40S"' in shown and '"max_cost": 5.0' in shown
    (job_home / "model").mkdir()
    data = job_home / "pairs.jsonl"
    data.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(4)))
    assert ffui("data", "import", data, "--name", "pairs").returncode == 0

    started = ffui("train", "-d", "pairs", "-m", job_home / "model", "--config", "on-pod", "--gpu", "NVIDIA RTX A6000")
    assert started.returncode == 0, started.stderr
    assert "on RunPod (NVIDIA RTX A6000 > NVIDIA A40)" in started.stdout  # --gpu over the config's, its fallback kept
    run = await wait_run(pod_db, int(started.stdout.split()[1]), lambda r: r.get("pod_id"), "a pod", 60)
    assert run["metadata"]["runpod"]["max_cost"] == 5.0 and run["metadata"]["runpod"]["gpu_count"] == 2
    pod = fake.pods[run["pod_id"]]
    assert pod.gpu == "NVIDIA RTX A6000" and pod.image == "slow/image:1"
    worker_config = json.loads((Path(run["storage_path"]) / "config.json").read_text())
    assert worker_config["max_steps"] == 4 and not {"on", "gpu", "image", "max_cost"} & set(worker_config)
    assert worker_config["num_gpu"] == 2  # the pod's 2 GPUs: an accelerate launch over both
    assert ffui("runs", "cancel", run["id"]).returncode == 0
    no_pods_left(fake)

    await fdb.set_setting(pod_db, "jobs.max_concurrent", "1")  # a fake run holds the one local slot
    busy = await create_fake_run(pod_db, "busy", steps=10**6, step_s=0.1)
    await schedule(pod_db)
    local = ffui("train", "-d", "pairs", "-m", job_home / "model", "--config", "on-pod", "--on", "local")
    assert local.returncode == 0 and "queued" in local.stdout and "RunPod" not in local.stdout, local.stderr
    queued = await fdb.get_training_run(pod_db, int(local.stdout.split()[1]))
    assert (queued["metadata"] or {}).get("executor") != "runpod" and not fake.pods
    await cancel_run(pod_db, queued["id"])
    await cancel_run(pod_db, busy["id"])


def test_a_config_file_can_say_where_it_trains_and_bad_choices_are_one_line(job_home, ffui):
    pod_yaml = job_home / "pod.yaml"
    pod_yaml.write_text("learning_rate: 1e-4\non: runpod\ngpu: NVIDIA A40\ngpu_fallback: [NVIDIA L40S]\ngpu_count: 2\n")
    assert ffui("configs", "save", "from-file", "--from", pod_yaml).returncode == 0
    shown = json.loads(ffui("configs", "show", "from-file").stdout)["hp"]
    assert shown["on"] == "runpod" and shown["gpu_fallback"] == "NVIDIA L40S" and shown["gpu_count"] == 2
    for sets, said in [(["on=runpod", "gpu_count=many"], "gpu_count must be a whole number of GPUs"),
                       (["gpu=NVIDIA A40"], "gpu is a RunPod choice, for runs with on=runpod: add --set on=runpod"),
                       (["on=cloud"], "on must be local or runpod")]:
        bad = ffui("configs", "save", "bad", *[a for s in sets for a in ("--set", s)])
        assert bad.returncode == 1 and said in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert "bad" not in ffui("configs", "list").stdout


async def test_the_train_form_loads_and_saves_where_a_config_trains(pod_db, fake, job_home):
    from textual.widgets import Select

    from test_tui_train import make_home, open_form
    from tui_support import app_for, settle, wait_for

    await make_home(job_home)
    await fdb.save_training_config(pod_db, "on-pod", {"hp": {
        "learning_rate": 1e-4, "on": "runpod", "gpu": "NVIDIA L40S", "max_cost": 3.0, "cloud": "secure"}})
    app = app_for(job_home)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        await pilot.press("enter")
        pick = form.query_one("#tr-pod-gpu", Select)
        await wait_for(pilot, lambda: len(pick._options) > 1, 60, "RunPod's GPU types in the picker")
        assert form.query_one("#tr-where", Select).value == "runpod" and pick.display
        assert pick.value == "NVIDIA L40S"  # the config's GPU, not the cheapest
        assert not form.has_unsaved_changes()
        form.query_one("#tr-where", Select).value = "local"
        await settle(pilot)
        assert form.has_unsaved_changes() and not pick.display  # the choice of where is part of the config
        form.query_one("#tr-where", Select).value = "runpod"
        await settle(pilot)
        pick.value = "NVIDIA A40"
        await pilot.press("ctrl+a")
        await settle(pilot)
        app.screen.query_one("#f-name").value = "on-a40"
        await pilot.press("enter")
        await settle(pilot)
    saved = (await fdb.get_training_config(pod_db, "on-a40"))["config"]["hp"]
    assert saved["on"] == "runpod" and saved["gpu"] == "NVIDIA A40"
    assert saved["max_cost"] == 3.0 and saved["cloud"] == "secure"  # kept, though the form shows no field for them
