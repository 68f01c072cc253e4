"""Preference rows in the shapes other projects write them, normalised for TRL's trainers.

Shapes read (one row each; the stored row is kept as it came, this only reads it):

- sharegpt or chat turns with a chosen and a rejected turn (LLaMA-Factory's dpo demo):
  ``{"conversations": [...], "chosen": {"from": "gpt", "value": ...}, "rejected": {...}}``
- TRL's explicit prompt: ``{"prompt", "chosen", "rejected"}``, strings or message lists
- full chosen and rejected conversations (Anthropic HH): ``{"chosen", "rejected"}``; the
  shared beginning is the prompt
- KTO: ``{"prompt", "completion", "label"}``, or a conversation whose last turn is the
  completion with a ``label`` beside it (LLaMA-Factory's kto demo)

Paired rows become ``{"prompt", "chosen", "rejected"}``, unpaired ones ``{"prompt",
"completion", "label"}``. Strings stay strings (TRL's "standard" rows: no chat template, as
their authors wrote them for TRL); message lists stay lists (TRL applies the chat template).
"""

from __future__ import annotations

from typing import Any

from ffui.train.data import ROLE_ALIASES, normalise_messages

PREFERENCE_OBJECTIVES = ("dpo", "orpo", "simpo", "kto")
PAIRED_OBJECTIVES = ("dpo", "orpo", "simpo")
SFT_REFUSAL = ("this is preference data: use --set objective=dpo, or --map messages=chosen "
               "for SFT on the chosen side")
KTO_SFT_REFUSAL = ("this is preference data (completions labelled good or bad): use --set objective=kto; "
                   "SFT would train the bad ones too")
_TURN_KEYS = ("conversations", "messages")
_HH_MARKER = "\n\nAssistant:"


class PreferenceError(ValueError):
    """A row that is not a preference row of a shape this module reads; the text says why."""


def preference_row(data: dict) -> dict | None:
    """The preference part of a dataset.jsonl record, or None for SFT rows: the original row
    the data layer keeps under "preference", or the record itself when written in a known shape."""
    row = data.get("preference")
    if isinstance(row, dict):
        return row
    return data if is_preference_shape(data) else None


def sft_refusal(data: dict) -> str | None:
    """Why a dataset.jsonl record cannot train under objective=sft, or None when it can:
    SFT on preference data trains the rejected (or bad) answers as targets."""
    row = preference_row(data)
    if row is None:
        return None
    return SFT_REFUSAL if "chosen" in row and "rejected" in row else KTO_SFT_REFUSAL


def is_preference_shape(row: dict) -> bool:
    """chosen and rejected, or a KTO label beside a completion or a conversation."""
    if "chosen" in row and "rejected" in row:
        return True
    return "label" in row and ("completion" in row or any(k in row for k in _TURN_KEYS))


def normalise_preference(row: dict) -> dict:
    """{prompt, chosen, rejected} or {prompt, completion, label} for one row; raises
    PreferenceError saying what is wrong with it."""
    if "chosen" in row and "rejected" in row:
        return _paired(row)
    if "label" in row:
        return _unpaired(row)
    raise PreferenceError(f"no chosen/rejected or label in the row (keys: {', '.join(sorted(row))[:200]})")


def is_paired(norm: dict) -> bool:
    return "chosen" in norm


def render_sides(row: dict) -> dict:
    """What `ffui data render` shows for a preference row: prompt, chosen and rejected (or
    completion and label) as the trainer gets them, normalised."""
    return normalise_preference(preference_row(row) or row)


# ---- paired rows ---------------------------------------------------------------------------


def _paired(row: dict) -> dict:
    chosen, rejected = row["chosen"], row["rejected"]
    turns = next((row[k] for k in _TURN_KEYS if k in row), None)
    if turns is not None:  # a conversation, then a chosen and a rejected last turn
        prompt = _messages(turns, "conversation")
        return {"prompt": _with_system(prompt, row), "chosen": _reply(chosen, "chosen"),
                "rejected": _reply(rejected, "rejected")}
    if "prompt" in row:
        prompt = row["prompt"]
        if isinstance(prompt, str) and isinstance(chosen, str) and isinstance(rejected, str):
            return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        return {"prompt": _with_system(_prompt_messages(prompt), row), "chosen": _reply(chosen, "chosen"),
                "rejected": _reply(rejected, "rejected")}
    return _split_shared_prefix(chosen, rejected)


