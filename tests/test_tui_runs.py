"""Runs (mode 1) and a run's screen, against real runs of the real trainer on the tiny model.

One module-scoped home holds a quick run (8 steps, checkpoints at 4 and 8) and a long one
(400 steps) that the lifecycle test checkpoints, cancels, resumes, cancels and deletes
through the keyboard, as a user would. The responsiveness tests use fixed rows and a log
file written at 1,000 lines a second.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from procs_support import until_async
from tui_support import (
    app_for, kill_real_runs, notifications, real_runs_home, rendered, run_row, screen_text, seed_fixed_home,
    wait_for,
)

pytest.importorskip("torch", reason="real runs need the trainer's [train] extras (torch)")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    info = real_runs_home(tmp_path_factory.mktemp("tui-real"))
    yield info
    kill_real_runs()


def runs_screen_cells(app, run_id):
    return [getattr(c, "plain", c) for c in app.get_screen_stack("runs")[0].cells.get(run_id, ())]


async def test_the_runs_table_follows_real_runs_live(real):
    app = app_for(real["home"], poll_s=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: runs_screen_cells(app, real["long"]), what="both runs in the table")
        cells = await wait_for(pilot, lambda: (c := runs_screen_cells(app, real["quick"]))[2] == "completed" and c,
                               timeout=150, what="the quick run to complete")
        _id, name, status, progress, loss, trend, _eta, backend = cells
        assert name == "quick" and progress.endswith("100%") and backend == "cpu"
        assert float(loss) > 0 and len(trend) >= 5, "last loss and its sparkline"
        text = screen_text(app)
        assert "quick" in text and "completed" in text and "long" in text


async def test_a_run_started_elsewhere_appears_within_two_seconds(real):
    from ffui import db as fdb

    app = app_for(real["home"])  # default poll: once a second
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: runs_screen_cells(app, real["quick"]), what="the table")
        async with fdb.connect(real["home"] / "ffui.db", real["home"]) as other:  # another process's view
            run = await fdb.create_training_run(other, "from-the-cli", base_model="tiny", status="completed")
            # polled once a second; the generous timeout only keeps a loaded CI machine from flaking
            await wait_for(pilot, lambda: runs_screen_cells(app, run["id"]), timeout=20, what="the new run")
            await fdb.delete_training_run(other, run["id"], delete_artifacts=True)
        await wait_for(pilot, lambda: not runs_screen_cells(app, run["id"]), timeout=20, what="the deleted run to go")


async def test_a_finished_run_shows_its_log_chart_metrics_config_and_adapter(real):
    from screens.run_detail import RunDetailScreen
    from screens.widgets.chart import LossChart
    from screens.widgets.log_tail import LogTail

    await until_async(lambda: (run_row(real["home"], real["quick"]) or {}).get("status") == "completed", 150,
                      "the quick run to complete", interval=0.5)
    app = app_for(real["home"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.db is not None, what="the database")
        app.open_run(real["quick"])
        screen = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen, what="run screen")
        tail = await wait_for(pilot, lambda: screen.query_one(LogTail), what="the log tab")
        await wait_for(pilot, lambda: any("step 8/8" in line for line in tail.items), what="the log tail")
        assert [p[0] for p in screen.query_one(LossChart).history] == list(range(1, 9))
        text = screen_text(app)
        assert "completed" in text and "step 8/8" in text and "grad norm" in text and "tokens/s" in text
        assert "██████" in text and "100.0%" in text, "the progress bar"
        await pilot.press("i")
        await wait_for(pilot, lambda: "step 4, step 8" in screen_text(app), what="the config tab")
        text = screen_text(app)
        assert "adapter" in text and "/adapter" in text.replace("\n", "").replace(" ", "")
        config = rendered(screen.query_one("#run-config").content)  # the rest scrolls
        assert "learning_rate" in config and "lora_r" in config and re.search(r"max_steps\s+8\b", config)


class FakeTrainForm:
    """Stands in for the Train form (another helper's screen) to see what `d` hands over."""

    def __init__(self):
        from screens.widgets.base import FfuiScreen

        class Form(FfuiScreen):
            received: list = []

            def compose(self):
                yield from self.compose_chrome()

            def load_config(self, hp):
                Form.received.append(hp)

        self.cls = Form


async def test_d_duplicates_the_config_into_the_train_form(real):
    fake = FakeTrainForm()
    app = app_for(real["home"])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.remove_mode("train")
        app.add_mode("train", fake.cls)
        await wait_for(pilot, lambda: runs_screen_cells(app, real["quick"]), what="the table")
        runs = app.screen
        runs.query_one("#runs-table").move_cursor(row=runs.row_ids.index(real["quick"]))
        await pilot.press("d")
        await wait_for(pilot, lambda: fake.cls.received, what="the config to arrive")
        assert app.current_mode == "train"
        hp = fake.cls.received[0]
        assert hp["max_steps"] == 8 and hp["lora_r"] == 4 and "resume_from_checkpoint" not in hp


async def test_cancel_checkpoint_resume_and_delete_a_live_run_by_keyboard(real):
    """The whole life of a run from its screen: s, c (confirm), r (pick), c again, x (with files)."""
    from screens.runs import RunsScreen
    from screens.widgets.modals import ChoiceModal, ConfirmModal

    home, run_id = real["home"], real["long"]
    app = app_for(home, poll_s=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.db is not None, what="the database")
        app.open_run(run_id)
        await wait_for(pilot, lambda: (run_row(home, run_id)["current_step"] or 0) >= 2, timeout=150,
                       what="the long run to train")
        await pilot.press("x")  # a running run cannot be deleted
        await wait_for(pilot, lambda: any("cancel it first" in m for m in notifications(app)), what="the refusal")

        await pilot.press("s")  # a stray s saves nothing: it asks first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the checkpoint question")
        await pilot.press("y")
        await wait_for(pilot, lambda: run_row(home, run_id)["checkpoint_path"], timeout=60, what="a checkpoint")
        assert run_row(home, run_id)["status"] == "running", "a checkpoint does not stop the run"

        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: run_row(home, run_id)["status"] == "cancelled", timeout=60, what="cancelled")
        await wait_for(pilot, lambda: "cancelled" in screen_text(app), what="the screen to say cancelled")

        await pilot.press("r")
        choice = await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal) and app.screen, what="the picker")
        steps = [value for _label, value in choice.choices]
        assert steps == sorted(steps) and len(steps) >= 1
        await pilot.press("enter")  # the last checkpoint is highlighted
        await wait_for(pilot, lambda: run_row(home, run_id)["status"] in ("pending", "running"), what="resumed")
        await wait_for(pilot, lambda: any(f"resumes from step {steps[-1]}" in m for m in notifications(app)),
                       what="the resume notice")
        await wait_for(pilot, lambda: (run_row(home, run_id)["current_step"] or 0) > steps[-1], timeout=150,
                       what="training to go on after the checkpoint")

        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: run_row(home, run_id)["status"] == "cancelled", timeout=60, what="cancelled")

        storage = Path(run_row(home, run_id)["storage_path"])
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the delete confirmation")
        await pilot.press("space")  # tick "also delete its files"
        await pilot.press("y")
        await wait_for(pilot, lambda: run_row(home, run_id) is None, what="the run to be deleted")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="back on the list")
        assert not storage.exists(), "its files went too, as asked"


