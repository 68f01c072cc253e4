"""Where an import's rows come from: one :class:`RowSource` subclass per kind of input.

=================  ==============================================================  ==========
module             source                                                          ``kind``
=================  ==============================================================  ==========
``base``           :class:`RowSource`, what every source is (read its docstring)
``file``           :class:`FileSource`, a source read from one local file
``text``           JSON Lines, CSV, TSV (also .gz, .bz2, .xz); .txt/.md documents  jsonl csv tsv text
``json_text``      a JSON array (streamed), one object holding the rows            json
``arrow``          Parquet; the Arrow files of a ``save_to_disk`` folder           parquet hf
``folders``        a ``save_to_disk``/``dataset_dict.json`` folder; a data folder  hf files
``hub``            a hub dataset, streamed with ``datasets``                       hub
``records``        records from memory or any iterator (the shape of a scraper)    records
=================  ==============================================================  ==========

``files`` picks the source for one file; :func:`open_source` picks between a hub id, a folder
and a file. A scraper or a generator is one more module here with one more subclass; it is fed
through the same import path as a file (see :class:`RowSource`). The shared reading helpers
(compression, limits, how bad bytes are worded) are in ``ffui.data.readers``.
"""

from __future__ import annotations

import os

from ..errors import DataError
from ..readers import is_hub_id
from .arrow import ParquetSource, SaveToDiskSource
from .base import Located, Location, RowSource
from .file import FileSource
from .files import open_file
from .fourchan import FourChanSource
from .folders import DataFolderSource, open_folder
from .hub import HubSource, open_hub
from .json_text import JsonArraySource, JsonObjectSource
from .records import RecordsSource
from .text import CsvSource, DelimitedSource, JsonLinesSource, PlainTextSource, TextFileSource, TsvSource

__all__ = [
    "CsvSource", "DataFolderSource", "DelimitedSource", "FileSource", "FourChanSource", "HubSource",
    "JsonArraySource", "JsonLinesSource", "JsonObjectSource", "Located", "Location",
    "ParquetSource", "PlainTextSource", "RecordsSource", "RowSource", "SaveToDiskSource", "TextFileSource",
    "TsvSource", "FILE_KINDS", "open_source",
]

#: the kinds open_source can open (``kind=`` forces one of the file kinds, or "hub")
FILE_KINDS = ("jsonl", "json", "csv", "tsv", "text", "parquet", "hf", "files", "hub")


def open_source(spec: str | os.PathLike, *, split: str | None = None,
                kind: str | None = None, token: str | None = None) -> RowSource:
    """Open a file, a ``save_to_disk`` folder or a hub id for streaming. Raises DataError.

    ``token``: the Hugging Face token for gated or private hub datasets (None: HF_TOKEN or
    huggingface_hub's own login, if any)."""
    spec = os.fspath(spec)
    path = os.path.expanduser(spec)
    if kind == "hub" or (not os.path.exists(path) and kind is None):
        if kind == "hub" or is_hub_id(spec):
            return open_hub(spec, split, token)
        raise DataError(spec, None, "no such file or folder")
    if os.path.isdir(path):
        return open_folder(path, split)
    return open_file(spec, kind=kind, split=split)
