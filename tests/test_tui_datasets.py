"""Datasets mode (2) through the real app: list, browse pages, a row in full, import with a
preview, merge/dedupe/split/stats/export/delete, bad input as one line, and a million rows."""

import json
from pathlib import Path


from ffui import db as fdb

from tui_support import app_for, has_quit, notifications as notices, settle, wait_for

SIZE = (80, 24)


def write_chat(path: Path, n: int, dup_every: int = 0) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            k = 0 if dup_every and i % dup_every == 0 else i
            fh.write(json.dumps({"messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"What is {k} plus {k}?"},
                {"role": "assistant", "content": f"{k} plus {k} is {2 * k}."},
                {"role": "user", "content": "And doubled?"},
                {"role": "assistant", "content": f"{4 * k}."}]}) + "\n")
    return path


def write_pairs(path: Path, n: int) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"question": f"q{i}", "answer": f"a{i}"}) + "\n")
    return path


async def import_file(home: Path, path: Path, name: str) -> dict:
    from ffui.data import store

    async with fdb.connect(home / "ffui.db", home) as db:
        return await store.import_dataset(db, str(path), name=name)


async def datasets(home: Path) -> dict:
    from ffui.data import store

    async with fdb.connect(home / "ffui.db", home) as db:
        return {d["name"]: d for d in await store.list_datasets(db)}


def table_text(table) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_the_list_shows_counts_and_enter_browses_pages_and_a_row_in_full(home):
    from textual.widgets import DataTable

    from screens.dataset_browse import DatasetRowsScreen, RowScreen

    await import_file(home, write_chat(home / "chat.jsonl", 120), "chat")
    await import_file(home, write_pairs(home / "qa.jsonl", 7), "qa")
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        rows = table_text(app.screen.query_one("#ds-table", DataTable))
        assert [r[1] for r in rows] == ["chat", "qa"] and [r[3] for r in rows] == ["120", "7"]
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetRowsScreen)
        t = screen.query_one("#rows-table", DataTable)
        assert t.row_count == 50 and table_text(t)[0][0] == "1" and "rows 1–50 of 120" in str(
            screen.query_one("#rows-title").render())
        assert table_text(t)[0][1].startswith("What is 0 plus 0") and table_text(t)[0][3] == "5"
        await pilot.press("n")
        await settle(pilot)
        assert table_text(t)[0][0] == "51" and t.cursor_row == 0
        await pilot.press("n")
        await settle(pilot)
        assert [r[0] for r in table_text(t)][:1] == ["101"] and t.row_count == 20
        await pilot.press("n")  # no page after the last: stays
        await settle(pilot)
        assert table_text(t)[-1][0] == "120"
        await pilot.press("up")  # the cursor at the top of a page: up loads the page before
        await settle(pilot)
        assert table_text(t)[0][0] == "51" and t.cursor_row == 49 and table_text(t)[49][0] == "100"
        await pilot.press("down")  # and down at the bottom loads the next
        await settle(pilot)
        assert table_text(t)[0][0] == "101" and t.cursor_row == 0
        await pilot.press("home")
        await settle(pilot)
        assert table_text(t)[0][0] == "1"
        await pilot.press("end")
        await settle(pilot)
        assert table_text(t)[-1][0] == "120" and t.cursor_row == t.row_count - 1
        await pilot.press("g")
        await settle(pilot)
        await pilot.press(*"77", "enter")
        await settle(pilot)
        assert table_text(t)[0][0] == "77" and table_text(t)[0][1].startswith("What is 76 plus")
        await pilot.press("enter")
        await settle(pilot)
        row = app.screen
        assert isinstance(row, RowScreen)
        body = str(row.query_one("#row-body").render())
        assert "5 turns" in body and "── user" in body and "── assistant" in body
        assert "What is 76 plus 76?" in body and "And doubled?" in body and "304." in body
        await pilot.press("n")
        await settle(pilot)
        assert "What is 77 plus 77?" in str(row.query_one("#row-body").render())
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "DatasetsScreen"
        await pilot.press("down", "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        body = str(app.screen.query_one("#row-body").render())
        assert "── question" in body and "q0" in body and "── answer" in body and "a0" in body


def test_a_row_shows_its_system_prompt_column_as_the_first_turn():
    from ffui.data.formats import detect_layout, normalise_row
    from screens.dataset_browse import render_record

    raw = [{"system": "You are terse.", "conversations": [{"from": "human", "value": "hi"},
                                                         {"from": "gpt", "value": "yo"}]}]
    lay = detect_layout(raw)
    body = str(render_record(normalise_row(raw[0], lay), lay))
    assert body.index("── system") < body.index("You are terse.") < body.index("── user") < body.index("hi")
    own = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
           "system": "Not shown as a turn."}
    lay = detect_layout([own])
    body = str(render_record(normalise_row(own, lay), lay))
    assert body.count("── system") == 1 and body.index("Be brief.") < body.index("── user")


