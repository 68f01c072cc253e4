"""Snapshots of the Datasets, Train and Playground modes at 80x24 with deterministic data.

Fixed: the home shown in the header, the datasets' dates, the GPU state (none), the input
cursor (no blink). Update after an intended change with: pytest --snapshot-update
"""

import asyncio
import json
from pathlib import Path

import pytest

from ffui import db as fdb
from tui_support import app_for, stop_blinking
from tui_support import settle as settle_workers

SIZE = (80, 24)


def make_data(home: Path) -> None:
    from ffui.data import store

    with open(home / "talks.jsonl", "w") as fh:
        for i in range(60):
            fh.write(json.dumps({"messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"{2 * i}."},
                {"role": "user", "content": "Show your work."},
                {"role": "assistant", "content": f"{i} + {i} = {2 * i}"}]}) + "\n")
    with open(home / "qa.jsonl", "w") as fh:
        for i in range(25):
            fh.write(json.dumps({"instruction": f"Name colour number {i}.", "input": "",
                                 "output": ["red", "green", "blue"][i % 3]}) + "\n")
    model = home / "llama-7b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000, "intermediate_size": 11008,
        "num_attention_heads": 32, "num_key_value_heads": 32}))

    async def go():
        async with fdb.connect(home / "ffui.db", home) as db:
            await store.import_dataset(db, str(home / "talks.jsonl"), name="talks")
            await store.import_dataset(db, str(home / "qa.jsonl"), name="colours")
            await db.write("UPDATE scrape_sessions SET created_at = '2025-01-02 03:04:05', "
                           "source_details = 'jsonl:~/data/' || name || '.jsonl'")
    asyncio.run(go())


@pytest.fixture
def snap_home(home, monkeypatch):
    make_data(home)
    monkeypatch.chdir(home)  # paths typed in the snapshots are relative, so they do not vary
    return home


@pytest.fixture
def snap_app(snap_home):
    return app_for(snap_home, home_label="/srv/ffui")


async def settle(pilot, rounds: int = 3):
    await settle_workers(pilot, rounds, timeout=30)
    stop_blinking(pilot.app)
    await pilot.pause()


def test_datasets_list(snap_compare, snap_app):
    async def before(pilot):
        await pilot.press("2")
        await settle(pilot)
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=before)


def test_dataset_rows_page(snap_compare, snap_app):
    async def before(pilot):
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=before)


def test_dataset_row_as_turns(snap_compare, snap_app):
    async def before(pilot):
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await settle(pilot)
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=before)


def test_dataset_import_preview(snap_compare, snap_app):
    async def before(pilot):
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press(*"qa.jsonl", "enter")
        await settle(pilot)
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=before)


def test_train_form(snap_compare, snap_app):
    async def before(pilot):
        await pilot.press("3")
        await settle(pilot, 4)
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=before)


def test_train_form_with_a_model_and_a_preset(snap_compare, snap_app):
    async def before(pilot):
        from textual.widgets import Select

        await pilot.press("3")
        await settle(pilot, 4)
        form = pilot.app.screen
        form.query_one("#tr-model").value = "llama-7b"
        form.query_one("#tr-preset", Select).value = "quick"
        await settle(pilot, 4)
        form.query_one("#hp-lora_r").focus()
        form.query_one("#hp-lora_r").value = "0"
        await settle(pilot, 3)
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=before)


def test_playground(snap_compare, snap_app):
    async def before(pilot):
        await pilot.press("4")
        await settle(pilot)
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=before)
