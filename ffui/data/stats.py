"""Dataset statistics over a stream of records, in bounded memory per row.

Lengths are kept as machine integers (``array``), duplicates as 16-byte digests, so 1,000,000
rows cost tens of MB. Tokens need a tokenizer (a ``tokenizer.json`` file or a folder holding
one; loaded with the ``tokenizers`` library, imported only then). :func:`dataset_stats` runs
them over a stored dataset (in a worker thread), with leakage against its sibling splits.
"""

from __future__ import annotations

import os
from array import array
from typing import Any, Callable, Iterable

from .datasets import display_name, resolve, session_layout, session_meta
from .errors import DataError
from .ops import content_key, empty_fields, lengths, record_turns
from .rows import in_thread, iter_records_sync

PERCENTILES = (50, 90, 95, 99)


def distribution(values: array | list[int]) -> dict[str, Any]:
    """count, min, mean, percentiles (nearest rank), max, and a 10-bin histogram."""
    n = len(values)
    if not n:
        return {"count": 0}
    s = sorted(values)
    out: dict[str, Any] = {"count": n, "min": s[0], "mean": round(sum(s) / n, 1)}
    for p in PERCENTILES:
        out[f"p{p}"] = s[min(n - 1, max(0, -(-p * n // 100) - 1))]
    out["max"] = s[-1]
    out["histogram"] = histogram(s)
    return out


def histogram(sorted_values: list[int], bins: int = 10) -> list[dict[str, int]]:
    """Equal-width bins from the minimum to the 99th percentile; the last bin takes the tail."""
    n = len(sorted_values)
    lo = sorted_values[0]
    hi = sorted_values[min(n - 1, -(-99 * n // 100) - 1)]
    if hi <= lo:
        hi = sorted_values[-1]
    if hi <= lo:
        return [{"lo": lo, "hi": lo, "count": n}]
    span = hi - lo + 1
    width = max(1, -(-span // bins))
    nb = -(-span // width)
    counts = [0] * nb
    for v in sorted_values:
        counts[min((v - lo) // width, nb - 1)] += 1
    out = []
    for i, c in enumerate(counts):
        a = lo + i * width
        b = a + width - 1 if i < nb - 1 else max(a + width - 1, sorted_values[-1])
        out.append({"lo": a, "hi": b, "count": c})
    return out


def load_tokenizer(path: str) -> Callable[[list[str]], list[int]]:
    """A function from texts to token counts, from ``tokenizer.json`` or a folder holding it."""
    p = os.path.expanduser(path)
    f = os.path.join(p, "tokenizer.json") if os.path.isdir(p) else p
    if not os.path.exists(f):
        raise DataError(path, None, "no tokenizer.json there",
                        "pass a tokenizer.json file or a model folder that has one")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise DataError(path, None, "counting tokens needs the 'tokenizers' package",
                        "pip install tokenizers") from None
    try:
        tok = Tokenizer.from_file(f)
    except Exception as e:
        raise DataError(f, None, f"cannot load the tokenizer: {str(e).splitlines()[0][:200]}") \
            from None

    def count(texts: list[str]) -> list[int]:
        return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    return count


class StatsCollector:
    """Feed records with :meth:`add`, then :meth:`result`."""

    def __init__(self, fmt: str, tokenizer: Callable[[list[str]], list[int]] | None = None,
                 others: dict[str, set[bytes]] | None = None):
        self.fmt = fmt
        self.rows = 0
        self.chars_in = array("q")
        self.chars_out = array("q")
        self.chars_total = array("q")
        self.tokens = array("q") if tokenizer else None
        self.tokenizer = tokenizer
        self._tok_buf: list[str] = []
        self.turns = array("q")
        self.empty: dict[str, int] = {"input": 0, "output": 0, "turn": 0, "rows": 0}
        self.exact: set[bytes] = set()
        self.near: set[bytes] = set()
        self.exact_dupes = 0
        self.near_dupes = 0
        self.others = others or {}
        self.leak: dict[str, int] = {k: 0 for k in self.others}

    def add(self, rec: dict) -> None:
        self.rows += 1
        a, b = lengths(rec)
        self.chars_in.append(a)
        self.chars_out.append(b)
        self.chars_total.append(a + b)
        turns = record_turns(rec)
        if turns is not None:
            self.turns.append(len(turns))
        empties = empty_fields(rec, self.fmt)
        if empties:
            self.empty["rows"] += 1
            for e in empties:
                self.empty["turn" if e.startswith("turn") else e] += 1
        k = content_key(rec)
        if k in self.exact:
            self.exact_dupes += 1
        else:
            self.exact.add(k)
        kn = content_key(rec, normalised=True)
        if kn in self.near:
            self.near_dupes += 1
        else:
            self.near.add(kn)
        for name, keys in self.others.items():
            if kn in keys:
                self.leak[name] += 1
        if self.tokenizer is not None:
            if turns is not None:
                text = "\n".join(c for _, c in turns)
            else:
                text = (rec.get("input") or "") + "\n" + (rec.get("output") or "")
            self._tok_buf.append(text)
            if len(self._tok_buf) >= 512:
                self._flush()

    def _flush(self) -> None:
        if self._tok_buf and self.tokens is not None:
            self.tokens.extend(self.tokenizer(self._tok_buf))
            self._tok_buf = []

    def result(self) -> dict[str, Any]:
        self._flush()
        out: dict[str, Any] = {
            "rows": self.rows,
            "chars": {"input": distribution(self.chars_in), "output": distribution(self.chars_out),
                      "total": distribution(self.chars_total)},
            "empty": self.empty,
            "duplicates": {"exact": self.exact_dupes, "near": self.near_dupes,
                           "near_means": "same text after lower-casing and collapsing whitespace"},
        }
        if self.tokens is not None:
            out["tokens"] = {"total": distribution(self.tokens)}
        if len(self.turns):
            out["turns"] = distribution(self.turns)
        if self.others:
            out["leakage"] = {name: {"rows_also_there": n} for name, n in self.leak.items()}
        return out


def compute_stats(records: Iterable[dict], fmt: str, *,
                  tokenizer: Callable[[list[str]], list[int]] | None = None,
                  others: dict[str, set[bytes]] | None = None) -> dict[str, Any]:
    """Statistics of a record stream. ``others``: name -> normalised content keys of other
    datasets (e.g. the sibling splits), for the leakage counts."""
    c = StatsCollector(fmt, tokenizer, others)
    for rec in records:
        c.add(rec)
    return c.result()


def format_stats(name: str, st: dict[str, Any], width: int = 40) -> str:
    """Human-readable text of :func:`compute_stats`' result, with text histograms."""
    lines = [f"dataset {name}: {st['rows']:,} rows" + (f" ({st['format']})" if st.get("format")
                                                       else "")]

    def dist(title: str, d: dict[str, Any]) -> None:
        if not d.get("count"):
            return
        pct = "  ".join(f"p{p} {d[f'p{p}']:,}" for p in PERCENTILES)
        lines.append(f"  {title}: min {d['min']:,}  mean {d['mean']:,}  {pct}  max {d['max']:,}")
        hist = d.get("histogram") or []
        top = max((h["count"] for h in hist), default=0) or 1
        for h in hist:
            bar = "█" * round(width * h["count"] / top)
            lines.append(f"    {h['lo']:>9,} – {h['hi']:<9,} │{bar} {h['count']:,}")

    lines.append("characters per row")
    for k in ("input", "output", "total"):
        dist(k, st["chars"][k])
    if "tokens" in st:
        lines.append("tokens per row")
        dist("total", st["tokens"]["total"])
    if "turns" in st:
        lines.append("turns per conversation")
        dist("turns", st["turns"])
    e = st["empty"]
    lines.append(f"empty fields: {e['rows']:,} rows (input {e['input']:,}, output "
                 f"{e['output']:,}, turns {e['turn']:,})")
    d = st["duplicates"]
    lines.append(f"duplicates: exact {d['exact']:,}, near {d['near']:,} (near: {d['near_means']})")
    for other, v in (st.get("leakage") or {}).items():
        lines.append(f"leakage: {v['rows_also_there']:,} rows also in {other}")
    return "\n".join(lines)


async def dataset_stats(db, dataset, *, tokenizer: str | None = None,
                        against: list[str] | None = None) -> dict:
    """Statistics of a stored dataset (:func:`compute_stats`), and leakage: rows that also
    appear in the sibling splits (for a dataset made by ``split``) or in ``against``."""
    s = await resolve(db, dataset)
    lay = session_layout(s)
    meta = session_meta(s)
    tok = load_tokenizer(tokenizer) if tokenizer else None
    other_names = list(dict.fromkeys(((meta.get("split") or {}).get("siblings") or [])
                                     + list(against or [])))
    others_rows = []
    for o in other_names:
        try:
            others_rows.append(await resolve(db, o))
        except DataError:
            if o in (against or []):
                raise

    def work(conn):
        others = {display_name(o): {content_key(r, normalised=True)
                                    for r in iter_records_sync(conn, o["id"])}
                  for o in others_rows}
        return compute_stats(iter_records_sync(conn, s["id"]), lay.format, tokenizer=tok,
                             others=others)
    st = await in_thread(db, work)
    st["name"] = display_name(s)
    st["format"] = lay.format
    return st
