"""Every column accounted for: the import preview and `ffui data show` say how training uses
each column, or that it is kept and not trained; columns that change a row's meaning say so."""

import json
from pathlib import Path

from ffui.data.columns import CHANGES_MEANING, KEPT, USED, column_report
from ffui.data.formats import detect_layout


def report_of(rows: list[dict], **kw) -> dict[str, tuple[str, str]]:
    return {c.column: (c.status, c.short) for c in column_report(detect_layout(rows, **kw))}


def test_each_format_names_what_it_trains_and_what_it_keeps():
    assert report_of([{"id": 1, "system": "Be brief.", "messages": [{"role": "user", "content": "q"}]}]) == {
        "id": (KEPT, KEPT), "system": (USED, "system"), "messages": (USED, "turns")}
    assert report_of([{"instruction": "i", "input": "x", "output": "o", "source": "web"}]) == {
        "instruction": (USED, "prompt"), "input": (USED, "prompt"), "output": (USED, "reply"),
        "source": (KEPT, KEPT)}
    assert report_of([{"question": "q", "answer": "a", "topic": "t"}]) == {
        "question": (USED, "prompt"), "answer": (USED, "reply"), "topic": (KEPT, KEPT)}
    assert report_of([{"text": "doc", "url": "u", "system": "s"}]) == {  # plain text has no system turn
        "text": (USED, "text"), "url": (KEPT, KEPT), "system": (KEPT, KEPT)}


def test_columns_that_change_a_rows_meaning_are_named_as_such():
    rep = report_of([{"prompt": "p", "completion": "c", "label": True}])
    assert rep["label"] == (CHANGES_MEANING, CHANGES_MEANING)
    rep = report_of([{"messages": [{"role": "user", "content": "<image> what is it?"}], "images": ["a.png"]}])
    assert rep["images"][0] == CHANGES_MEANING
    rep = report_of([{"prompt": "p", "chosen": "good", "rejected": "bad"}], mapping={"input": "prompt", "output": "chosen"})
    assert rep["chosen"] == (USED, "reply") and rep["rejected"] == (CHANGES_MEANING, CHANGES_MEANING)


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [{"id": 7, "system": "Be brief.", "images": [],
         "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}]


def test_preview_and_show_list_every_column_with_its_use(home, ffui):
    src = write(home / "chat.jsonl", ROWS)
    r = ffui("data", "preview", src, home=home)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    at = lines.index("how each column is used:")
    assert [line.split()[0] for line in lines[at + 1: at + 5]] == ["id", "system", "images", "messages"]
    assert "id        kept, not trained" in r.stdout
    assert "system    system: the first turn, not trained" in r.stdout
    assert "images    changes meaning: media: a text-only model sees only its placeholders" in r.stdout
    assert "messages  turns: the conversation; the assistant turns are trained" in r.stdout
    previewed = json.loads(ffui("data", "preview", src, "--json", home=home).stdout)
    assert [c["status"] for c in previewed["column_uses"]] == [KEPT, USED, CHANGES_MEANING, USED]
    assert ffui("data", "import", src, "--name", "chat", home=home).returncode == 0
    shown = ffui("data", "show", "chat", home=home)
    assert shown.returncode == 0 and "how each column is used:" in shown.stdout
    assert "id        kept, not trained" in shown.stdout and "messages  turns:" in shown.stdout
    as_json = json.loads(ffui("data", "show", "chat", "--json", home=home).stdout)
    assert [(c["column"], c["status"]) for c in as_json["columns"]] == [
        ("id", KEPT), ("system", USED), ("images", CHANGES_MEANING), ("messages", USED)]