async def test_import_shows_a_preview_before_writing_then_imports_with_progress(home):
    from textual.widgets import DataTable, Input

    from screens.dataset_import import ImportScreen

    src = write_chat(home / "talks.jsonl", 40)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        assert "No datasets yet" in str(app.screen.query_one("#ds-empty").render())
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ImportScreen)
        app.screen.query_one("#imp-path", Input).value = str(home / "tal")
        await settle(pilot)
        await pilot.press("tab")  # completes the path from the directory listing
        await settle(pilot)
        assert app.screen.query_one("#imp-path", Input).value == str(src)
        await pilot.press("enter")
        await settle(pilot)
        preview = str(app.screen.query_one("#imp-preview-body").render())
        assert "detected format: chatml" in preview and "[5 turns] user: What is 0 plus 0?" in preview
        assert app.screen.query_one("#imp-name", Input).value == "talks"
        assert await datasets(home) == {}  # the preview wrote nothing
        importer = app.screen
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        assert app.screen.__class__.__name__ == "DatasetsScreen"
        assert (await datasets(home))["talks"]["rows"] == 40
        assert importer.progress_seen and importer.progress_seen[-1]["rows"] == 40  # the bar followed it
        assert any("imported 40 rows into talks" in n for n in notices(app))
        t = app.screen.query_one("#ds-table", DataTable)
        assert table_text(t)[t.cursor_row][1] == "talks"


async def preview_in_import_screen(pilot, path):
    """Datasets mode, i, the path typed in, enter: the import screen with its preview (or error)."""
    from textual.widgets import Input

    await pilot.press("2", "i")
    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#imp-path", Input).value = str(path)
    await pilot.press("enter")
    await settle(pilot)
    return screen


async def test_import_a_repo_folder_picks_its_split_by_keyboard(home):
    """A hub repo as downloaded: the preview names the split it read and the others; down leaves
    the path field, a split typed there and enter preview that split, ctrl+s imports it."""
    from textual.widgets import Input

    data = home / "repo" / "data"
    data.mkdir(parents=True)
    write_chat(data / "train-00000-of-00001.jsonl", 6)
    write_chat(data / "test-00000-of-00001.jsonl", 2)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview_in_import_screen(pilot, home / "repo")
        preview = str(screen.query_one("#imp-preview-body").render())
        assert "split train · also: test" in preview and "6 rows" not in preview  # (bytes for JSONL)
        assert screen.query_one("#imp-name", Input).value == "repo"
        await pilot.press("down", *"test", "enter")
        await settle(pilot)
        assert screen.query_one("#imp-split", Input).value == "test"
        preview = str(screen.query_one("#imp-preview-body").render())
        assert "split test · also: train" in preview
        assert screen.query_one("#imp-name", Input).value == "repo-test"
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        assert (await datasets(home))["repo-test"]["rows"] == 2


async def test_import_asks_for_a_preview_first_and_bad_input_is_one_line(home):
    from textual.widgets import Input

    bad = home / "bad.jsonl"
    bad.write_text('{"input": "a", "output": "b"}\n{"input": "c", "output": \n')
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview_in_import_screen(pilot, home / "missing.jsonl")
        assert "missing.jsonl" in str(screen.query_one("#imp-problem").render())
        screen.query_one("#imp-path", Input).value = str(bad)
        await pilot.press("ctrl+s")  # no preview yet: it previews instead of importing
        await settle(pilot)
        assert "check the preview first" in str(screen.query_one("#imp-status").render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "line 2" in str(screen.query_one("#imp-problem").render())
        assert await datasets(home) == {}
        assert screen.is_current  # still there, to fix the input
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "DatasetsScreen"
    assert not (home / "ffui-crash.log").exists()


async def test_dedupe_split_merge_stats_export_and_delete_from_the_screen(home):
    from textual.widgets import DataTable, Input, SelectionList

    from screens.dataset_browse import DatasetStatsScreen

    await import_file(home, write_chat(home / "chat.jsonl", 30, dup_every=3), "chat")
    await import_file(home, write_chat(home / "more.jsonl", 10), "more")
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        # dedupe: a form with the new name, then a new dataset
        await pilot.press("d")
        await settle(pilot)
        assert app.screen.query_one("#f-name", Input).value == "chat-dedupe"
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        ds = await datasets(home)
        assert ds["chat-dedupe"]["rows"] == 21  # rows 0,3,6..27 are the same conversation
        assert any("9 removed" in n for n in notices(app))
        # split the highlighted (new) dataset
        t = app.screen.query_one("#ds-table", DataTable)
        assert table_text(t)[t.cursor_row][1] == "chat-dedupe"
        await pilot.press("s")
        await settle(pilot)
        app.screen.query_one("#f-ratios", Input).value = "0.8,lots"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "ratios" in str(app.screen.query_one("#form-error").render())  # stays open, says why
        app.screen.query_one("#f-ratios", Input).value = "0.6,0.4"
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        ds = await datasets(home)
        assert ds["chat-dedupe-train"]["rows"] + ds["chat-dedupe-validation"]["rows"] == 21
        # merge: pick two datasets in the selection list
        await pilot.press("home")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        sel = app.screen.query_one(SelectionList)
        assert sel.selected == ["chat"]
        await pilot.press("down", "space")  # also 'more'
        app.screen.query_one("#f-name", Input).value = "both"
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        assert (await datasets(home))["both"]["rows"] == 40
        # stats
        await pilot.press("t")
        await settle(pilot, 5)
        assert isinstance(app.screen, DatasetStatsScreen)
        text = str(app.screen.query_one("#stats-body").render())
        assert "40 rows" in text and "duplicates" in text and "turns per conversation" in text
        await pilot.press("escape")
        await settle(pilot)
        # export to a file
        out = home / "both.jsonl"
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("#f-path", Input).value = str(out)
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        assert out.exists() and len(out.read_text().splitlines()) == 40
        assert any(f"exported 40 rows of both to {out}" in n for n in notices(app))
        # exporting again without overwrite is one line, not a traceback
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("#f-path", Input).value = str(out)
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        assert any("exists" in n for n in notices(app)), notices(app)
        # delete asks first
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot, 5)
        assert "both" not in await datasets(home)
    assert not (home / "ffui-crash.log").exists()


