"""Preference datasets at import: rows with a chosen and a rejected side, or KTO's labelled
completions, are kept exactly as they came, and their layout names the preference columns.

The layout's ``columns`` gain fields ``chosen``/``rejected`` (or ``label``/``completion``)
naming those columns, so training knows the rows are preference data: the trainer reads the
original row (``ffui.data.training``) and ffui.train.preference normalises it for dpo, orpo,
simpo or kto, and objective=sft refuses it. ``--map messages=chosen`` is the way to SFT on
the chosen side: a mapping that names the chosen column makes an ordinary chat dataset.
"""

from __future__ import annotations

from typing import Any

from .errors import RowError
from .formats import Layout, _turn_shape

PAIRED = ("chosen", "rejected")
TURNS = ("conversations", "messages")


def preference_fields(layout: Layout) -> dict[str, str]:
    """{field: column} of the preference columns of a layout (empty: not preference data)."""
    return {f: c for f, c in layout.columns.items() if f in ("chosen", "rejected", "label", "completion")}


def with_preference(rows: list[dict], mapping: dict[str, str], detect) -> Layout:
    """``detect()`` (the usual format detection), with the preference columns named; where it
    finds no format, a layout that shows the prompt (or the chosen side) and keeps the rest."""
    fields = _preference_columns(rows, mapping)
    try:
        layout = detect()
    except RowError:
        if not fields:
            raise
        layout = _fallback(rows, fields)
        if layout is None:
            raise
    if fields:
        layout.columns.update({f: c for f, c in fields.items() if f not in layout.columns})
    return layout


def _preference_columns(rows: list[dict], mapping: dict[str, str]) -> dict[str, str]:
    keys = {k for r in rows for k in r}
    if "chosen" in mapping.values():  # --map messages=chosen: SFT on the chosen side
        return {}
    if all(k in keys for k in PAIRED):
        return {k: k for k in PAIRED}
    label = next((r["label"] for r in rows if "label" in r), None)
    if isinstance(label, bool) and ("completion" in keys or keys & set(TURNS)):
        return {"label": "label", **({"completion": "completion"} if "completion" in keys else {})}
    return {}


def _fallback(rows: list[dict], fields: dict[str, str]) -> Layout | None:
    """TRL's prompt/chosen/rejected, or full chosen/rejected conversations (Anthropic HH)."""
    shown = "prompt" if any("prompt" in r for r in rows) else fields.get("chosen")
    if shown is None:
        return None
    value = _first(rows, shown)
    key_order = list(rows[0])
    if isinstance(value, str):
        return Layout("text", {"text": shown}, key_order)
    if _turn_shape(value) == "chatml":
        return Layout("chatml", {"messages": shown}, key_order)
    if _turn_shape(value) == "sharegpt":
        return Layout("sharegpt", {"conversations": shown}, key_order)
    return None


def _first(rows: list[dict], col: str) -> Any:
    return next((r[col] for r in rows if r.get(col) is not None), None)
