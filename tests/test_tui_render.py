"""The dataset row view's "as trained" view (t): the text the model is fed, with the trained
spans highlighted, for the model chosen in the Train form; rendered in a worker process."""

import json

from ffui import db as fdb

from tui_support import app_for, settle, wait_for

SIZE = (80, 24)
ROW = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Two plus two?"},
                    {"role": "assistant", "content": "Four."}, {"role": "user", "content": "Doubled?"},
                    {"role": "assistant", "content": "Eight."}]}


async def import_chat(home):
    from ffui.data import store

    (home / "chat.jsonl").write_text(json.dumps(ROW) + "\n", encoding="utf-8")
    async with fdb.connect(home / "ffui.db", home) as db:
        await store.import_dataset(db, str(home / "chat.jsonl"), name="chat")


def highlighted(static) -> list[str]:
    from screens.dataset_browse import TRAINED_STYLE

    text = static.content  # the rich Text the screen drew, with its styles
    return [text.plain[s.start:s.end] for s in text.spans if str(s.style) == TRAINED_STYLE]


async def open_row(pilot):
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def test_t_shows_the_row_as_trained_with_the_replies_highlighted(home, tiny_model):
    from textual.widgets import Input

    await import_chat(home)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        await open_row(pilot)
        await pilot.press("t")  # no model chosen yet: one line saying where to choose it
        body = app.screen.query_one("#row-body")
        await wait_for(pilot, lambda: "choose a model in the Train form (3) first" in str(body.render()),
                       what="the no-model line")
        await pilot.press("escape", "escape")
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        app.screen.query_one("#tr-model", Input).value = str(tiny_model)
        await pilot.press("escape")
        await settle(pilot)
        await open_row(pilot)
        await pilot.press("t")
        body = app.screen.query_one("#row-body")
        await wait_for(pilot, lambda: "as trained with" in str(body.render()), timeout=120,
                       what=lambda: f"the rendered row, not {str(body.render())[:200]!r}")
        shown = str(body.render())
        assert "<|user|>\nTwo plus two?" in shown and "Be brief." in shown
        assert highlighted(body) == ["Four.</s>\n", "Eight.</s>\n"]
        await pilot.press("t")  # and back to the row as stored
        await wait_for(pilot, lambda: "5 turns" in str(body.render()), what="the stored row")
        assert highlighted(body) == []
