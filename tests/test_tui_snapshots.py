"""Snapshots of each mode this side of the UI draws, at 80x24 (pytest-textual-snapshot).

Deterministic by construction: fixed rows (ids, times, metrics) in a fixed home path, a
fixed 'no GPU' state, no reconcile, and every wait is for data, not for time. Update with
``pytest tests/test_tui_snapshots.py --snapshot-update`` after checking the change by eye.
"""

from __future__ import annotations

import pytest

from tui_support import SNAPSHOT_HOME, app_for, seed_fixed_home, wait_for


@pytest.fixture
def snap_app():
    seed_fixed_home(SNAPSHOT_HOME)
    return app_for(SNAPSHOT_HOME)


def runs_loaded(app):
    return app.get_screen_stack("runs")[0].row_ids


def test_runs_mode(snap_app, snap_compare):
    async def ready(pilot):
        await wait_for(pilot, lambda: runs_loaded(snap_app), what="runs")
        await wait_for(pilot, lambda: snap_app.gpu_state is not None, what="gpus")

    assert snap_compare(snap_app, run_before=ready, terminal_size=(80, 24))


def test_run_screen_of_a_running_run(snap_app, snap_compare):
    async def ready(pilot):
        from screens.widgets.log_tail import LogTail

        await wait_for(pilot, lambda: runs_loaded(snap_app), what="runs")
        await pilot.press("down", "down", "down", "enter")  # run 2, running
        await wait_for(pilot, lambda: len(snap_app.screen.query_one(LogTail).items) == 17, what="the log")
        await wait_for(pilot, lambda: snap_app.screen.query_one("#run-metrics").content, what="metrics")

    assert snap_compare(snap_app, run_before=ready, terminal_size=(80, 24))


def test_run_screen_warns_about_nan_loss(snap_app, snap_compare):
    async def ready(pilot):
        await wait_for(pilot, lambda: runs_loaded(snap_app), what="runs")
        snap_app.open_run(3)
        await wait_for(pilot, lambda: snap_app.screen.query_one("#run-warning").display, what="the warning")

    assert snap_compare(snap_app, run_before=ready, terminal_size=(80, 24))


def test_logs_mode(snap_app, snap_compare):
    async def ready(pilot):
        from screens.logs import LogList

        await wait_for(pilot, lambda: runs_loaded(snap_app), what="runs")
        await pilot.press("5")
        await wait_for(pilot, lambda: len(snap_app.screen.query_one(LogList).items) == 60, what="logs")

    assert snap_compare(snap_app, run_before=ready, terminal_size=(80, 24))


def test_settings_mode(snap_app, snap_compare):
    async def ready(pilot):
        await wait_for(pilot, lambda: runs_loaded(snap_app), what="runs")
        await pilot.press("6")
        await wait_for(pilot, lambda: "schema" in str(getattr(snap_app.screen.query_one("#db-info").content, "plain", "")), what="db info")
        await wait_for(pilot, lambda: snap_app.screen.query_one("#set-proxy-https").value, what="proxy")
        snap_app.screen.set_focus(None)  # no blinking cursor in the picture

    assert snap_compare(snap_app, run_before=ready, terminal_size=(80, 24))


def test_help_on_the_runs_mode(snap_app, snap_compare):
    async def ready(pilot):
        await wait_for(pilot, lambda: runs_loaded(snap_app), what="runs")
        await pilot.press("f1")

    assert snap_compare(snap_app, run_before=ready, terminal_size=(80, 24))


def test_cancel_asks_first(snap_app, snap_compare):
    async def ready(pilot):
        from screens.widgets.modals import ConfirmModal

        await wait_for(pilot, lambda: runs_loaded(snap_app), what="runs")
        await pilot.press("down", "down", "down", "c")  # run 2, running
        await wait_for(pilot, lambda: isinstance(snap_app.screen, ConfirmModal), what="the dialog")

    assert snap_compare(snap_app, run_before=ready, terminal_size=(80, 24))
