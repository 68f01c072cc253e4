"""Faults in the job machinery, with the torch-free fake worker (ffui.jobs.fake_worker), so each
takes seconds: supervisors killed at the worst instant, stopped supervisors, wedged workers,
concurrent cancels and resumes. What is checked is what a user would see afterwards."""

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
from ffui.jobs.fake_worker import MODULE, create_fake_run
from ffui.jobs.errors import JobError
from job_support import (SUPERVISOR, at_step, event_types, ffui_process, final, logged, train_log, wait_for,
                         wait_gone, wait_run, worker_pids)


def first_child(pid: int, timeout: float = 30) -> bool:
    """Spin until ``pid`` has a child (its worker, from the instant of the fork)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.read_text().strip():
                return True
        except OSError:
            return False
        time.sleep(0.0005)
    return False


async def test_a_supervisor_killed_as_its_worker_appears_never_leads_to_two_workers(job_home):
    in_window = 0
    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        for attempt in range(20):
            run = await create_fake_run(db, f"race{attempt}", steps=8, step_s=0.02, lines_per_s=400)
            await manager.schedule(db)
            supervisor = (await fdb.get_training_run(db, run["id"]))["supervisor_pid"]
            assert first_child(supervisor), "the supervisor never started a worker"
            os.kill(supervisor, signal.SIGKILL)  # the instant the worker appears
            in_window += (await fdb.get_training_run(db, run["id"]))["trainer_pid"] is None
            wait_gone(supervisor)
            await manager.reconcile(db)  # what the next `ffui` start does
            run = await wait_run(db, run["id"], final, "an outcome")
            kinds = event_types(run)
            assert (kinds.count("start"), kinds.count("done")) == (1, 1), (attempt, in_window, kinds)
            assert run["status"] == "completed", (attempt, run["error_message"])
            assert await logged(db, run["id"]) == train_log(run), attempt
            numbers = [int(ln.split()[3]) for ln in train_log(run) if ln.startswith("step ")]
            assert numbers == list(range(1, 8 * 8 + 1)), attempt  # one worker's lines, each once
            assert not worker_pids(job_home)
            # its supervisor schedules the queue as it leaves: let it go before the next run is
            # queued, or it may start that run while the test's own schedule looks on
            wait_gone(run["supervisor_pid"], SUPERVISOR)


def test_a_second_worker_on_a_locked_run_does_nothing(job_home):
    run_dir = job_home / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"fake": {"steps": 1000, "step_s": 0.05}}))
    first = subprocess.Popen([sys.executable, "-m", MODULE, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (run_dir / "events.jsonl").exists(), 30, "the first worker to start")
        second = subprocess.run([sys.executable, "-m", MODULE, str(run_dir)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 5
        assert second.stdout.strip() == f"error: another worker already runs in {run_dir}; this one did nothing"
        assert event_types({"storage_path": run_dir}).count("start") == 1
    finally:
        first.kill()
        first.wait()


async def test_a_stopped_supervisor_is_replaced_and_nothing_is_lost(job_home, ffui):
    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        await fdb.set_setting(db, "jobs.supervisor_stale_s", "2")
        run = await create_fake_run(db, steps=150, step_s=0.04, lines_per_s=200)
        await manager.schedule(db)
        run = await wait_run(db, run["id"], at_step(3), "a few steps")
        stopped = run["supervisor_pid"]
        os.kill(stopped, signal.SIGSTOP)
        # any ffui start reconciles: once the heartbeat is stale the stopped supervisor is replaced
        deadline = time.monotonic() + 60
        while run["supervisor_pid"] == stopped and time.monotonic() < deadline:
            assert ffui("runs", "list", home=job_home).returncode == 0
            run = await fdb.get_training_run(db, run["id"])
        assert run["supervisor_pid"] != stopped, "the stopped supervisor was never replaced"
        assert not procs.alive(stopped, SUPERVISOR), "the stopped supervisor was left behind"
        run = await wait_run(db, run["id"], final, "an outcome")
        assert run["status"] == "completed", run["error_message"]
        assert event_types(run).count("start") == 1
        assert await logged(db, run["id"]) == train_log(run)


async def test_cancel_keeps_its_deadline_when_the_supervisor_is_stopped_and_the_worker_deaf(job_home, ffui):
    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        run = await create_fake_run(db, steps=1000, step_s=0.05, hang_at=4)
        await manager.schedule(db)
        run = await wait_run(db, run["id"], at_step(3), "a few steps")
        os.kill(run["supervisor_pid"], signal.SIGSTOP)
        try:
            r = ffui("runs", "cancel", run["id"], "--grace", "1", home=job_home, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail("ffui runs cancel --grace 1 never returned")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().splitlines()[-1] == f"run {run['id']}: cancelled"
        run = await fdb.get_training_run(db, run["id"])
        assert run["status"] == "cancelled"
        assert not procs.group_alive(run["trainer_pgid"]) and not worker_pids(job_home)


async def test_a_silent_worker_is_shown_stalled_and_can_be_failed(job_home, ffui):
    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        await fdb.set_setting(db, "jobs.stall_s", "1")
        run = await create_fake_run(db, "silent", steps=1000, step_s=0.05, hang_at=3)
        await manager.schedule(db)

        def shown_stalled():
            shown = ffui("runs", "show", run["id"], home=job_home).stdout
            return shown if "stalled for" in shown else None

        shown = wait_for(shown_stalled, what="`ffui runs show` to say the run stalled")
        assert "running" in shown and "stalled for" in shown, shown
        listed = ffui("runs", "list", home=job_home).stdout.splitlines()
        assert [line.split()[1] for line in listed[1:]] == ["stalled"], listed
        await manager.cancel_run(db, run["id"], grace_s=1)

        await fdb.set_setting(db, "jobs.stall_action", "fail")
        run = await create_fake_run(db, "wedged", steps=1000, step_s=0.05, hang_at=3)
        await manager.schedule(db)
        run = await wait_run(db, run["id"], final, "an outcome")
        assert run["status"] == "failed"
        assert "no progress" in run["error_message"] and "jobs.stall_action" in run["error_message"]
        assert not worker_pids(job_home)


async def test_cancelling_a_queued_run_says_it_left_the_queue(job_home, ffui):
    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        await fdb.set_setting(db, "jobs.max_concurrent", "1")
        first = await create_fake_run(db, "first", steps=1000, step_s=0.05)
        queued = await create_fake_run(db, "queued", steps=10)
        await manager.schedule(db)
        r = ffui("runs", "cancel", queued["id"], home=job_home)
        assert r.returncode == 0, r.stderr
        assert "removed from the queue" in r.stdout and "checkpoint" not in r.stdout, r.stdout
        assert (await fdb.get_training_run(db, queued["id"]))["status"] == "cancelled"
        await manager.cancel_run(db, first["id"], grace_s=5)


async def test_two_concurrent_cancels_record_the_cancel(job_home, ffui):
    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        # exit_s: like a big trainer, it takes a while to exit, and a late SIGTERM can land meanwhile
        run = await create_fake_run(db, steps=1000, step_s=0.05, exit_s=1.5)
        await manager.schedule(db)
        run = await wait_run(db, run["id"], at_step(2), "a few steps")
        cancels = [ffui_process(job_home, "runs", "cancel", run["id"]) for _ in range(2)]
        outs = [c.communicate(timeout=120) for c in cancels]
        assert [c.returncode for c in cancels] == [0, 0], outs
        run = await fdb.get_training_run(db, run["id"])
        assert run["status"] == "cancelled" and run["error_message"] is None
        assert run["exit_signal"] is None, f"recorded as killed by signal {run['exit_signal']}"
        assert run["metadata"]["cancel_requested"] and manager.list_checkpoints(run)


async def test_two_concurrent_resumes_keep_both_or_refuse_the_second(job_home):
    async with fdb.connect(job_home / "ffui.db", job_home) as first, \
            fdb.connect(job_home / "ffui.db", job_home) as second:
        run = await create_fake_run(first, steps=10)
        Path(run["storage_path"], "checkpoints", "checkpoint-4").mkdir(parents=True)
        await fdb.update_training_run(first, run["id"], status="cancelled")
        results = await asyncio.gather(manager.resume_run(first, run["id"]), manager.resume_run(second, run["id"]),
                                       return_exceptions=True)
        refused = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(r, JobError) for r in refused), refused
        run = await fdb.get_training_run(first, run["id"])
        assert run["status"] == "pending"
        assert len(run["metadata"]["resumes"]) == len(results) - len(refused), (results, run["metadata"])


async def test_the_runs_screen_and_the_run_screen_show_a_stalled_run(job_home):
    from tui_support import app_for, screen_text, wait_for

    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        await fdb.set_setting(db, "jobs.stall_s", "1")
        run = await create_fake_run(db, "silent", steps=1000, step_s=0.05, hang_at=3)
        await manager.schedule(db)
        await wait_run(db, run["id"], lambda r: (r["metadata"] or {}).get("stalled"), "a stall mark")
    app = app_for(job_home, poll_s=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        def status_and_eta():
            cells = app.get_screen_stack("runs")[0].cells.get(run["id"], ())
            return cells and (getattr(cells[2], "plain", cells[2]), getattr(cells[6], "plain", cells[6]))

        status, eta = await wait_for(pilot, status_and_eta, what="the run in the table")
        assert status == "stalled" and eta.endswith((" s", " min")), (status, eta)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "stalled for" in screen_text(app), what="'stalled for' on the run screen")
        assert "ETA" not in screen_text(app)  # frozen: not shown
