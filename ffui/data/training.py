"""The trainer's dataset file: ``training_outputs/<run>/dataset.jsonl``.

One JSON object per line, of one of three shapes:

- ``{"messages": [{"role", "content", ...}, ...]}``  chat rows: every turn, system included
- ``{"input": str, "output": str[, "system": str], "fields": {...}}``  pairs; ``fields`` holds
  what a prompt template can name, exactly as the preview fills it (ffui.data.formats.record_fields:
  the original columns, ``instruction``, ``input``, ``output`` for alpaca, ``question``... for
  mapped data)

A system prompt a row keeps in a column of its own (``system``, ``system_prompt``; see
ffui.data.formats.row_system) leads a chat row's turns and is a pair's ``system``.
- ``{"text": str}``                                   plain text rows

A preference dataset's line (ffui.data.preference_layout) also carries ``"preference"``: the
row as it came (prompt/chosen/rejected, chosen and rejected turns, KTO's label), for the trainer
to normalise.

The job manager calls ``ffui.data.store.write_training_file`` (which streams a stored dataset
through :func:`export_for_training`) when it starts a run.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from .formats import Layout, _messages, denormalise, record_fields, row_system, with_system
from .preference_layout import preference_fields


def training_line(rec: dict, layout: Layout) -> dict[str, Any]:
    line = _sft_line(rec, layout)
    if preference_fields(layout):  # the trainer normalises the row as it came (ffui.train.preference)
        line["preference"] = denormalise(rec, layout)
    return line


def _sft_line(rec: dict, layout: Layout) -> dict[str, Any]:
    if layout.format == "text":
        msgs = _messages(rec)
        return {"messages": msgs} if msgs is not None else {"text": rec.get("input") or ""}
    system = row_system(rec)
    msgs = _messages(rec)
    if msgs is not None:
        return {"messages": with_system(msgs, system)}
    if layout.is_chat:  # a chat dataset row without a conversation: make one
        return {"messages": with_system([{"role": "user", "content": rec.get("input") or ""},
                                         {"role": "assistant", "content": rec.get("output") or ""}], system)}
    line: dict[str, Any] = {"input": rec.get("input") or "", "output": rec.get("output") or ""}
    if system is not None:
        line["system"] = system
    line["fields"] = record_fields(rec, layout)  # what the template preview fills, so both agree
    return line


def export_for_training(records: Iterable[dict], layout: Layout | dict | str | None = None
                        ) -> Iterator[str]:
    """Canonical records -> ``dataset.jsonl`` lines (no trailing newline), lazily.

    ``layout``: the dataset's Layout (or its dict, or a format name); default: plain pairs.
    """
    if layout is None:
        layout = Layout.default("input-output")
    elif isinstance(layout, str):
        layout = Layout.default(layout)
    elif isinstance(layout, dict):
        layout = Layout.from_dict(layout)
    enc = json.JSONEncoder(ensure_ascii=False).encode
    for rec in records:
        yield enc(training_line(rec, layout))
