"""Folders: a ``save_to_disk`` folder (one split, or several under ``dataset_dict.json``) and a
folder of data files (a hub repo downloaded or cloned: ``data/train-*.parquet``...) whose file
names say which split each belongs to.
"""

from __future__ import annotations

import json
import os
import re
from typing import Iterator

from ..errors import DataError
from ..readers import EXT_KIND, SPLIT_HINT, compression, first_line
from .arrow import open_save_to_disk
from .base import Located, Location, RowSource
from .files import open_file


#: (path, split, splits) of a dataset_dict.json folder, for the split folder read in its place
ShownAs = tuple[str, str, list[str]]


def open_folder(path: str, split: str | None, shown_as: ShownAs | None = None) -> RowSource:
    """The split ``split`` (None: the obvious one) of the folder at ``path``."""
    dd = os.path.join(path, "dataset_dict.json")
    if not os.path.exists(dd):
        return _open_one_split(path, split, shown_as)
    try:
        with open(dd, encoding="utf-8") as f:
            splits = json.load(f)["splits"]
    except Exception as e:
        raise DataError(dd, None, f"cannot read the split list: {first_line(e)}") from None
    if split is None:
        if "train" in splits:
            split = "train"
        elif len(splits) == 1:
            split = splits[0]
        else:
            raise DataError(path, None, f"the folder holds several splits ({', '.join(splits)})",
                            SPLIT_HINT)
    if split not in splits:
        raise DataError(path, None, f"no split named {split!r}; splits are: {', '.join(splits)}",
                        SPLIT_HINT)
    return open_folder(os.path.join(path, split), None, shown_as or (path, split, list(splits)))


def _open_one_split(folder: str, split: str | None, shown_as: ShownAs | None) -> RowSource:
    """``folder`` as a save_to_disk split (``state.json``) or a folder of data files."""
    if not os.path.exists(os.path.join(folder, "state.json")):
        return open_data_folder(folder, split, shown_as)
    if split is not None:
        raise DataError(folder, None, f"--split {split} given but the folder holds one split")
    if shown_as is None:
        return open_save_to_disk(folder)
    path, split, splits = shown_as
    return open_save_to_disk(folder, path=path, split=split, splits=splits)


class DataFolderSource(RowSource):
    """The data files of one split of a folder, read one after the other; a location is
    (which file, where in it)."""

    kind = "files"

    def __init__(self, path: str, *, files: list[tuple[str, RowSource]], split: str | None,
                 splits: list[str] | None):
        """``files``: (path relative to the folder, the file opened), in reading order."""
        units = {sub.progress_unit for _, sub in files}
        known = len(units) == 1 and all(sub.total is not None for _, sub in files)
        super().__init__(path, total=sum(sub.total or 0 for _, sub in files) if known else None,
                         split=split, splits=splits, columns=files[0][1].columns)
        self.files = files
        self.progress_unit = units.pop() if len(units) == 1 else "rows"
        self.columnar = any(sub.columnar for _, sub in files)

    def where(self, loc: Location) -> str:
        assert isinstance(loc, tuple), loc
        rel, sub = self.files[loc[0]]
        return f"{rel}, {sub.where(loc[1])}"

    def _rows(self) -> Iterator[Located]:
        before = 0
        for i, (_, sub) in enumerate(self.files):
            for loc, row in sub.rows():
                self.done = before + sub.done
                yield (i, loc), row
            before += sub.total or 0
            self.done = before


def open_data_folder(path: str, split: str | None, shown_as: ShownAs | None = None) -> DataFolderSource:
    """The files of one split of a folder of data files, each opened as a file of its own."""
    files = _data_files(path)
    if not files:
        raise DataError(path, None, "the folder holds no data files and is not a save_to_disk folder",
                        "ffui reads .jsonl, .json, .csv, .tsv and .parquet files (also .gz, .bz2, .xz) "
                        "in it and its subfolders")
    by_split: dict[str, list[str]] = {}
    for rel in files:
        by_split.setdefault(_split_of(rel), []).append(rel)
    names = sorted(by_split, key=lambda n: (n != "train", n))
    split = _chosen_split(path, by_split, names, split)
    subs = [(rel, open_file(os.path.join(path, rel))) for rel in by_split[split]]
    if shown_as is not None:
        return DataFolderSource(shown_as[0], files=subs, split=shown_as[1], splits=shown_as[2])
    return DataFolderSource(path, files=subs, split=split if len(by_split) > 1 or split != "train" else None,
                            splits=names)


def _chosen_split(path: str, by_split: dict[str, list[str]], names: list[str], split: str | None) -> str:
    if split is not None and split not in by_split:
        split = _SPLIT_WORDS.get(split.lower(), split)  # --split dev finds validation files
    if split is None:
        if len(by_split) > 1 and "train" not in by_split:
            raise DataError(path, None, f"the folder holds several splits ({', '.join(names)})", SPLIT_HINT)
        return "train" if "train" in by_split else names[0]
    if split not in by_split:
        raise DataError(path, None, f"no split named {split!r} among its data files; splits are: "
                        f"{', '.join(names)}", SPLIT_HINT)
    return split


#: words in a data file's path that name its split, as the hub reads them
#: (``data/train-00000-of-00002.parquet``, ``test.jsonl``, ``validation/part-0.csv``)
_SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test",
                "eval": "test", "evaluation": "test", "validation": "validation", "valid": "validation",
                "val": "validation", "dev": "validation"}
_SPLIT_TOKENS = re.compile(r"[^A-Za-z]+")


def _split_of(rel: str) -> str:
    """The split a data file belongs to: the split word nearest its file name (the name, then
    its folders), else "train" (the hub's default for files that name none)."""
    for part in reversed(rel.replace(os.sep, "/").split("/")):
        words = [_SPLIT_WORDS[w.lower()] for w in _SPLIT_TOKENS.split(part) if w.lower() in _SPLIT_WORDS]
        if words:
            return words[0]
    return "train"


#: files of a dataset repo that describe it rather than hold rows
_NOT_DATA = {"dataset_infos.json", "dataset_info.json", "dataset_dict.json", "state.json", "croissant.json"}


def _data_files(path: str) -> list[str]:
    """Data files under ``path`` (relative, sorted), hidden folders (.git, .cache) and the repo's
    own description files (dataset_infos.json) left out."""
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if f.startswith(".") or f.lower() in _NOT_DATA:
                continue
            packed = compression(f)
            inner = f[: -len(packed)] if packed else f
            if os.path.splitext(inner)[1].lower() in EXT_KIND:
                found.append(os.path.relpath(os.path.join(root, f), path))
    # a folder of documents is its .txt/.md files; beside other data files they are the repo's README
    rows = [f for f in found if _kind(f) != "text"]
    return sorted(rows or found)


def _kind(rel: str) -> str | None:
    packed = compression(rel)
    return EXT_KIND.get(os.path.splitext(rel[: -len(packed)] if packed else rel)[1].lower())
