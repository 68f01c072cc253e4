"""Every kind of input is a RowSource subclass, opened by open_source; a source that is not a
file (the shape scrapers and generators take) fits the same base.

What a user sees of a source: its rows in order, where each one is (the line or row an error
names), how far the progress bar gets, and one clear line for a bad row.
"""

import csv
import gzip
import json

import pytest
from test_hub import CONVERSATIONS, chat_repo, hub  # noqa: F401  (hub is a fixture)

from ffui.data.errors import DataError, RowError
from ffui.data.sources import (
    CsvSource,
    DataFolderSource,
    HubSource,
    JsonArraySource,
    JsonLinesSource,
    JsonObjectSource,
    ParquetSource,
    RecordsSource,
    RowSource,
    SaveToDiskSource,
    TsvSource,
    open_source,
)

ROWS = [{"input": f"question {i}", "output": f"answer {i}"} for i in range(3)]


def jsonl(path, rows=ROWS):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def delimited(path, delimiter, rows=ROWS):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["input", "output"], delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def parquet(path, rows=ROWS):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def read_all(src: RowSource) -> list[tuple[str, dict]]:
    """The rows as a user would see them located: ("line 2", row)."""
    return [(src.where(loc), row) for loc, row in src.rows()]


FILES = {
    "data.jsonl": (lambda p: jsonl(p), JsonLinesSource, ["line 1", "line 2", "line 3"]),
    "data.jsonl.gz": (lambda p: jsonl(p), JsonLinesSource, ["line 1", "line 2", "line 3"]),
    "lines.json": (lambda p: jsonl(p), JsonLinesSource, ["line 1", "line 2", "line 3"]),
    "array.json": (lambda p: p.write_text(json.dumps(ROWS, indent=1)), JsonArraySource,
                   ["line 2", "line 6", "line 10"]),
    "squad.json": (lambda p: p.write_text(json.dumps({"version": "1.1", "data": ROWS})),
                   JsonObjectSource, ["row 1", "row 2", "row 3"]),
    "data.csv": (lambda p: delimited(p, ","), CsvSource, ["line 2", "line 3", "line 4"]),
    "excel.csv": (lambda p: delimited(p, ";"), CsvSource, ["line 2", "line 3", "line 4"]),
    "data.tsv": (lambda p: delimited(p, "\t"), TsvSource, ["line 2", "line 3", "line 4"]),
    "data.parquet": (lambda p: parquet(p), ParquetSource, ["row 1", "row 2", "row 3"]),
}


@pytest.mark.parametrize("name", FILES)
def test_each_kind_of_file_is_its_own_source_with_rows_located_and_progress_complete(tmp_path, name):
    write, cls, where = FILES[name]
    write(tmp_path / name)
    src = open_source(tmp_path / name)
    assert type(src) is cls
    assert read_all(src) == list(zip(where, ROWS))
    assert src.total and src.done == src.total  # the progress bar ends full


def test_a_bad_row_is_one_line_naming_the_file_and_line(tmp_path):
    path = tmp_path / "chats.csv"
    path.write_text("input,output\na,b\nonly one field\n", encoding="utf-8")
    src = open_source(path)
    (loc1, good), (loc2, bad) = src.rows()
    assert good == {"input": "a", "output": "b"} and isinstance(bad, RowError)
    assert str(src.error(loc2, bad.message, bad.hint)) == (
        f"{path}, line 3: the row has 1 fields but the header has 2 (check quoting and the delimiter)")


def test_save_to_disk_folders_and_their_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ROWS)
    ds.save_to_disk(str(tmp_path / "one"))
    datasets.DatasetDict({"train": ds, "test": ds.select([2])}).save_to_disk(str(tmp_path / "dd"))

    src = open_source(tmp_path / "one")
    assert type(src) is SaveToDiskSource and src.columns == ["input", "output"]
    assert read_all(src) == list(zip(["row 1", "row 2", "row 3"], ROWS))
    assert src.done == src.total == 3

    src = open_source(tmp_path / "dd", split="test")
    assert type(src) is SaveToDiskSource
    assert (src.path, src.split, src.splits) == (str(tmp_path / "dd"), "test", ["train", "test"])
    assert read_all(src) == [("row 1", ROWS[2])]