def _split_shared_prefix(chosen: Any, rejected: Any) -> dict:
    """Full chosen and rejected conversations: what both begin with is the prompt."""
    if isinstance(chosen, str) and isinstance(rejected, str):
        cut = _text_prompt_end(chosen, rejected)
        if cut == 0:
            raise PreferenceError("chosen and rejected share no prompt (and there is no prompt column)")
        return {"prompt": chosen[:cut], "chosen": chosen[cut:], "rejected": rejected[cut:]}
    c, r = _messages(chosen, "chosen"), _messages(rejected, "rejected")
    n = 0
    while n < min(len(c), len(r)) - 1 and c[n] == r[n]:
        n += 1
    if n == 0:
        raise PreferenceError("chosen and rejected share no prompt turns (and there is no prompt column)")
    return {"prompt": c[:n], "chosen": c[n:], "rejected": r[n:]}


def _text_prompt_end(a: str, b: str) -> int:
    """Where the prompt of two texts ends: after the last "\\n\\nAssistant:" they share
    (Anthropic HH), else at the last whitespace of what they share, never inside a word."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    if n == len(a) or n == len(b):  # one text is the other's beginning: nothing differs
        n = min(n, max(a.rfind(" ", 0, n), 0))
    marker = a.rfind(_HH_MARKER, 0, n)
    if marker >= 0:
        return marker + len(_HH_MARKER)
    space = max(a.rfind(" ", 0, n), a.rfind("\n", 0, n))
    return space + 1 if space >= 0 else 0


# ---- unpaired (KTO) rows -------------------------------------------------------------------


def _unpaired(row: dict) -> dict:
    label = _label(row["label"])
    if "completion" in row:
        prompt, completion = row.get("prompt", ""), row["completion"]
        if isinstance(prompt, str) and isinstance(completion, str):
            return {"prompt": prompt, "completion": completion, "label": label}
        return {"prompt": _with_system(_prompt_messages(prompt), row),
                "completion": _reply(completion, "completion"), "label": label}
    turns = _messages(next(row[k] for k in _TURN_KEYS if k in row), "conversation")
    if len(turns) < 2 or turns[-1]["role"] != "assistant":
        raise PreferenceError("a KTO conversation must end with the assistant turn that the label judges")
    return {"prompt": _with_system(turns[:-1], row), "completion": turns[-1:], "label": label}


def _label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise PreferenceError(f"label must be true or false, got {str(value)[:40]!r}")


# ---- turns ---------------------------------------------------------------------------------


def _messages(value: Any, what: str) -> list[dict]:
    """Turns as {role, content}, from chat ({role, content}) or sharegpt ({from, value}) turns."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise PreferenceError(f"{what} must be a list of turns, got {type(value).__name__}")
    turns = [_as_chat_turn(t) for t in value]
    msgs = normalise_messages(turns)
    if msgs is None:
        raise PreferenceError(f"{what} has a turn that is not {{role, content}} or {{from, value}} with a known role")
    return msgs


def _as_chat_turn(t: Any) -> Any:
    if isinstance(t, dict) and "role" not in t and "from" in t:
        role = t["from"]
        return {"role": ROLE_ALIASES.get(role, role), "content": t.get("value")}
    return t


def _prompt_messages(prompt: Any) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return _messages(prompt, "prompt")


def _reply(value: Any, what: str) -> list[dict]:
    """A chosen/rejected/completion side as assistant turns (a bare string is one turn)."""
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    return _messages(value, what)


def _with_system(prompt: list[dict], row: dict) -> list[dict]:
    system = row.get("system")
    if isinstance(system, str) and system.strip() and not (prompt and prompt[0]["role"] == "system"):
        return [{"role": "system", "content": system}, *prompt]
    return prompt


# ---- one form for a whole dataset ------------------------------------------------------------


def as_conversational(norm: dict) -> dict:
    """A standard (text) row as a conversation: for datasets that mix both, which TRL cannot."""
    if not isinstance(norm["prompt"], str):
        return norm
    out = {"prompt": [{"role": "user", "content": norm["prompt"]}] if norm["prompt"] else []}
    for side in ("chosen", "rejected", "completion"):
        if side in norm:
            out[side] = [{"role": "assistant", "content": norm[side]}]
    if "label" in norm:
        out["label"] = norm["label"]
    return out
