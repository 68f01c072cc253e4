"""Logs (mode 5) and Settings (mode 6), by keyboard at 80x24, against a home with fixed rows."""

from __future__ import annotations

import json

import pytest

from ffui.db.core import SCHEMA_VERSION

from tui_support import (
    add_log_lines_sync, app_for, notifications, rendered, screen_text, seed_fixed_home, wait_for,
)


@pytest.fixture
def home(tmp_path):
    return seed_fixed_home(tmp_path / "home", log_rows=1200)


async def open_logs(app, pilot):
    from screens.logs import LogList

    await pilot.press("5")
    await wait_for(pilot, lambda: app.current_mode == "logs", what="mode logs")
    view = app.screen.query_one(LogList)
    await wait_for(pilot, lambda: view.items, what="log lines")
    return view


# -- logs ------------------------------------------------------------------------------


async def test_logs_show_the_newest_page_only_and_follow_new_lines(home):
    from screens.logs import PAGE

    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_logs(app, pilot)
        assert len(view.items) == PAGE and view.items[-1]["id"] == 1200, "the newest page, not the table"
        assert "1,200 matching lines" in screen_text(app)
        add_log_lines_sync(home / "ffui.db", ["written by another process"])
        await wait_for(pilot, lambda: view.items[-1]["message"] == "written by another process", what="follow")
        # drawn at the bottom once the view has scrolled to its new end (a frame later under load)
        await wait_for(pilot, lambda: "written by another process" in screen_text(app), what="the line on screen")


async def test_pause_keeps_the_view_still_and_f_catches_up(home):
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_logs(app, pilot)
        await pilot.press("f")
        assert not view.follow and "paused" in screen_text(app)
        add_log_lines_sync(home / "ffui.db", [f"while paused {i}" for i in range(3)])
        await wait_for(pilot, lambda: view.pending_count == 3, what="new lines kept aside")
        assert view.items[-1]["id"] == 1200, "the lines on screen did not move"
        await pilot.press("f")
        await wait_for(pilot, lambda: view.items[-1]["message"] == "while paused 2", what="the view to catch up")


async def test_going_above_the_first_line_loads_the_older_page_by_id(home):
    from screens.logs import PAGE

    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_logs(app, pilot)
        first = view.items[0]["id"]
        await pilot.press("home", "up")
        await wait_for(pilot, lambda: view.items[0]["id"] < first, what="the older page")
        ids = [r["id"] for r in view.items]
        assert ids == sorted(ids) and len(ids) == 2 * PAGE and ids[0] == first - PAGE
        assert view.items[view.cursor]["id"] == first - 1, "the cursor sits on the line just above"


async def test_level_logger_run_and_search_filters(home):
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_logs(app, pilot)
        level = app.screen.query_one("#log-level")
        level.value = "WARNING"
        await wait_for(pilot, lambda: {r["level"] for r in view.items} == {"WARNING", "ERROR"}, what="warning+")
        level.value = ""
        await pilot.press("slash", *"heartbeat", "enter")
        await wait_for(pilot, lambda: all("heartbeat" in r["message"] for r in view.items), what="search")
        await pilot.press("ctrl+l")  # clear filters
        await wait_for(pilot, lambda: len(view.items) == 500 and view.items[-1]["id"] == 1200, what="cleared")
        app.screen.query_one("#log-logger").value = "ffui.cli"
        await wait_for(pilot, lambda: {r["logger"] for r in view.items} == {"ffui.cli"}, what="logger filter")
        app.screen.query_one("#log-logger").value = ""
        app.screen.query_one("#log-run").value = "2"
        await wait_for(pilot, lambda: view.items and {r["run_id"] for r in view.items} == {2}, what="run filter")


async def test_the_logger_filter_matches_the_names_the_logger_column_shows(home):
    from screens.logs import short_logger

    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_logs(app, pilot)
        shown = {short_logger(r) for r in view.items}
        assert "jobs.supervisor#2" in shown  # the column drops "ffui." and adds the run
        for typed in ("jobs", "jobs.supervisor", "jobs.supervisor#2"):
            app.screen.query_one("#log-logger").value = typed
            await wait_for(pilot, lambda: view.items and {short_logger(r) for r in view.items} == {"jobs.supervisor#2"},
                           what=f"the supervisor's lines for {typed!r}")


async def test_enter_shows_a_line_in_full_with_its_traceback(home):
    from screens.widgets.modals import TextModal

    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_logs(app, pilot)
        app.screen.query_one("#log-level").value = "ERROR"
        await wait_for(pilot, lambda: view.items and view.items[-1]["level"] == "ERROR", what="errors only")
        view.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextModal), what="the line in full")
        text = screen_text(app)
        assert "ValueError: boom" in text and "Traceback" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TextModal)


# -- settings --------------------------------------------------------------------------


async def open_settings(app, pilot):
    await pilot.press("6")
    # the database line is read from the widget: a long home path (pytest-xdist's) folds onto
    # more lines and pushes it below the fold of an 80x24 screen
    await wait_for(pilot, lambda: app.current_mode == "settings"
                   and "schema v" in rendered(app.screen.query_one("#db-info").content),
                   what=lambda: f"settings loaded; the screen shows:\n{screen_text(app)}")
    return app.screen