def test_a_folder_of_data_files_reads_the_split_its_file_names_say(tmp_path):
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    jsonl(repo / "data" / "train-00000-of-00002.jsonl", ROWS[:2])
    parquet(repo / "data" / "train-00001-of-00002.parquet", ROWS[2:])
    delimited(repo / "data" / "validation.csv", ",", ROWS[:1])
    (repo / "README.md").write_text("# a dataset\n")

    src = open_source(repo)
    assert type(src) is DataFolderSource
    assert (src.split, src.splits) == ("train", ["train", "validation"])
    assert read_all(src) == [("data/train-00000-of-00002.jsonl, line 1", ROWS[0]),
                             ("data/train-00000-of-00002.jsonl, line 2", ROWS[1]),
                             ("data/train-00001-of-00002.parquet, row 1", ROWS[2])]
    src = open_source(repo, split="dev")  # the hub's word for it finds validation files
    assert src.split == "validation" and read_all(src) == [("data/validation.csv, line 2", ROWS[0])]


def test_a_hub_dataset_is_a_hub_source(ffui, home, hub, tmp_path):  # noqa: F811
    hub.add_dataset("org/chat", chat_repo(tmp_path / "chat"))
    r = ffui("data", "preview", "org/chat", "-n", "2", "--json", home=home, env=hub.env)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert (shown["kind"], shown["split"]) == ("hub", "train")
    assert shown["rows"] == CONVERSATIONS[:2]


def test_a_hub_stream_that_fails_part_way_is_one_line_naming_the_row():
    def stream():
        yield ROWS[0]
        raise ConnectionError("connection reset by peer")

    src = HubSource("org/chat", rows=stream(), have_token=True, split="train", total=3)
    rows = src.rows()
    assert next(rows) == (1, ROWS[0])
    with pytest.raises(DataError) as e:
        next(rows)
    assert str(e.value) == "org/chat, row 2: reading the hub dataset failed: connection reset by peer"


# -- a source that is not a file ----------------------------------------------------------------


def paged_api(pages, closed):
    """A stand-in for a forum API: records come page by page; the connection is released when
    the reader stops, part way or at the end."""
    try:
        for page in pages:
            yield from page
    finally:
        closed.append(True)


def test_records_from_an_iterator_are_a_source_like_any_file():
    closed = []
    records = paged_api([[ROWS[0], ROWS[1]], ["not a record", ROWS[2]]], closed)
    src = RecordsSource(records, description="forum /g/")
    assert isinstance(src, RowSource) and src.total is None  # a stream does not know its size

    got = list(src.rows())
    assert [loc for loc, _ in got] == [1, 2, 3, 4]
    assert [row for _, row in got if type(row) is dict] == ROWS
    bad_loc, bad = got[2]
    assert str(src.error(bad_loc, bad.message)) == (
        "forum /g/, row 3: expected a record (an object), got a string")
    assert src.done == 4 and closed == [True]


def test_closing_a_source_part_way_releases_what_it_reads_from():
    """What a cancelled import does: stop between two rows, then close the source."""
    closed = []
    src = RecordsSource(paged_api([ROWS, ROWS], closed), description="scraper")
    with src:
        rows = src.rows()
        assert next(rows) == (1, ROWS[0])
        assert closed == []
    assert closed == [True]
    assert src.done == 1


def test_a_list_of_records_knows_its_size():
    src = RecordsSource(ROWS)
    assert src.total == 3 and [row for _, row in src.rows()] == ROWS and src.done == 3


def test_a_new_kind_of_source_is_a_subclass_with_its_own_locations():
    """The base asks a subclass for its rows and, if it likes, how a location reads."""

    class Thread(RowSource):
        kind = "forum"

        def __init__(self, posts):
            super().__init__("forum thread 123", total=len(posts))
            self.posts = posts

        def _rows(self):
            for n, post in enumerate(self.posts, 1):
                self.done = n
                yield n, post if post else RowError("the post is empty", "it was deleted")

        def where(self, loc):
            return f"post {loc}"

    src = Thread([ROWS[0], None])
    (_, row), (loc, bad) = src.rows()
    assert row == ROWS[0]
    assert str(src.error(loc, bad.message, bad.hint)) == (
        "forum thread 123, post 2: the post is empty (it was deleted)")
    assert src.done == src.total