async def test_a_million_rows_browse_one_page_at_a_time(home):
    """1,000,000 rows: the table holds one page; last page, jumps and neighbours are keyset/index
    lookups, so every move loads exactly one page."""
    from textual.widgets import DataTable

    from screens.dataset_browse import DatasetRowsScreen

    n = 1_000_000
    async with fdb.connect(home / "ffui.db", home) as db:
        sid = await fdb.create_scrape_session(db, "test", "generated", "standard", name="big")
        added = await fdb.add_scraped_pairs(db, sid, ({"input": f"question {i}", "output": f"answer {i}"}
                                                      for i in range(n)))
    assert added == n
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        assert table_text(app.screen.query_one("#ds-table", DataTable))[0][3] == "1,000,000"
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetRowsScreen)
        t = screen.query_one("#rows-table", DataTable)
        loads = screen.loads
        await pilot.press("end")
        await settle(pilot)
        assert table_text(t)[-1][0] == "1,000,000" and table_text(t)[-1][1] == "question 999999"
        assert "page 20,000/20,000" in str(screen.query_one("#rows-pos").render())
        await pilot.press("g")
        await settle(pilot)
        await pilot.press(*"500001", "enter")
        await settle(pilot)
        assert table_text(t)[0][:2] == ["500,001", "question 500000"]
        await pilot.press("p")
        await settle(pilot)
        assert table_text(t)[0][0] == "499,951" and table_text(t)[-1][0] == "500,000"
        for _ in range(3):
            await pilot.press("n")
        await settle(pilot)
        assert table_text(t)[0][:2] == ["500,101", "question 500100"]
        assert t.row_count == 50  # one page in the widget, never more
        assert screen.loads - loads <= 6  # one page read per move: end, goto, p, n, n, n
        await pilot.press("home")
        await settle(pilot)
        assert table_text(t)[0][:2] == ["1", "question 0"]


async def test_import_problems_stay_on_screen_and_a_csv_with_unknown_columns_imports_through_map(home):
    """The problem stays (a 5 s notice vanished, leaving 'see the message') until the input
    changes; Map (as --map) and Format make a CSV with unknown columns importable here."""
    from textual.widgets import Input, Select

    from screens.dataset_import import ImportScreen

    src = home / "qa.csv"
    src.write_text("question,reply\nWhat is 2+2?,4\nCapital of France?,Paris\n")
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview_in_import_screen(pilot, src)
        problem = screen.query_one("#imp-problem")
        assert problem.display and "cannot tell the format" in str(problem.render())
        assert "choose a Format" in str(problem.render()) and "--map" not in str(problem.render())
        assert not [n for n in notices(app) if "cannot tell" in n]  # on the screen, not in a notice that vanishes
        screen.query_one("#imp-map", Input).value = "input=question, output=nope"
        await settle(pilot)
        assert not problem.display  # the input changed
        screen.query_one("#imp-map", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "'nope'" in str(problem.render()) and "question, reply" in str(problem.render())
        screen.query_one("#imp-map", Input).value = "input=question, output=reply"
        screen.query_one("#imp-format", Select).value = "input-output"
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        preview = str(screen.query_one("#imp-preview-body").render())
        assert not problem.display and "What is 2+2? → 4" in preview, preview
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        assert not isinstance(app.screen, ImportScreen)
    async with fdb.connect(home / "ffui.db", home) as db:
        from ffui.data import store

        rows = await store.page(db, (await datasets(home))["qa"]["id"], limit=5)
    assert [(r["input"], r["output"]) for r in rows] == [("What is 2+2?", "4"), ("Capital of France?", "Paris")]


async def test_quitting_the_import_screen_with_a_path_typed_asks_first(home):
    from screens.widgets.modals import ConfirmModal

    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview_in_import_screen(pilot, home / "some.csv")
        screen.query_one("#imp-format").focus()  # a picker: q is not text there
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("n")
        await pilot.pause()
        assert not has_quit(app) and app.screen is screen