async def test_a_token_is_stored_as_a_secret_and_never_shown_in_full(home):
    from ffui.db import get_setting, list_settings

    token = "hf_abcdefghijklmnopqrstuvwxyz0123456789"
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#set-huggingface-token").focus()
        await pilot.press(*token)
        assert token not in screen_text(app), "a password input shows dots"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "set: hf_******89" in screen_text(app), what="the masked value")
        assert screen.query_one("#set-huggingface-token").value == "", "the input forgets the token"
        assert await get_setting(app.db, "huggingface.token") == token
        assert [r["value"] for r in await list_settings(app.db) if r["key"] == "huggingface.token"] == ["hf_******89"]
        assert all(token not in m for m in notifications(app))
        assert token not in screen_text(app)


async def test_empty_or_malformed_values_are_one_clear_line_and_save_nothing(home):
    from ffui.db import get_setting

    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#set-runpod-api_key").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: notifications(app), what="the complaint")
        assert notifications(app)[-1] == "the RunPod API key is empty; nothing was saved (paste it, then press enter)"
        screen.query_one("#set-proxy-https").value = "proxy example"
        screen.query_one("#set-proxy-https").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(notifications(app)) == 2, what="the proxy complaint")
        assert "expected a URL like http://proxy.example:3128" in notifications(app)[-1]
        assert await get_setting(app.db, "proxy.https") == "http://proxy.example:3128"
        assert await get_setting(app.db, "runpod.api_key") is None
        assert all("\n" not in m for m in notifications(app))


async def test_proxy_saves_and_empty_removes_and_ctrl_s_saves_all(home):
    from ffui.db import get_setting

    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#set-proxy-http").value = "http://proxy.internal:8080"
        screen.query_one("#set-proxy-no_proxy").value = "localhost,127.0.0.1"
        screen.query_one("#set-proxy-https").value = ""
        assert screen.has_unsaved_changes()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not screen.has_unsaved_changes(), what="everything saved")
        assert await get_setting(app.db, "proxy.http") == "http://proxy.internal:8080"
        assert await get_setting(app.db, "proxy.no_proxy") == "localhost,127.0.0.1"
        assert await get_setting(app.db, "proxy.https") is None, "empty removes the setting"


async def test_paths_and_database_info_are_shown(home):
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(app, pilot)
        text = screen_text(app)
        assert "FFUI_HOME" in text and "FFUI_DB" in text
        paths = rendered(app.screen.query_one("#paths").content)  # folded on screen to fit 80 columns
        assert str(home / "ffui.db") in paths and str(home / "training_outputs") in paths
        info = rendered(app.screen.query_one("#db-info").content)
        assert f"schema v{SCHEMA_VERSION}" in info and "runs 5" in info and "log lines 1,200" in info and "datasets 1" in info
        assert "scrape_sessions" not in info and "training_runs" not in info, "tables are named as the screens name them"


async def test_export_and_import_from_the_settings_screen(home, tmp_path):
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#export-path").focus()
        await pilot.press(*"backup.json", "enter")
        await wait_for(pilot, lambda: (home / "backup.json").exists(), what="the export")
        doc = json.loads((home / "backup.json").read_text())
        assert len(doc["training_runs"]["data"]) == 5
        assert any(m.startswith("exported ") and "secrets left out" in m for m in notifications(app))

        other = seed_fixed_home(tmp_path / "other", log_rows=0)
        other_doc = json.loads((home / "backup.json").read_text())
        other_doc["settings"]["data"].append({"key": "ui.theme", "value": "nord", "updated_at": "2026-01-01"})
        (other / "in.json").write_text(json.dumps(other_doc))
        screen.query_one("#import-path").focus()
        await pilot.press(*str(other / "in.json"), "enter")
        report = lambda: str(getattr(screen.query_one("#io-result").content, "plain", ""))  # noqa: E731
        await wait_for(pilot, lambda: "settings: 1 inserted" in report(), what=f"the import report {notifications(app)}")
        assert "training_runs: 0 inserted, 5 skipped" in report(), "rows already there are skipped, not doubled"
        assert notifications(app)[-1].startswith("imported ")


async def test_bad_export_and_import_paths_are_one_line(home):
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        cases = [
            ("#export-path", "/no/such/folder/out.json", "folder /no/such/folder does not exist"),
            ("#export-path", str(home), "is a directory; give a file path"),
            ("#import-path", "missing.json", "does not exist; nothing was imported"),
            ("#import-path", "ffui.db", "is not UTF-8 text, so not an ffui export"),
        ]
        for n, (field, typed, expected) in enumerate(cases, start=1):
            screen.query_one(field).value = typed
            screen.query_one(field).focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(notifications(app)) >= n, what=expected)
            assert expected in notifications(app)[-1], notifications(app)[-1]
        assert all("\n" not in m and "Traceback" not in m for m in notifications(app))
