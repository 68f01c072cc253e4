"""The app shell: modes by number key, header, help, command palette, quitting, errors, start-up.

Pilot tests at 80x24 against a home with fixed rows (fast); the start-up test runs the app
in a fresh Python process, as `ffui` does, to check what it imports and how fast the first
frame comes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.widgets import Input

from tui_support import TWO_GPUS, app_for, has_quit, notifications, screen_text, seed_fixed_home, wait_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fixed_home(tmp_path):
    return seed_fixed_home(tmp_path / "home")


async def test_number_keys_switch_modes_and_each_keeps_its_screen_stack(fixed_home):
    from screens.run_detail import RunDetailScreen

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        # Playground last: its chat input takes the focus, and there a digit is text.
        for key, mode in zip("23564", ("datasets", "train", "logs", "settings", "playground")):
            if isinstance(app.focused, Input):  # (Settings opens in its token field, where 4 is text)
                await pilot.press("escape")
            await pilot.press(key)
            await wait_for(pilot, lambda: app.current_mode == mode, what=f"mode {mode}")
        app.screen.set_focus(None)
        await pilot.press("1")
        await pilot.press("enter")  # opens the highlighted (newest) run
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run screen")
        await pilot.press("5", "1")
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen), "mode 1 kept its stack"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "RunsScreen"


async def test_header_shows_home_and_gpus_and_the_runs_screen_has_a_gpu_panel(fixed_home):
    app = app_for(fixed_home, gpu=TWO_GPUS)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.gpu_state is not None, what="the GPU probe")
        await pilot.pause()
        text = screen_text(app)
        header = text.splitlines()[0]
        assert "1 Runs" in header and "6Settings" in header
        assert "2x A100-SXM4-80GB 18%" in header  # the GPU summary (the home is cut to fit)
        assert "GPU0 A100-SXM4-80GB" in text and "37%" in text and "61°C" in text and "212/400W" in text
        assert "GPU1" in text


async def test_no_gpu_is_said_plainly(fixed_home):
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "no GPU" in screen_text(app), what="the no-GPU line")
        assert "no GPU (no NVIDIA driver): runs train on the CPU" in screen_text(app)


def test_gpu_probe_reads_every_gpu_through_nvml_and_never_raises(monkeypatch):
    from ffui import gpu

    gpu.reset_for_tests()
    state = gpu.probe_gpus()  # this machine: no driver, or a real GPU; never an exception
    assert state.gpus or state.reason

    class Mem:
        used, total = 3 * 2**30, 24 * 2**30

    fake = types.SimpleNamespace(
        NVML_TEMPERATURE_GPU=0, nvmlInit=lambda: None, nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetName=lambda h: b"NVIDIA RTX 4090",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=50 + h),
        nvmlDeviceGetMemoryInfo=lambda h: Mem, nvmlDeviceGetTemperature=lambda h, kind: 70,
        nvmlDeviceGetPowerUsage=lambda h: 300_000, nvmlDeviceGetEnforcedPowerLimit=lambda h: 1 / 0,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpu.reset_for_tests()
    try:
        state = gpu.probe_gpus()
    finally:
        gpu.reset_for_tests()
    assert [g.name for g in state.gpus] == ["RTX 4090", "RTX 4090"]
    assert state.gpus[1].util_pct == 51 and state.gpus[0].mem_total_mb == 24 * 1024
    assert state.gpus[0].power_w == 300 and state.gpus[0].power_limit_w is None  # a field it lacks is None
    assert gpu.summary(state) == "2x RTX 4090 50% 6/48G"


async def test_f1_and_question_mark_open_help_for_the_focused_screen(fixed_home):
    from screens.help import HelpScreen

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Help: Runs" in text and "Cancel the run" in text and "Duplicate the config" in text
        await pilot.press("escape", "5")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and "Help: Logs" in screen_text(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def open_palette(pilot):
    """ctrl+p, and wait until the palette takes the keys typed next."""
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette) and pilot.app.screen.focused,
                   what="the command palette")


async def test_command_palette_opens_a_run_and_switches_modes(fixed_home):
    from screens.run_detail import RunDetailScreen

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        await open_palette(pilot)
        await pilot.press(*"open run 3")
        await wait_for(pilot, lambda: "tiny-nan-test" in screen_text(app), what="the run in the palette")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id == 3,
                       what="run 3's screen")
        await open_palette(pilot)
        await pilot.press(*"switch to logs")
        await wait_for(pilot, lambda: "Switch to logs" in screen_text(app), what="the mode command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "logs", what="mode logs")


async def test_command_palette_finds_datasets_and_models(fixed_home):
    import sqlite3

    conn = sqlite3.connect(fixed_home / "ffui.db")
    conn.execute("INSERT INTO models(id, name, location) VALUES ('m1', 'tiny-llama', ?)", (str(fixed_home / "tiny"),))
    conn.commit()
    conn.close()
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        for typed, shown, mode in (("browse support", "Browse dataset support-chats", "datasets"),
                                   ("train model tiny", "Train model tiny-llama", "train")):
            await open_palette(pilot)
            await pilot.press(*typed)
            await wait_for(pilot, lambda: shown in screen_text(app), what=shown)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.current_mode == mode, what=f"mode {mode}")
            app.screen.set_focus(None)
        assert not [m for m in notifications(app) if "internal error" in m]


async def test_q_quits_at_once_without_unsaved_changes(fixed_home):
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert has_quit(app)  # nothing asked
    assert app.db is None, "the database was closed on exit"


async def test_q_asks_first_when_a_form_has_unsaved_changes(fixed_home):
    from screens.widgets.modals import ConfirmModal

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: app.screen.query_one("#set-proxy-https").value, what="settings loaded")
        app.screen.query_one("#set-proxy-https").value = "http://other.example:8080"
        app.screen.set_focus(None)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert "Unsaved changes in Settings" in screen_text(app)
        await pilot.press("n")  # stay
        await pilot.pause()
        assert not has_quit(app) and app.current_mode == "settings"
        app.screen.set_focus(None)  # (back on Settings the token field has the keys again: q would be text)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert has_quit(app)


def test_every_binding_has_an_id_and_a_description():
    from screens import app as app_mod
    from screens import help as help_mod
    from screens import logs, run_detail, runs, settings
    from screens.widgets import lines, modals

    classes = [app_mod.FfuiApp, runs.RunsScreen, run_detail.RunDetailScreen, logs.LogsScreen, settings.SettingsScreen,
               help_mod.HelpScreen, lines.LineView, modals.ConfirmModal, modals.ChoiceModal, modals.TextModal]
    ids = []
    for cls in classes:
        for binding in cls.BINDINGS:
            assert isinstance(binding, Binding), (cls, binding)
            assert binding.id and binding.description, (cls.__name__, binding.key)
            ids.append(binding.id)
    assert len(ids) == len(set(ids)), "binding ids are unique, so a keymap can remap each one"


async def test_errors_are_one_line_and_internal_ones_go_to_the_crash_log(fixed_home):
    from ffui.jobs.errors import JobError

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify_error(JobError("run 9 saved no checkpoint to resume from"))
        app.notify_error(KeyError("surprise"))
        await pilot.pause()
        messages = notifications(app)
        assert messages[0] == "run 9 saved no checkpoint to resume from"
        assert messages[1].startswith("internal error: KeyError") and "ffui-crash.log" in messages[1]
        assert all("\n" not in m and "Traceback" not in m for m in messages)
    assert "KeyError: 'surprise'" in (fixed_home / "ffui-crash.log").read_text()


async def test_the_crash_log_is_private_even_when_an_older_ffui_left_it_readable(fixed_home):
    crash = fixed_home / "ffui-crash.log"
    crash.write_text("an old traceback\n")
    crash.chmod(0o644)
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify_error(KeyError("surprise"))
        await pilot.pause()
    assert crash.stat().st_mode & 0o777 == 0o600
    assert crash.read_text().startswith("an old traceback\n") and "KeyError: 'surprise'" in crash.read_text()


async def test_a_mode_whose_module_is_missing_shows_a_placeholder(fixed_home):
    from screens.app import ComingScreen, _screen_factory

    make = _screen_factory("screens.no_such_screen", "NoSuchScreen", "Someday", optional=True)
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        app.add_mode("someday", make)
        await app.switch_mode("someday")
        await pilot.pause()
        assert isinstance(app.screen, ComingScreen)
        assert "Someday: coming" in screen_text(app)


def test_a_bad_database_file_is_one_line_before_the_ui_starts(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database, it is a note\n" * 10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    env.update(FFUI_HOME=str(tmp_path), FFUI_DB=str(junk))
    r = subprocess.run([sys.executable, "-c", "from ffui.cli import main; main()"], env=env, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("ffui: ") and "not a SQLite database" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


STARTUP_PROBE = textwrap.dedent("""
    import time, sys, json
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from tui_support import app_for, on_each_frame, wait_for
    app = app_for(Path({home!r}))
    modes = dict(zip("123456", "runs datasets train playground logs settings".split()))
    first = {{}}
    # wall clock: the parent knows when it started us
    on_each_frame(app, lambda update: first.setdefault("frame", time.time()))

    async def visit(pilot):
        if not {visit}:
            app.exit()
            return
        for key in "23564":  # (the Playground last: its chat input takes digits as text)
            app.screen.set_focus(None)  # (Settings opens in its token field, where digits are text too)
            await pilot.press(key)
            await wait_for(pilot, lambda: app.current_mode == modes[key], what=modes[key])
        app.screen.set_focus(None)
        await pilot.press("1", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen", what="a run's screen")
        first["modes"] = [m for m in modes.values() if app.mode_stack(m)]
        app.exit()

    app.run(headless=True, size=(80, 24), auto_pilot=visit)
    heavy = sorted(m for m in ("torch", "transformers", "peft", "trl", "datasets", "accelerate") if m in sys.modules)
    print(json.dumps({{"first_frame_s": first["frame"], "heavy": heavy, "modes": first.get("modes", [])}}))
""")


def startup_probe(home: Path, visit: bool) -> dict:
    code = STARTUP_PROBE.format(tests=str(REPO / "tests"), home=str(home), visit=visit)
    started = time.time()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    result["first_frame_s"] -= started
    return result


def test_no_mode_imports_torch_or_transformers(fixed_home):
    """In a fresh process, as `ffui` runs: every mode visited and a run opened; torch never imported."""
    result = startup_probe(fixed_home, visit=True)
    assert result["heavy"] == [], f"the UI process imported {result['heavy']}"
    assert {"runs", "datasets", "train", "playground", "logs", "settings"} <= set(result["modes"])


async def test_a_user_keymap_moves_keys_and_the_header_follows(fixed_home, ffui):
    r = ffui("settings", "set", "ui.keymap", '{"app.mode.runs": "f2", "app.mode.datasets": "f3,ctrl+d"}',
             home=fixed_home)
    assert r.returncode == 0, r.stderr
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "f2" in screen_text(app).splitlines()[0], what="the header with f2")
        await pilot.press("f3")
        await wait_for(pilot, lambda: app.current_mode == "datasets", what="f3 opening Datasets")
        await pilot.press("1")  # no longer bound
        await pilot.pause()
        assert app.current_mode == "datasets"
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "runs", what="f2 opening Runs")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: app.current_mode == "datasets", what="the second key of a binding")
        await pilot.press("3")  # untouched bindings keep their keys
        await wait_for(pilot, lambda: app.current_mode == "train", what="3 opening Train")


async def test_a_broken_keymap_is_one_warning_and_the_rest_applies(fixed_home):
    _store_setting(fixed_home, "ui.keymap", '{"app.mode.runz": "f2", "app.mode.logs": "f5"}')
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: notifications(app), what="the keymap warning")
        assert any("app.mode.runz" in n and "ffui keys" in n for n in notifications(app))
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.current_mode == "logs", what="the valid entry applied")
    _store_setting(fixed_home, "ui.keymap", "{not json")
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: notifications(app), what="the keymap warning")
        assert any("not valid JSON" in n for n in notifications(app))
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "datasets", what="the default keys")


def test_keys_lists_every_binding_and_the_keymap_setting_is_checked(fixed_home, ffui):
    r = ffui("keys", home=fixed_home)
    assert r.returncode == 0, r.stderr
    ids = [line.split()[0] for line in r.stdout.splitlines() if line.strip() and not line.startswith("*")]
    assert {"app.mode.runs", "runs.cancel", "app.quit"} <= set(ids) and len(ids) == len(set(ids))
    for bad, says in (('{"app.mode.run": "f2"}', "no binding has the id 'app.mode.run'"),
                      ('{"app.mode.runs": "f2"', "not valid JSON"),
                      ('["f2"]', "must be a JSON object"),
                      ('{"app.mode.runs": 2}', "needs a key as a string")):
        r = ffui("settings", "set", "ui.keymap", bad, home=fixed_home)
        assert r.returncode == 1 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ffui("settings", "get", "ui.keymap", home=fixed_home).returncode == 1  # nothing was stored
    assert ffui("settings", "set", "ui.keymap", '{"runs.cancel": "k"}', home=fixed_home).returncode == 0
    r = ffui("keys", home=fixed_home)
    assert any(line.split()[:2] == ["runs.cancel", "k"] and "*" in line for line in r.stdout.splitlines())


async def test_the_theme_setting_applies_and_a_theme_picked_in_the_app_is_kept(fixed_home):
    _store_setting(fixed_home, "ui.theme", "light")
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.theme == "textual-light", what="the light theme")
        app.theme = "nord"  # what ctrl+p > "Change theme" does
        await wait_for(pilot, lambda: _setting(fixed_home, "ui.theme") == "nord", what="the theme saved")
    _store_setting(fixed_home, "ui.theme", "solarised-purple")
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: notifications(app), what="the theme warning")
        assert any("no theme 'solarised-purple'" in n and "light" in n for n in notifications(app))
    assert _setting(fixed_home, "ui.theme") == "solarised-purple"  # a bad value is reported, not overwritten


def _store_setting(home: Path, key: str, value: str) -> None:
    from ffui.db import open_sync

    conn = open_sync(home / "ffui.db")
    conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
    conn.close()


def _setting(home: Path, key: str):
    from ffui.db import open_sync

    conn = open_sync(home / "ffui.db")
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


async def test_each_mode_opens_with_a_field_focused_and_in_a_text_field_digits_are_text(fixed_home):
    """Typing a token on Settings stays in its field (the 1 of hf_abc1 switched to Runs); a
    paste right after 6 lands in it; the Train form's first field is focused and tab only
    stops on fields a user can see and use."""
    from textual import events
    from textual.widgets import DataTable

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        assert isinstance(app.focused, DataTable)
        # 6 and a paste right behind it, as a terminal delivers them, while Settings is still built
        for event in (events.Key("6", "6"), events.Paste("hf_pasted_1"), *[events.Key(c, c) for c in "23"]):
            app.post_message(event)
        await wait_for(pilot, lambda: app.current_mode == "settings" and isinstance(app.focused, Input)
                       and app.focused.value == "hf_pasted_123", what="the paste and keys in the token field")
        token = app.focused
        assert token.id == "set-huggingface-token"
        token.value = ""
        await pilot.press(*"hf_abc1")
        await pilot.pause()
        assert app.current_mode == "settings" and token.value == "hf_abc1"
        token.value = ""
        await pilot.press("escape", "1")  # escape leaves the field: the digit switches again
        await wait_for(pilot, lambda: app.current_mode == "runs", what="mode runs")
        await pilot.press("escape", "3")
        await wait_for(pilot, lambda: app.current_mode == "train" and app.focused is not None, what="the form")
        assert app.focused.id == "tr-preset"
        for _ in range(12):
            await pilot.press("tab")
            focused = app.focused
            assert type(focused).__module__ != "textual.containers", f"tab stopped on {focused!r}"
            assert focused.region.area and app.screen.region.contains_region(focused.region), focused


async def test_a_stray_s_on_the_runs_screen_asks_before_a_checkpoint(fixed_home):
    from screens.widgets.modals import ConfirmModal

    control = next((fixed_home / "training_outputs").glob("llama-chat-qlora_*")) / "control" / "checkpoint"
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        runs = await wait_for(pilot, lambda: app.screen.row_ids and app.screen, what="the runs table")
        runs.query_one("#runs-table").move_cursor(row=runs.row_ids.index(2))  # the running one
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("n")
        await pilot.pause()
        assert not control.exists()
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question again")
        await pilot.press("y")
        await wait_for(pilot, control.exists, what="the checkpoint request")
        runs.query_one("#runs-table").move_cursor(row=runs.row_ids.index(1))  # completed
        await pilot.press("s")
        await wait_for(pilot, lambda: any("only a running run" in m for m in notifications(app)), what="the refusal")
        assert not isinstance(app.screen, ConfirmModal)


async def test_the_run_screen_chats_with_its_adapter_and_only_when_it_has_one(fixed_home):
    from screens.playground import PlaygroundScreen

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        app.open_run(3)  # failed: no adapter
        await wait_for(pilot, lambda: "tiny-nan-test" in screen_text(app), what="run 3's screen")
        assert "Chat" not in screen_text(app).splitlines()[-1]
        await pilot.press("p")
        await pilot.pause()
        assert app.current_mode == "runs"
        app.open_run(1)  # completed, with an adapter
        await wait_for(pilot, lambda: "p Chat" in screen_text(app).splitlines()[-1], what="p in the footer")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PlaygroundScreen) and app.screen.adapter_path(),
                       what="the Playground with the adapter chosen")
        assert app.screen.adapter_path().endswith("qwen-alpaca-lora_20260101_120000/adapter")
        assert app.screen.base_model() == "tiny"


async def test_the_palette_finds_actions_by_the_words_people_use(fixed_home):
    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        for typed, shown in (("chat", "Chat with an adapter"), ("chat", "Chat with run 1"),
                             ("adapter", "Chat with an adapter"), ("hub", "Hugging Face hub token"),
                             ("hub", "Import a dataset from the hub")):
            await open_palette(pilot)
            await pilot.press(*typed)
            await wait_for(pilot, lambda: shown in screen_text(app), what=f"{shown!r} for {typed!r}")
            await pilot.press("escape")
            await pilot.pause()


async def test_help_lists_the_screens_keys_first_generic_ones_last_and_says_it_scrolls(fixed_home):
    from screens.help import HelpScreen, key_table
    from tui_support import rendered

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        app.open_run(1)
        await wait_for(pilot, lambda: "qwen-alpaca-lora" in screen_text(app), what="run 1's screen")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await pilot.pause()
        text = screen_text(app)
        assert "scroll this help" in text
        keys = rendered(key_table(app.screen.target))
        order = [keys.index(word) for word in ("Duplicate the config", "Back to the list", "Datasets", "Focus Next")]
        assert order == sorted(order), keys  # the run's keys, its other keys, the app's, generic ones


async def test_the_playground_transcript_scrolls_from_the_keyboard_while_typing(fixed_home):
    from textual.containers import VerticalScroll
    from textual.widgets import Static

    app = app_for(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "playground" and app.focused is not None, what="mode 4")
        assert app.focused.id == "pg-input"
        chat = app.screen.query_one("#pg-chat", VerticalScroll)
        await chat.mount_all([Static(f"answer line {i}") for i in range(60)])  # a long chat
        await wait_for(pilot, lambda: chat.max_scroll_y > 0, what="a transcript longer than the screen")
        chat.scroll_end(animate=False)
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y, what="the end")
        await pilot.press("pageup")
        await wait_for(pilot, lambda: chat.scroll_y < chat.max_scroll_y, what="a page up")
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: chat.scroll_y == 0, what="the start")
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: chat.scroll_y > 0, what="a page down")
        assert app.focused.id == "pg-input"  # still typing
