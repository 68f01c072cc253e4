"""What the screens send to the terminal: nothing while nothing changes, little while a run moves.

Over a slow SSH link every redraw costs. Each frame Textual would write is rendered here to
the bytes a 256-colour terminal gets; windows are counted in the screens' own polls (the
condition waited for), not in seconds. bench/tui_bytes.py measures the same in tmux.
"""

from __future__ import annotations

import io
import json
import sqlite3

from rich.console import Console

from tui_support import app_for, on_each_frame, seed_fixed_home, wait_for

COMPLETED, RUNNING = 1, 2  # runs of the fixed home (tests/tui_support.py)


class Terminal:
    """Counts the frames and bytes the app would write to an 80x24 terminal.

    It listens where Textual's own writer gets each update, so what the app cuts out of an
    update before writing it is not counted.
    """

    def __init__(self, app, monkeypatch):
        self.frames = self.bytes = 0
        self.rows: set[int] = set()
        on_each_frame(app, self.count, monkeypatch)

    def count(self, update) -> None:
        out = io.StringIO()
        Console(file=out, width=80, height=24, force_terminal=True, color_system="256",
                legacy_windows=False).print(update, end="")
        self.frames += 1
        self.bytes += len(out.getvalue().encode())
        self.rows |= {int(row) for row in _cursor_rows(out.getvalue())}

    def reset(self) -> None:
        self.frames = self.bytes = 0
        self.rows = set()


def _cursor_rows(written: str) -> list[str]:
    import re

    return re.findall(r"\x1b\[(\d+);\d+H", written)


async def open_run_settled(app, pilot, run_id: int):
    from screens.run_detail import RunDetailScreen
    from screens.widgets.log_tail import LogTail

    await wait_for(pilot, lambda: app.db is not None, what="the database")
    app.open_run(run_id)
    screen = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen, what="run screen")
    await wait_for(pilot, lambda: screen.run_row is not None and screen.query_one(LogTail).items, what="run and log")
    await wait_for(pilot, lambda: screen.poller.polls >= 3, what="the first polls")
    return screen


async def test_a_completed_runs_screen_writes_nothing_while_nothing_changes(tmp_path, monkeypatch):
    home = seed_fixed_home(tmp_path / "home")
    app = app_for(home, poll_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = Terminal(app, monkeypatch)
        screen = await open_run_settled(app, pilot, COMPLETED)
        runs_list = app.get_screen_stack("runs")[0]
        terminal.reset()
        polls = screen.poller.polls
        await wait_for(pilot, lambda: screen.poller.polls >= polls + 10, what="ten more polls of the run")
        assert (terminal.frames, terminal.bytes) == (0, 0), "an unchanged run screen was drawn again"
        assert runs_list.poller.polls == 0 or not runs_list.is_current, "the covered Runs list polls on"


async def test_a_live_runs_row_repaints_only_its_own_row_in_the_runs_list(tmp_path, monkeypatch):
    home = seed_fixed_home(tmp_path / "home")
    app = app_for(home, poll_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = Terminal(app, monkeypatch)
        runs = app.screen
        await wait_for(pilot, lambda: RUNNING in runs.cells, what="the table")
        await wait_for(pilot, lambda: runs.poller.polls >= 3, what="the first polls")
        _advance(home, RUNNING, step=18, loss=1.01)  # (the first partial redraw also paints what the
        await wait_for(pilot, lambda: str(runs.cells[RUNNING][4]) == "1.0100", what="the new loss")  # layout left)
        await wait_for(pilot, lambda: terminal.frames, what="that step drawn")
        terminal.reset()
        _advance(home, RUNNING, step=19, loss=0.99)
        await wait_for(pilot, lambda: str(runs.cells[RUNNING][4]) == "0.9900", what="the next loss in the table")
        await wait_for(pilot, lambda: terminal.frames, what="that step drawn")
        row = 2 + runs.row_ids.index(RUNNING) + 1  # 1-based: the header line, the table's header, the row
        assert terminal.rows == {row}, f"rows {sorted(terminal.rows)} were drawn for a change in row {row}"
        assert terminal.bytes < 600, terminal.bytes


async def test_a_step_of_a_live_run_writes_only_the_cells_it_changed_on_the_runs_screen(tmp_path, monkeypatch):
    """One step moves every row of the followed log up and one number of seven in the metrics:
    the terminal gets the few characters that differ, not whole rows (3.6 KB a step before)."""
    from screens.widgets.log_tail import LogTail

    home = seed_fixed_home(tmp_path / "home")
    app = app_for(home, poll_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = Terminal(app, monkeypatch)
        screen = await open_run_settled(app, pilot, RUNNING)
        log = screen.query_one(LogTail)
        for step, loss in ((18, 1.1375), (19, 1.0534)):  # (the curve goes on: the y axis stays)
            terminal.reset()
            _advance(home, RUNNING, step=step, loss=loss, log_line=f"step {step}/40 loss {loss:.4f} tok/s 4380")
            await wait_for(pilot, lambda: screen.run_row["current_step"] == step and log.items[-1].startswith(
                f"step {step}/"), what=f"step {step} in the run and its log")
            await pilot.pause()  # (drawn on the next idle)
            assert terminal.frames, "the step was not drawn"
        shown = app.screen.query_one("#run-progress").render()
        assert "step 19/40" in str(shown)
        assert terminal.bytes < 1500, f"one step wrote {terminal.bytes} bytes"


def _advance(home, run_id: int, step: int, loss: float, log_line: str | None = None) -> None:
    """Another process (a supervisor) moves the run on by a step."""
    conn = sqlite3.connect(home / "ffui.db", timeout=30)
    try:
        metrics = json.loads(conn.execute("SELECT metrics_json FROM training_runs WHERE id = ?", (run_id,)).fetchone()[0])
        metrics["history"].append([step, loss])
        conn.execute("UPDATE training_runs SET current_step = ?, progress = ?, last_loss = ?, metrics_json = ?, "
                     "updated_at = datetime('now', '+1 second') WHERE id = ?",
                     (step, step / 40, loss, json.dumps(metrics), run_id))
        conn.commit()
        if log_line is not None:
            storage = conn.execute("SELECT storage_path FROM training_runs WHERE id = ?", (run_id,)).fetchone()[0]
            with open(f"{storage}/train.log", "a") as train_log:
                train_log.write(log_line + "\n")
    finally:
        conn.close()


async def test_a_new_loss_point_adds_columns_to_the_chart_and_leaves_the_rest_as_it_was():
    """The x axis spans the planned steps and the y axis is rounded: a step draws its own columns."""
    from textual.app import App

    from screens.widgets.chart import LossChart
    from tui_support import _history

    class ChartApp(App):
        def compose(self):
            yield LossChart()

    async with ChartApp().run_test(size=(48, 8)) as pilot:
        chart = pilot.app.query_one(LossChart)
        chart.set_data(_history(17), [], planned_steps=40)
        before = chart.render().plain.splitlines()
        chart.set_data(_history(18), [], planned_steps=40)
        after = chart.render().plain.splitlines()
    changed = {x for old, new in zip(before, after) for x, (a, b) in enumerate(zip(old, new)) if a != b}
    assert before[-1] == after[-1] and before[-1].endswith("40"), "the x axis moved"
    assert len(changed) <= 2 and min(changed) > len(after[0]) * 17 // 40, f"columns {sorted(changed)} changed"
