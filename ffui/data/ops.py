"""Dataset operations as plain functions over records and ids (no database here).

A *record* is a canonical record dict (``id``, ``input``, ``output``, ``messages``,
``metadata``; ``messages``/``metadata`` may still be JSON text). ``ffui.data.derive`` runs these
over stored datasets and writes the result as a new dataset; sources are never changed.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any, Iterable, Iterator, Sequence

from ffui.turns import turn_text

from .formats import CHAT_FORMATS, Layout, _meta, _messages, dumps, row_system

# -- content -----------------------------------------------------------------------------------


def _norm_text(s: str) -> str:
    return " ".join(s.lower().split())


def record_turns(rec: dict) -> list[tuple[str, str]] | None:
    msgs = _messages(rec)
    if msgs is None:
        return None
    # (a turn that only calls tools says its calls: not empty to filters, stats and dedupe)
    return [(str(m.get("role", "")), turn_text(m)) for m in msgs]


def content_text(rec: dict, normalised: bool = False) -> str:
    """The training content of a record as one string (what duplicates are judged on).

    Extra columns (ids, sources, ...) are not content, except a system prompt kept in a column
    (``system``, ``system_prompt``: it is trained as the first turn). ``normalised``: lower
    case, runs of whitespace collapsed to one space.
    """
    turns = record_turns(rec)
    if turns is not None:
        if normalised:
            text = "\x1e".join(r + "\x1f" + _norm_text(c) for r, c in turns)
        else:
            mj = rec.get("messages")
            text = mj if isinstance(mj, str) else dumps(mj)
    else:
        i = rec.get("input") or ""
        o = rec.get("output") or ""
        text = _norm_text(i) + "\x1f" + _norm_text(o) if normalised else i + "\x1f" + o
    system = row_system(rec)
    if system is not None and not (turns and turns[0][0] == "system"):
        text = "\x1d" + (_norm_text(system) if normalised else system) + "\x1d" + text
    return text


def content_key(rec: dict, normalised: bool = False) -> bytes:
    return hashlib.blake2b(content_text(rec, normalised).encode("utf-8", "surrogatepass"),
                           digest_size=16).digest()


def lengths(rec: dict) -> tuple[int, int]:
    """(prompt-side chars, answer-side chars): chat rows count all non-assistant turns against
    all assistant turns; pairs count input and output."""
    turns = record_turns(rec)
    if turns is not None:
        a = sum(len(c) for r, c in turns if r == "assistant")
        return sum(len(c) for r, c in turns) - a, a
    return len(rec.get("input") or ""), len(rec.get("output") or "")


def empty_fields(rec: dict, fmt: str) -> list[str]:
    """Which parts of a record are empty (blank): input, output, turn N."""
    turns = record_turns(rec)
    out = []
    if turns is not None:
        for n, (r, c) in enumerate(turns, 1):
            if not c.strip():
                out.append(f"turn {n}")
        if not any(r == "assistant" for r, _ in turns):
            out.append("output")
        return out
    if not (rec.get("input") or "").strip():
        out.append("input")
    if fmt != "text" and not (rec.get("output") or "").strip():
        out.append("output")
    return out


# -- operations over ids -----------------------------------------------------------------------


def dedupe(records: Iterable[dict], normalised: bool = False) -> tuple[list[int], int]:
    """Ids of the first occurrence of each content (in order) and how many were dropped."""
    seen: set[bytes] = set()
    keep: list[int] = []
    dropped = 0
    for rec in records:
        k = content_key(rec, normalised)
        if k in seen:
            dropped += 1
            continue
        seen.add(k)
        keep.append(rec["id"])
    return keep, dropped


def make_filter(*, min_chars: int | None = None, max_chars: int | None = None,
                field: str = "total", drop_empty: bool = False, fmt: str = "input-output"):
    """A predicate over records: length bounds (characters of ``field``: input, output or
    total) and, with ``drop_empty``, no empty input/output/turn."""
    if field not in ("input", "output", "total"):
        raise ValueError(f"unknown length field {field!r}; use input, output or total")

    def keep(rec: dict) -> bool:
        if min_chars is not None or max_chars is not None:
            a, b = lengths(rec)
            n = a if field == "input" else b if field == "output" else a + b
            if min_chars is not None and n < min_chars:
                return False
            if max_chars is not None and n > max_chars:
                return False
        if drop_empty and empty_fields(rec, fmt):
            return False
        return True
    return keep


def parse_ratios(spec: str | Sequence[float]) -> list[float]:
    """"0.8,0.1,0.1" or "80,10,10" (normalised to sum 1)."""
    if isinstance(spec, str):
        try:
            vals = [float(x) for x in spec.replace("/", ",").split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"ratios {spec!r}: expected numbers like 0.8,0.1,0.1") from None
    else:
        vals = [float(x) for x in spec]
    if not vals or any(v < 0 for v in vals) or sum(vals) <= 0:
        raise ValueError(f"ratios {spec!r}: need non-negative numbers with a positive sum")
    if len(vals) > 3:
        raise ValueError(f"ratios {spec!r}: at most three parts (train, validation, test)")
    s = sum(vals)
    return [v / s for v in vals]


def split_counts(n: int, ratios: Sequence[float]) -> list[int]:
    """Exact part sizes summing to n (largest remainder; ties go to the earlier part)."""
    raw = [n * r for r in ratios]
    counts = [int(x) for x in raw]
    left = n - sum(counts)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


SPLIT_NAMES = ("train", "validation", "test")


def split_ids(ids: Sequence[int], ratios: Sequence[float], seed: int = 0) -> dict[str, list[int]]:
    """Shuffle ids with ``seed``, cut by ratios; each part keeps the source order."""
    counts = split_counts(len(ids), ratios)
    order = list(range(len(ids)))
    random.Random(seed).shuffle(order)
    out: dict[str, list[int]] = {}
    start = 0
    for name, c in zip(SPLIT_NAMES, counts):
        part = sorted(order[start:start + c])
        out[name] = [ids[i] for i in part]
        start += c
    return out


def sample_ids(ids: Sequence[int], n: int | None = None, fraction: float | None = None,
               seed: int = 0) -> list[int]:
    """A random subset (``n`` rows or ``fraction`` of them) in source order."""
    total = len(ids)
    if n is None:
        if fraction is None:
            raise ValueError("give a number of rows or a fraction")
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction {fraction} must be between 0 and 1")
        n = round(total * fraction)
    if n < 0:
        raise ValueError("the sample size cannot be negative")
    n = min(n, total)
    pick = sorted(random.Random(seed).sample(range(total), n))
    return [ids[i] for i in pick]


def shuffle_ids(ids: Sequence[int], seed: int = 0) -> list[int]:
    out = list(ids)
    random.Random(seed).shuffle(out)
    return out


def interleave(iterables: Sequence[Iterable[Any]]) -> Iterator[Any]:
    """Round robin: one item from each source in turn until all are exhausted."""
    its = [iter(x) for x in iterables]
    while its:
        alive = []
        for it in its:
            try:
                yield next(it)
            except StopIteration:
                continue
            alive.append(it)
        its = alive


# -- merging layouts ---------------------------------------------------------------------------


def merged_layout(layouts: Sequence[Layout]) -> Layout:
    """The layout of a merge: the common format if all agree (first source's columns), else
    chatml when any source is chat-shaped, else input-output."""
    fmts = {lay.format for lay in layouts}
    if len(fmts) == 1:
        first = layouts[0]
        return Layout(first.format, dict(first.columns), list(first.key_order),
                      list(first.json_columns))
    if fmts & set(CHAT_FORMATS):
        return Layout.default("chatml")
    return Layout.default("input-output")


def convert_stored(t: tuple, src: Layout, dst: Layout) -> tuple:
    """Convert a stored tuple ``(input, output, messages_json, metadata_json)`` from ``src``'s
    format to ``dst``'s. Same format: unchanged. Restore details that only the source format
    knows (alpaca's split point, sharegpt role names) are dropped; extra columns are kept."""
    if src.format == dst.format:
        return t
    i, o, mj, mt = t
    meta = _meta({"metadata": mt})
    keep = {"extra": meta["extra"]} if meta.get("extra") else None
    mt2 = dumps(keep) if keep else None
    if dst.format in CHAT_FORMATS:
        if mj is None:
            if src.format == "text":
                msgs = [{"role": "assistant", "content": i}]
            else:
                msgs = [{"role": "user", "content": i}, {"role": "assistant", "content": o}]
            mj = dumps(msgs)
        return i, o, mj, mt2
    # to pairs
    if src.format == "text":
        return i, "", None, mt2
    return i, o, None, mt2


def decode_record(rec: dict) -> dict:
    """Parse a record's JSON text columns in place (for display)."""
    for k in ("messages", "metadata"):
        v = rec.get(k)
        if isinstance(v, str):
            rec[k] = json.loads(v) if v else None
    return rec