async def test_resume_without_a_checkpoint_and_delete_keeping_files_say_so_in_one_line(real):
    from ffui import db as fdb
    from screens.widgets.modals import ConfirmModal

    async with fdb.connect(real["home"] / "ffui.db", real["home"]) as db:
        run = await fdb.create_training_run(db, "crashed-early", base_model="tiny", status="failed",
                                            error_message="the trainer was killed (SIGKILL)")
    app = app_for(real["home"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.db is not None, what="the database")
        app.open_run(run["id"])
        await wait_for(pilot, lambda: "SIGKILL" in screen_text(app), what="the error to stand out")
        await pilot.press("r")
        await wait_for(pilot, lambda: any("saved no checkpoint" in m for m in notifications(app)), what="the reason")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation")
        await pilot.press("y")  # without ticking: the files stay
        await wait_for(pilot, lambda: run_row(real["home"], run["id"]) is None, what="deleted")
        assert Path(run["storage_path"]).exists()
        assert any("its files stay in" in m for m in notifications(app))


async def test_logs_of_a_real_run_filtered_by_run_id(real):
    from screens.logs import LogList

    app = app_for(real["home"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: app.current_mode == "logs", what="mode logs")
        view = app.screen.query_one(LogList)
        app.screen.query_one("#log-run").focus()
        await pilot.press(*str(real["quick"]), "enter")  # the run filter
        await wait_for(pilot, lambda: view.items and all(r["run_id"] == real["quick"] for r in view.items),
                       what="the run's lines only")
        assert any("step 8/8" in r["message"] for r in view.items)


# -- responsiveness (fixed rows: no trainer needed) -----------------------------------


WRITER = """
import sys, time
end = time.monotonic() + float(sys.argv[2])
n = 0
with open(sys.argv[1], "a", buffering=1) as fh:
    while time.monotonic() < end:
        for _ in range(50):
            fh.write(f"fast line {n} " + "x" * 60 + "\\n")
            n += 1
        time.sleep(0.05)  # 1,000 lines a second
print(n)
"""

APP_UNDER_LOAD = """
import asyncio, json, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from tui_support import app_for, wait_for
from screens.run_detail import RunDetailScreen
from screens.widgets.log_tail import LogTail

home, log, writer = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
app = app_for(home)
out = {}

async def lags_for(seconds, pilot, keys):
    lags = []
    async def probe():
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - t - 0.01)
    task = asyncio.create_task(probe())
    for key in keys:  # switch tabs on the way, as a user would
        await pilot.press(key)
        await asyncio.sleep(seconds / (len(keys) + 1))
    await task
    return lags

async def run(pilot):
    await wait_for(pilot, lambda: app.db is not None)
    t0 = time.monotonic()
    app.open_run(2)
    screen = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
    tail = await wait_for(pilot, lambda: screen.query_one(LogTail))
    await wait_for(pilot, lambda: tail.items and tail.items[-1] == "old line 99999")
    out["open_s"] = time.monotonic() - t0
    proc = subprocess.Popen([sys.executable, "-c", writer, log, "3"], stdout=subprocess.PIPE, text=True)
    lags = await lags_for(3.0, pilot, "iligl")
    written = int(proc.communicate()[0])
    if written:
        last = f"fast line {written - 1} "
        await wait_for(pilot, lambda: tail.items[-1].startswith(last), timeout=20)
    out.update(max_lag=max(lags), p99=sorted(lags)[int(len(lags) * 0.99)], written=written, held=len(tail.items),
               max_lines=tail.max_lines)
    app.exit()

app.run(headless=True, size=(80, 24), auto_pilot=run)
print(json.dumps(out))
"""


def run_app_under_load(home: Path, log: Path, writer: str = WRITER) -> dict:
    r = subprocess.run([sys.executable, "-c", APP_UNDER_LOAD, str(Path(__file__).parent), str(home), str(log), writer],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_a_log_written_at_1000_lines_a_second_does_not_freeze_the_screen(tmp_path):
    """In an app process of its own (as `ffui` runs), while another process appends 1,000 lines/s.

    A freeze is the event loop not getting back to a 10 ms timer; the pytest process is not
    used for this because it has torch loaded, whose millions of objects make Python's
    garbage collector pause in ways the UI process (which never imports torch) does not.
    """
    home = seed_fixed_home(tmp_path / "home")
    log = next((home / "training_outputs").glob("llama-chat-qlora_*")) / "train.log"
    with open(log, "a") as fh:  # a long history first: opening must not read it all into the view
        fh.writelines(f"old line {i}\n" for i in range(100_000))
    out = run_app_under_load(home, log)
    # it followed to the very last line written, holding a bounded number of lines; how long the
    # event loop stalled meanwhile is measured (not asserted) by bench/tui_latency.py
    assert out["written"] >= 2000 and out["held"] <= out["max_lines"]
