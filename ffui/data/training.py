"""The trainer's dataset file: ``training_outputs/<run>/dataset.jsonl``.

One JSON object per line, of one of three shapes:

- ``{"messages": [{"role", "content", ...}, ...]}``  chat rows: every turn, system included
- ``{"input": str, "output": str, "fields": {...}}``  pairs; ``fields`` holds the original
  columns (``instruction``, ``input``, ``output`` for alpaca, ``question``... for mapped data) so
  a prompt template can name them (see ffui.data.prompts.render_training_line)
- ``{"text": str}``                                   plain text rows

The job manager calls ``ffui.data.store.write_training_file`` (which streams a stored dataset
through :func:`export_for_training`) when it starts a run.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from .formats import Layout, _messages, denormalise


def training_line(rec: dict, layout: Layout) -> dict[str, Any]:
    msgs = _messages(rec)
    if msgs is not None:
        return {"messages": msgs}
    if layout.format == "text":
        return {"text": rec.get("input") or ""}
    if layout.is_chat:  # a chat dataset row without a conversation: make one
        return {"messages": [{"role": "user", "content": rec.get("input") or ""},
                             {"role": "assistant", "content": rec.get("output") or ""}]}
    return {"input": rec.get("input") or "", "output": rec.get("output") or "",
            "fields": denormalise(rec, layout)}


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
