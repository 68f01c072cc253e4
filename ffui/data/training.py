"""The trainer's dataset file: ``training_outputs/<run>/dataset.jsonl``.

One JSON object per line, of one of three shapes:

- ``{"messages": [{"role", "content", ...}, ...]}``  chat rows: every turn, system included
- ``{"input": str, "output": str[, "system": str][, "history": [turns]], "fields": {...}}``
  pairs (a ``context`` column joined into the input, ``history`` as earlier turns); ``fields`` holds
  what a prompt template can name, exactly as the preview fills it (ffui.data.formats.record_fields:
  the original columns, ``instruction``, ``input``, ``output`` for alpaca, ``question``... for
  mapped data)

A system prompt a row keeps in a column of its own (``system``, ``system_prompt``; see
ffui.data.formats.row_system) leads a chat row's turns and is a pair's ``system``.
- ``{"text": str}``                                   plain text rows

Chat and pair lines also carry ``tools`` (the row's function schemas, OpenAI shape; the trainer
gives them to the chat template) and ``media`` (``{"images": n}``: what a text-only run refuses
unless drop_media).
A preference dataset's line (ffui.data.preference_layout) also carries ``"preference"``: the
row as it came (prompt/chosen/rejected, chosen and rejected turns, KTO's label), for the trainer
to normalise.

The job manager calls ``ffui.data.store.write_training_file`` (which streams a stored dataset
through :func:`export_for_training`) when it starts a run.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from ffui.turns import MEDIA_COLUMNS, media_parts

from .formats import (ALPACA_SEP, Layout, _messages, _meta, denormalise, record_fields, row_system,
                      row_tools, with_system)
from .preference_layout import preference_fields

#: a column beside question/answer with the passage the question is about: part of the prompt
CONTEXT_COLUMNS = ("context",)


def history_turns(history: Any) -> list[dict]:
    """alpaca/ms-swift ``history`` (``[[query, response], ...]``) as earlier user/assistant turns."""
    turns: list[dict] = []
    if not isinstance(history, list):
        return turns
    for pair in history:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair):
            turns += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return turns


def row_media(extra: dict, msgs: list | None) -> dict[str, int]:
    """What media a row refers to: ``{"images": 2}`` from media columns and non-text parts."""
    media = {k: len(v) if isinstance(v, list) else 1 for k, v in extra.items()
             if k in MEDIA_COLUMNS and v}
    parts = sum(media_parts(m.get("content")) for m in msgs or () if isinstance(m, dict))
    if parts:
        media["content parts"] = parts
    return media


def _pair_line(rec: dict, layout: Layout, extra: dict, system: str | None) -> dict[str, Any]:
    line: dict[str, Any] = {"input": rec.get("input") or "", "output": rec.get("output") or ""}
    context = next((extra[c] for c in CONTEXT_COLUMNS if isinstance(extra.get(c), str)), "")
    if context.strip() and layout.format == "input-output":
        line["input"] += ALPACA_SEP + context  # (alpaca maps context as its input: joined already)
    if system is not None:
        line["system"] = system
    earlier = history_turns(extra.get("history"))
    if earlier:
        line["history"] = earlier
    line["fields"] = record_fields(rec, layout)  # what the template preview fills, so both agree
    return line


def training_line(rec: dict, layout: Layout) -> dict[str, Any]:
    line = _sft_line(rec, layout)
    if preference_fields(layout):  # the trainer normalises the row as it came (ffui.train.preference)
        line["preference"] = denormalise(rec, layout)
    return line


def _sft_line(rec: dict, layout: Layout) -> dict[str, Any]:
    if layout.format == "text":
        msgs = _messages(rec)
        return {"messages": msgs} if msgs is not None else {"text": rec.get("input") or ""}
    system = row_system(rec, layout)
    msgs = _messages(rec)
    extra = _meta(rec).get("extra") or {} if rec.get("metadata") else {}
    if msgs is not None:
        line: dict[str, Any] = {"messages": with_system(msgs, system)}
    elif layout.is_chat:  # a chat dataset row without a conversation: make one
        line = {"messages": with_system([{"role": "user", "content": rec.get("input") or ""},
                                         {"role": "assistant", "content": rec.get("output") or ""}], system)}
    else:
        line = _pair_line(rec, layout, extra, system)
    tools = row_tools(rec)
    if tools is not None:
        line["tools"] = tools
    media = row_media(extra, msgs)
    if media:
        line["media"] = media
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
