"""What the Runs list and a run's screen say, at 80x24: the whole error and its hint, the
dataset by name, why a queued run waits, no ETA for an ended run, only the keys that apply."""

from __future__ import annotations

import sqlite3

from tui_support import app_for, notifications, rendered, screen_text, seed_fixed_home, settle, wait_for

OOM = ("out of memory: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity; "
       "75.01 GiB already allocated) (lower per_device_train_batch_size or max_seq_len, set "
       "gradient_checkpointing=true, or use method=qlora)")


def fixed_home(tmp_path):
    home = seed_fixed_home(tmp_path / "home")
    conn = sqlite3.connect(home / "ffui.db")
    conn.execute("UPDATE training_runs SET error_message = ?, eta_s = 95.0 WHERE id = 4", (OOM,))
    conn.execute("UPDATE training_runs SET eta_s = 95.0 WHERE id IN (1, 3)")  # ended runs with a stale ETA
    conn.execute("INSERT INTO settings(key, value, updated_at) VALUES ('jobs.max_concurrent', '1', '2026-01-01')")
    conn.commit()
    conn.close()
    return home


async def open_run(app, pilot, run_id: int):
    from screens.run_detail import RunDetailScreen

    await wait_for(pilot, lambda: app.db is not None, what="the database")
    app.open_run(run_id)
    screen = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen, what="run screen")
    await wait_for(pilot, lambda: screen.poller.polls >= 1, what="the run's first poll")
    await settle(pilot)  # the keys that apply to its state reach the footer after a refresh
    return screen


def words(text: str) -> str:
    """The screen's words in one line: text wrapped at the edge reads whole."""
    return " ".join(text.replace("│", " ").replace("▏", " ").split())


async def test_a_failed_runs_screen_shows_the_whole_error_and_its_hint(tmp_path):
    app = app_for(fixed_home(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_run(app, pilot, 4)
        text = words(screen_text(app))
        assert "or use method=qlora" in text, screen_text(app)
        assert text.count("out of memory:") == 1, "the trainer's message says it already"
        assert "ETA" not in text


async def test_the_config_tab_names_the_dataset(tmp_path):
    app = app_for(fixed_home(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(app, pilot, 1)
        config = await wait_for(pilot, lambda: "support-chats" in (t := rendered(screen.query_one("#run-config").content))
                                and t, what="the dataset's name in the Config tab")
        assert "support-chats (#1)" in config


async def test_a_queued_run_says_why_it_waits_and_its_place(tmp_path):
    from screens.runs import RunsScreen

    app = app_for(fixed_home(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await wait_for(pilot, lambda: 5 in runs.cells, what="the table")
        cells = {run_id: [getattr(c, "plain", c) for c in row] for run_id, row in runs.cells.items()}
        assert cells[5][6] == "queue 1" and cells[2][6] == "1:35"
        assert cells[1][6] == cells[3][6] == cells[4][6] == "", "an ended run shows no ETA"
        why = "waiting: 1st in the queue; 1 run uses the only slot (jobs.max_concurrent=1)"
        await wait_for(pilot, lambda: "run 5 " + why in words(screen_text(app)), what="the highlighted queued run's reason")
        await open_run(app, pilot, 5)
        assert why in words(screen_text(app))


async def test_the_footer_shows_only_the_keys_that_apply_to_the_runs_state(tmp_path):
    app = app_for(fixed_home(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_run(app, pilot, 1)  # completed
        footer = screen_text(app).splitlines()[-1]
        assert "Resume" not in footer and "Cancel" not in footer and "Ckpt" not in footer, footer
        assert "Copy" in footer and "Delete" in footer, footer
        await pilot.press("escape")
        await open_run(app, pilot, 2)  # running
        footer = screen_text(app).splitlines()[-1]
        assert "Cancel" in footer and "Ckpt" in footer and "Resume" not in footer and "Delete" not in footer, footer
        await pilot.press("r")  # a hidden key still says why it does not apply
        await wait_for(pilot, lambda: any("only a failed or cancelled run can be resumed" in m
                                          for m in notifications(app)), what="why r does nothing here")
        await pilot.press("escape")
        await open_run(app, pilot, 3)  # failed: it can be resumed
        footer = screen_text(app).splitlines()[-1]
        assert "Resume" in footer and "Cancel" not in footer, footer
