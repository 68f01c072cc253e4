"""Playground mode (4) through the real app, on a real adapter from a real tiny run: pick the
adapter (its base follows), chat over turns with tokens streaming in, base vs adapter side by
side, settings, one-line errors for a missing model or adapter, and the worker process stopped
when the app exits. Also: the app process never imports torch or transformers."""

import os
import subprocess
import sys

import pytest

import test_inference as shared
from conftest import REPO
from procs_support import wait_exit
from ffui import db as fdb

from ffui.procs import alive
from tui_support import app_for
from tui_support import notifications as notices
from tui_support import settle as _settle

SIZE = (80, 24)


async def settle(pilot, rounds: int = 3):
    await _settle(pilot, rounds, timeout=120)  # a first model load takes a while on a busy CPU


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("torch")
    return shared.trained_home(tmp_path_factory)


async def send(pilot, text: str):
    from textual.widgets import Input

    pilot.app.screen.query_one("#pg-input", Input).value = text
    pilot.app.screen.query_one("#pg-input", Input).focus()
    await pilot.press("enter")
    await settle(pilot)


async def test_chat_with_a_trained_adapter_streams_and_compares_with_the_base(trained, monkeypatch):
    from textual.widgets import Input, Select

    from screens.playground import Answer, PlaygroundScreen

    home, run = trained
    pieces = []
    real_add = Answer.add
    monkeypatch.setattr(Answer, "add", lambda self, piece: (pieces.append(piece), real_add(self, piece))[1])
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PlaygroundScreen)
        assert run["adapter_path"] in screen.adapters
        screen.query_one("#pg-adapter", Select).value = run["adapter_path"]  # the base model follows
        await settle(pilot)
        assert screen.query_one("#pg-base", Input).value == run["base_model"]
        assert screen.loaded_key == (run["base_model"], run["adapter_path"])
        assert "loaded" in str(screen.query_one("#pg-status").render())
        pid = screen.worker_proc.pid
        assert alive(pid)
        screen.query_one("#pg-temperature", Input).value = "0"
        screen.query_one("#pg-max-new", Input).value = "8"
        question, answer = shared.FACTS[0]
        await send(pilot, question)
        answers = list(screen.query(Answer))
        assert len(answers) == 1 and answers[0].who == "adapter"
        assert answers[0].text.startswith(answer) and len(pieces) >= 2  # streamed in pieces
        assert "tok/s" in answers[0].footer
        # a second turn: the whole conversation goes back to the model
        await send(pilot, shared.FACTS[1][0])
        assert [m["role"] for m in screen.messages] == ["user", "assistant", "user", "assistant"]
        assert screen.messages[-1]["content"]  # (trained on single turns: what it says here is its own)
        # side by side: the same prompt answered by the base (adapter off) and by the adapter
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert screen.messages == [] and not list(screen.query(Answer))
        await pilot.press("ctrl+b")
        await send(pilot, shared.FACTS[2][0])
        base, adapted = list(screen.query(Answer))
        assert (base.who, adapted.who) == ("base", "adapter") and base.parent is adapted.parent
        assert adapted.text.startswith(shared.FACTS[2][1]) and base.text and base.text != adapted.text
        assert not base.failed and not adapted.failed
    wait_exit(pid, timeout=5, what="the worker process to stop with the app")


async def test_missing_models_adapters_and_bad_settings_are_one_line(trained, tmp_path):
    from textual.widgets import Input, Select

    home, run = trained
    gone = tmp_path / "gone-adapter"
    async with fdb.connect(home / "ffui.db", home) as db:
        aid = await fdb.create_adapter(db, type="lora", name="gone", location=str(gone))
    app = app_for(home)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(pilot)
            screen = app.screen
            await send(pilot, "hello")  # nothing picked yet
            assert "pick an adapter or a base model first" in str(screen.query_one("#pg-status").render())
            base = screen.query_one("#pg-base", Input)
            base.value = str(tmp_path / "no-model")
            base.focus()
            await pilot.press("enter")
            await settle(pilot)
            assert any("base model not found" in n and "\n" not in n for n in notices(app)), notices(app)
            base.value = run["base_model"]
            screen.query_one("#pg-adapter", Select).value = str(gone)
            await settle(pilot)
            assert any("adapter not found" in n for n in notices(app)), notices(app)
            screen.query_one("#pg-adapter", Select).value = "__none__"  # loads the base alone
            await settle(pilot)
            assert "loaded" in str(screen.query_one("#pg-status").render())
            screen.query_one("#pg-temperature", Input).value = "hot"
            await send(pilot, "hello")
            assert "temperature must be a number" in str(screen.query_one("#pg-status").render())
            screen.query_one("#pg-temperature", Input).value = "0.5"
            screen.query_one("#pg-top-p", Input).value = "2"
            await send(pilot, "hello")
            assert "top_p must be between" in str(screen.query_one("#pg-status").render())
            pid = screen.worker_proc.pid if screen.worker_proc else None
        if pid:
            wait_exit(pid, timeout=5, what="the worker process to stop with the app")
        assert not (home / "ffui-crash.log").exists()
    finally:
        async with fdb.connect(home / "ffui.db", home) as db:
            await fdb.delete_adapter(db, aid)


def test_the_app_never_imports_torch_or_transformers(tmp_path):
    """Visit every mode of the real app in a fresh process, then look at sys.modules."""
    home = tmp_path / "home"
    home.mkdir()
    code = f"""
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {str(REPO / "tests")!r})
from tui_support import app_for, wait_for

async def main():
    app = app_for(Path({str(home)!r}))
    modes = dict(zip('123456', 'runs datasets train playground logs settings'.split()))
    async with app.run_test(size=(80, 24)) as pilot:
        for key in '123456':
            app.screen.set_focus(None)  # (the Playground's chat input takes digits as text)
            await pilot.press(key)
            await wait_for(pilot, lambda: app.current_mode == modes[key], what=modes[key])
        print([type(app.get_screen_stack(m)[0]).__name__ for m in ('datasets', 'train', 'playground')])
    print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))

asyncio.run(main())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                         cwd=str(REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == "['DatasetsScreen', 'TrainScreen', 'PlaygroundScreen']"
    assert lines[-1] == "[]"


async def test_escape_leaves_the_message_field_so_number_keys_switch_modes(home):
    from textual.widgets import Input

    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert screen.focused is screen.query_one("#pg-input", Input)
        await pilot.press("2")  # typed into the message
        assert screen.query_one("#pg-input", Input).value == "2" and app.current_mode == "playground"
        await pilot.press("escape")
        await pilot.press("i")
        assert screen.focused is screen.query_one("#pg-input", Input)
        await pilot.press("escape", "3")
        await settle(pilot)
        assert app.current_mode == "train"
        await pilot.press("escape", "4")  # the Train form's fields let go on escape too
        await settle(pilot)
        assert app.current_mode == "playground"
    assert screen.worker_proc is None  # nothing was loaded: no worker was started
