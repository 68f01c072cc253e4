"""Dataset formats: detection, normalisation into ffui's canonical record, and the way back.

Canonical record (one ``scraped_pairs`` row; see docs/datasets.md):

``input`` -> ``input_text``   the prompt side, meaningful for previews, search and naive consumers
``output`` -> ``output_text`` the answer side ("" for plain text rows)
``messages`` -> ``messages_json`` the whole conversation ``[{"role", "content", ...}]`` for chat
                              rows (system turns included), NULL for pairs and text
``metadata`` -> ``metadata_json`` only what is needed to give back the original row exactly:
    ``extra``             other columns of the row, by their original names, in order
    ``instruction_chars`` alpaca rows with a non-empty ``input``: ``input_text`` is
                          ``instruction + "\\n\\n" + input`` and this is ``len(instruction)``
    ``absent``            canonical columns the original row did not have (e.g. alpaca ``input``)
    ``raw``               original non-text values of canonical columns (numbers, null)
    ``roles``             sharegpt: the original ``from`` names when they are not the defaults

Dataset-level facts (which format, which column holds what, the column order, the turn keys)
are kept once in the session's ``metadata_json["layout"]`` (:class:`Layout`), not in every row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ffui.turns import content_text, turn_text

from .errors import RowError
from .readers import MAX_FIELD_CHARS, TOO_DEEP

FORMATS = ("alpaca", "sharegpt", "chatml", "input-output", "text")
FORMAT_ALIASES = {
    "openai": "chatml", "messages": "chatml", "chat": "chatml",
    "standard": "input-output", "pairs": "input-output", "io": "input-output",
    "input_output": "input-output", "plain": "text",
}
#: the fields of each format, in their usual column order
FIELDS: dict[str, tuple[str, ...]] = {
    "alpaca": ("instruction", "input", "output"),
    "sharegpt": ("conversations",),
    "chatml": ("messages",),
    "input-output": ("input", "output"),
    "text": ("text",),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "alpaca": ("instruction", "output"),
    "sharegpt": ("conversations",),
    "chatml": ("messages",),
    "input-output": ("input", "output"),
    "text": ("text",),
}
#: column names tried for each field when no --map is given
CANDIDATES: dict[str, dict[str, tuple[str, ...]]] = {
    "alpaca": {"instruction": ("instruction",), "input": ("input", "context"),
               "output": ("output", "response")},
    "sharegpt": {"conversations": ("conversations", "conversation", "messages", "dialog")},
    "chatml": {"messages": ("messages", "conversations", "conversation", "dialog")},
    "text": {"text": ("text", "content", "document")},
}
IO_PAIRS = (("input", "output"), ("prompt", "completion"), ("prompt", "response"),
            ("question", "answer"), ("query", "response"), ("question", "response"),
            ("instruction", "response"), ("instruction", "output"), ("source", "target"))
TURN_KEYS = {"sharegpt": ("from", "value"), "chatml": ("role", "content")}
CHAT_FORMATS = ("sharegpt", "chatml")
PAIR_FORMATS = ("alpaca", "input-output")

SHAREGPT_TO_ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                    "bot": "assistant", "model": "assistant", "chatgpt": "assistant",
                    "bing": "assistant", "bard": "assistant", "system": "system",
                    "tool": "tool"}
ROLE_TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system", "tool": "tool"}

ALPACA_SEP = "\n\n"
_MISSING = object()

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                           default=lambda v: _json_default(v)).encode


def _json_default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        raise RowError("the row holds binary data (bytes), which cannot be stored as text")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def dumps(v: Any) -> str:
    """Compact JSON as ffui stores it (UTF-8, no ASCII escaping)."""
    return _encode(v)


def canonical_format(name: str) -> str:
    n = (name or "").strip().lower()
    n = FORMAT_ALIASES.get(n, n)
    if n not in FORMATS:
        raise ValueError(f"unknown format {name!r}; formats are: {', '.join(FORMATS)}")
    return n


@dataclass
class Layout:
    """How a dataset's rows look in their original form."""

    format: str
    columns: dict[str, str]                 # field -> original column name
    key_order: list[str] = field(default_factory=list)  # column order of the first row
    json_columns: list[str] = field(default_factory=list)  # chat columns held as JSON text (CSV)
    #: the turns' own (role, content) key names when not the format's (``--map role=speaker``)
    custom_turn_keys: tuple[str, str] | None = None

    @property
    def turn_keys(self) -> tuple[str, str]:
        return self.custom_turn_keys or TURN_KEYS.get(self.format, ("role", "content"))

    @property
    def system_column(self) -> str | None:
        """The column ``--map system=COLUMN`` named as the rows' system prompt."""
        return self.columns.get("system")

    @property
    def is_chat(self) -> bool:
        return self.format in CHAT_FORMATS

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": self.format, "columns": dict(self.columns),
                             "key_order": list(self.key_order)}
        if self.json_columns:
            d["json_columns"] = list(self.json_columns)
        if self.custom_turn_keys:
            d["turn_keys"] = list(self.custom_turn_keys)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, dataset_format: str | None = None) -> "Layout":
        """From a session's ``metadata_json["layout"]``; falls back on ``dataset_format``."""
        if d and d.get("format"):
            keys = d.get("turn_keys")
            return cls(format=canonical_format(d["format"]), columns=dict(d.get("columns") or {}),
                       key_order=list(d.get("key_order") or []),
                       json_columns=list(d.get("json_columns") or []),
                       custom_turn_keys=(keys[0], keys[1]) if keys else None)
        return cls.default(dataset_format or "input-output")

    @classmethod
    def default(cls, fmt: str) -> "Layout":
        try:
            fmt = canonical_format(fmt)
        except ValueError:
            fmt = "input-output"  # e.g. scrapers' own labels: plain pairs
        cols = {f: f for f in FIELDS[fmt]}
        return cls(format=fmt, columns=cols, key_order=list(cols.values()))


# -- detection -------------------------------------------------------------------------------

def _turn_shape(value: Any, keys: tuple[str, str] | None = None) -> str | None:
    """'sharegpt' / 'chatml' if value looks like a list of turns of that kind (with ``keys``,
    turns with those role/content keys are 'chatml')."""
    if isinstance(value, str):
        s = value.lstrip()
        if not s.startswith("["):
            return None
        try:
            value = json.loads(s)
        except (ValueError, RecursionError):  # not a list of turns; the row's own check says why
            return None
    if not isinstance(value, list) or not value or not isinstance(value[0], dict):
        return None
    t = value[0]
    if keys is not None:
        return "chatml" if keys[0] in t and (keys[1] in t or "tool_calls" in t) else None
    if "from" in t and "value" in t:
        return "sharegpt"
    if "role" in t and ("content" in t or "tool_calls" in t):
        return "chatml"
    return None


def parse_mapping(items: Iterable[str] | dict[str, str] | None) -> dict[str, str]:
    """``["input=question", "output=answer"]`` -> ``{"input": "question", ...}``."""
    if not items:
        return {}
    if isinstance(items, dict):
        return dict(items)
    out: dict[str, str] = {}
    allowed = sorted({f for fs in FIELDS.values() for f in fs} | set(TURN_KEY_FIELDS) | {"system"})
    for item in items:
        if "=" not in item:
            raise ValueError(f"--map {item!r}: expected FIELD=COLUMN, e.g. input=question")
        k, v = item.split("=", 1)
        k, v = k.strip(), v.strip()
        if k not in allowed:
            raise ValueError(f"--map {item!r}: unknown field {k!r}; fields are: "
                             f"{', '.join(allowed)}")
        if not v:
            raise ValueError(f"--map {item!r}: empty column name")
        out[TURN_KEY_FIELDS.get(k, k)] = v
    return out


#: ``--map`` fields that name the keys inside each turn, not columns (LLaMA-Factory's
#: dataset_info ``tags`` spell them role_tag / content_tag)
TURN_KEY_FIELDS = {"role": "role", "content": "content", "role_tag": "role",
                   "content_tag": "content"}


def _turn_keys_of(mapping: dict[str, str], fmt: str) -> tuple[str, str] | None:
    """(role key, content key) from ``--map role=.. content=..`` (popped), or None."""
    role, content = mapping.pop("role", None), mapping.pop("content", None)
    if role is None and content is None:
        return None
    default = TURN_KEYS.get(fmt if fmt in CHAT_FORMATS else "chatml")
    return role or default[0], content or default[1]


def detect_layout(rows: list[dict], fmt: str = "auto",
                  mapping: dict[str, str] | None = None,
                  columns: list[str] | None = None) -> Layout:
    """Choose the format and column mapping from sample rows. Raises RowError when unsure.

    ``columns`` (known for CSV/Parquet) lists the file's columns; otherwise the union of the
    sample rows' keys is used.
    """
    mapping = dict(mapping or {})
    turn_keys = _turn_keys_of(mapping, fmt)
    system_col = mapping.pop("system", None)
    if not rows:
        raise RowError("no rows to look at")
    first = rows[0]
    key_order = list(columns) if columns else list(first.keys())
    seen: dict[str, None] = dict.fromkeys(key_order)
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    allkeys = list(seen)
    shown = ", ".join(allkeys[:30]) + (" ..." if len(allkeys) > 30 else "")
    for f, col in (mapping | ({"system": system_col} if system_col else {})).items():
        if col not in seen:
            raise RowError(f"column {col!r} (from --map {f}={col}) is not in the data; "
                           f"columns are: {shown}", "fix the --map")

    def value_of(col: str) -> Any:
        for r in rows:
            if col in r and r[col] is not None:
                return r[col]
        return None

    def build(f: str) -> Layout | None:
        cols: dict[str, str] = {}
        if f in ("sharegpt", "chatml"):
            field_name = FIELDS[f][0]
            col = mapping.get(field_name) or mapping.get("messages") or mapping.get("conversations")
            cands = (col,) if col else CANDIDATES[f][field_name] + (
                CANDIDATES["sharegpt"]["conversations"] if turn_keys else ())
            for c in cands:
                if c in seen and _turn_shape(value_of(c), turn_keys) == f:
                    cols[field_name] = c
                    break
            if not cols:
                return None
            json_cols = [cols[field_name]] if isinstance(value_of(cols[field_name]), str) else []
            return Layout(f, cols, key_order, json_cols, turn_keys)
        if f == "input-output":
            ci, co = mapping.get("input"), mapping.get("output")
            for a, b in IO_PAIRS:
                a2, b2 = ci or a, co or b
                if a2 in seen and b2 in seen:
                    return Layout(f, {"input": a2, "output": b2}, key_order)
            return None
        if f == "text":
            col = mapping.get("text")
            if col:
                return Layout(f, {"text": col}, key_order)
            for c in CANDIDATES["text"]["text"]:
                if c in seen and isinstance(value_of(c), str):
                    return Layout(f, {"text": c}, key_order)
            strings = [k for k in allkeys if isinstance(value_of(k), str)]
            if len(strings) == 1:
                return Layout(f, {"text": strings[0]}, key_order)
            return None
        # alpaca
        for fld in FIELDS[f]:
            col = mapping.get(fld)
            if col:
                cols[fld] = col
                continue
            for c in CANDIDATES[f][fld]:
                if c in seen and c not in cols.values():
                    cols[fld] = c
                    break
        if all(r in cols for r in REQUIRED[f]):
            return Layout(f, cols, key_order)
        return None

    def with_system(lay: Layout) -> Layout:
        if system_col:
            lay.columns["system"] = system_col
        return lay

    if turn_keys is not None:  # turns with their own key names: a conversation, in chatml
        lay = build("chatml")
        if lay is None:
            raise RowError(f"no column holds turns with the keys {turn_keys[0]!r} and "
                           f"{turn_keys[1]!r} (from --map); columns are: {shown}",
                           "check the key names inside the turns, or add --map messages=COLUMN")
        return with_system(lay)
    if fmt and fmt != "auto":
        f = canonical_format(fmt)
        lay = build(f)
        if lay is None:
            need = ", ".join(REQUIRED[f])
            if f in CHAT_FORMATS:
                raise RowError(f"no column holds {f} conversations (a list of turns with "
                               f"{'/'.join(TURN_KEYS[f])}); columns are: {shown}",
                               f"use --map {FIELDS[f][0]}=COLUMN")
            missing = [x for x in REQUIRED[f] if x not in mapping]
            raise RowError(f"the data has no column for {f}'s {', '.join(missing) or need}; "
                           f"columns are: {shown}",
                           f"use --map {(missing or [REQUIRED[f][0]])[0]}=COLUMN")
        return with_system(lay)
    order = ["chatml", "sharegpt", "alpaca", "input-output", "text"]
    if mapping:
        mapped = set(mapping)
        order = [f for f in order if mapped <= set(FIELDS[f]) or
                 (f in CHAT_FORMATS and mapped <= {"messages", "conversations"})]
    for f in order:
        lay = build(f)
        if lay is not None:
            return with_system(lay)
    nested = _nested_instances(allkeys, value_of)
    if nested:
        raise RowError(nested, "flatten the file to one example per row first, e.g. with jq "
                       "or pandas.json_normalize")
    raise RowError(f"cannot tell the format from the columns ({shown})",
                   "pass --format alpaca|sharegpt|chatml|input-output|text and --map "
                   "FIELD=COLUMN")


def _nested_instances(keys: list[str], value_of: Callable[[str], Any]) -> str | None:
    """Why a row that holds a list of examples (e.g. ``{"instances": [{"input", "output"}]}``)
    is not one example, or None when no column looks like that."""
    for k in keys:
        v = value_of(k)
        if isinstance(v, list) and v and isinstance(v[0], dict) and _turn_shape(v) is None:
            inner = ", ".join(list(v[0])[:8])
            return (f"column {k!r} holds a list of {len(v)} objects (keys: {inner}) inside each row: "
                    f"a nested shape, several examples per row, which ffui does not split by itself")
    return None


# -- normalisation ---------------------------------------------------------------------------

Normalised = tuple  # (input_text, output_text, messages_json | None, metadata_json | None)


def _too_long(what: str, n: int) -> RowError:
    return RowError(f"{what} is {n / 1_000_000:.1f} MB of text, longer than ffui's limit of "
                    f"{MAX_FIELD_CHARS / 1_000_000:.1f} MB per field")


def _text_value(fld: str, col: str, v: Any, meta: dict, required: bool = True) -> str:
    """A canonical column's value as text (slow path for non-strings)."""
    if isinstance(v, str):
        return v
    if v is None:
        if required:
            raise RowError(f"field {col!r} is empty (null)", "fill it, or use --skip-bad")
        meta.setdefault("raw", {})[fld] = None
        return ""
    if isinstance(v, (bool, int, float)):
        meta.setdefault("raw", {})[fld] = v
        return dumps(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        raise RowError(f"field {col!r} holds binary data (bytes), not text")
    raise RowError(f"field {col!r} must be text, got {type(v).__name__}")


def _missing(col: str, fmt: str, fld: str) -> RowError:
    return RowError(f"missing field {col!r} ({fmt} rows need "
                    f"{' and '.join(REQUIRED[fmt])})",
                    f"use --map {fld}=COLUMN if it has another name, or --skip-bad")


def chat_preview(messages: list[dict]) -> tuple[str, str]:
    """(last user turn before the last assistant turn, last assistant turn) for previews."""
    out_i = None
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "assistant":
            out_i = i
            break
    out = turn_text(messages[out_i]) if out_i is not None else ""
    stop = out_i if out_i is not None else len(messages)
    inp = ""
    for i in range(stop - 1, -1, -1):
        if messages[i].get("role") == "user":
            inp = content_text(messages[i].get("content"))
            break
    else:
        if stop:
            inp = content_text(messages[stop - 1].get("content"))
    return inp, out


def make_normaliser(layout: Layout, *, drop_null_turn_keys: bool = False
                    ) -> Callable[[dict], Normalised]:
    """A function turning one raw row into the stored tuple; raises RowError on a bad row.

    ``drop_null_turn_keys``: for columnar sources (Parquet, Arrow) where every turn struct has
    every key, drop keys other than role/content whose value is null.
    """
    fmt = layout.format
    cols = layout.columns
    MAX = MAX_FIELD_CHARS
    enc = _encode

    def meta_json(meta: dict | None) -> str | None:
        """The row's metadata_json (None when there is none), within the field limit."""
        if not meta:
            return None
        m = enc(meta)
        if len(m) > MAX:
            raise _too_long("the other columns", len(m))
        return m

    if fmt == "input-output":
        ci, co = cols["input"], cols["output"]
        canon = (ci, co)

        def norm(row: dict) -> Normalised:
            try:
                i = row[ci]
                o = row[co]
            except KeyError as e:
                c = e.args[0]
                raise _missing(c, fmt, "input" if c == ci else "output") from None
            meta = None
            if type(i) is not str or type(o) is not str:
                meta = {}
                i = _text_value("input", ci, i, meta)
                o = _text_value("output", co, o, meta)
            if len(row) != 2:
                extra = {k: v for k, v in row.items() if k not in canon}
                if extra:
                    if meta is None:
                        meta = {}
                    meta["extra"] = extra
            if len(i) > MAX:
                raise _too_long(f"field {ci!r}", len(i))
            if len(o) > MAX:
                raise _too_long(f"field {co!r}", len(o))
            return i, o, None, meta_json(meta)
        return norm

    if fmt == "text":
        ct = cols["text"]

        def norm(row: dict) -> Normalised:
            try:
                t = row[ct]
            except KeyError:
                raise _missing(ct, fmt, "text") from None
            meta = None
            if type(t) is not str:
                meta = {}
                t = _text_value("text", ct, t, meta)
            if len(row) != 1:
                extra = {k: v for k, v in row.items() if k != ct}
                if extra:
                    meta = meta or {}
                    meta["extra"] = extra
            if len(t) > MAX:
                raise _too_long(f"field {ct!r}", len(t))
            return t, "", None, meta_json(meta)
        return norm

    if fmt == "alpaca":
        cins, cout = cols["instruction"], cols["output"]
        cinp = cols.get("input")
        canon = {cins, cout} | ({cinp} if cinp else set())
        ncanon = len(canon)

        def norm(row: dict) -> Normalised:
            try:
                ins = row[cins]
                out = row[cout]
            except KeyError as e:
                c = e.args[0]
                raise _missing(c, fmt, "instruction" if c == cins else "output") from None
            meta: dict = {}
            if type(ins) is not str:
                ins = _text_value("instruction", cins, ins, meta)
            if type(out) is not str:
                out = _text_value("output", cout, out, meta)
            if cinp is None:
                inp = ""
            elif cinp in row:
                inp = row[cinp]
                if type(inp) is not str:
                    inp = _text_value("input", cinp, inp, meta, required=False)
            else:
                inp = ""
                meta["absent"] = ["input"]
            if inp:
                meta["instruction_chars"] = len(ins)
                text_in = ins + ALPACA_SEP + inp
            else:
                text_in = ins
            if len(row) != ncanon:
                extra = {k: v for k, v in row.items() if k not in canon}
                if extra:
                    meta["extra"] = extra
            if len(text_in) > MAX:
                raise _too_long(f"field {cins!r}" if len(ins) > MAX else f"field {cinp!r}",
                                len(text_in))
            if len(out) > MAX:
                raise _too_long(f"field {cout!r}", len(out))
            return text_in, out, None, meta_json(meta)
        return norm

    # chat formats
    fld = FIELDS[fmt][0]
    cc = cols[fld]
    rk, ck = layout.turn_keys
    is_json = cc in layout.json_columns
    # sharegpt turns, and turns with their own key names, are renamed to role/content with the
    # original role names kept (meta "roles") where the canonical name does not give them back
    sharegpt = fmt == "sharegpt" or layout.custom_turn_keys is not None
    back = ROLE_TO_SHAREGPT if fmt == "sharegpt" else {}

    def finish(row: dict, msgs: list, meta: dict) -> Normalised:
        """The stored columns of a chat row whose turns are checked (both paths below)."""
        if len(row) != 1:
            extra = {k: v for k, v in row.items() if k != cc}
            if extra:
                meta["extra"] = extra
        mj = enc(msgs)
        if len(mj) > MAX:
            raise _too_long(f"the conversation in {cc!r}", len(mj))
        i, o = chat_preview(msgs)
        return i, o, mj, meta_json(meta)

    def norm(row: dict) -> Normalised:
        try:
            conv = row[cc]
        except KeyError:
            raise _missing(cc, fmt, fld) from None
        if is_json and isinstance(conv, str):
            try:
                conv = json.loads(conv)
            except ValueError as e:
                raise RowError(f"column {cc!r} is not valid JSON: {e}") from None
            except RecursionError:
                raise RowError(f"column {cc!r}: {TOO_DEEP}") from None
        if type(conv) is not list or not conv:
            if conv is None or conv == []:
                raise RowError(f"field {cc!r} has no turns (empty conversation)",
                               "use --skip-bad to leave such rows out")
            raise RowError(f"field {cc!r} must be a list of turns, got {type(conv).__name__}")
        meta: dict = {}
        if not sharegpt:
            # chatml: the turns are stored as they are; only check them
            for n, t in enumerate(conv, 1):
                if type(t) is not dict:
                    raise RowError(f"turn {n} of {cc!r} is not an object")
                r = t.get(rk)
                c = t.get(ck, _MISSING)
                if type(r) is not str:
                    raise RowError(f"turn {n} of {cc!r} has no {rk!r} (each turn needs "
                                   f"{rk!r} and {ck!r})")
                if type(c) is not str:
                    if c is _MISSING:
                        if not ("tool_calls" in t or "function_call" in t):
                            raise RowError(f"turn {n} of {cc!r} has no {ck!r}")
                    elif c is not None and type(c) is not list:
                        raise RowError(f"turn {n} of {cc!r}: {ck!r} must be text, got "
                                       f"{type(c).__name__}")
            msgs = conv
            if drop_null_turn_keys:
                msgs = [{k: v for k, v in t.items() if v is not None or k in (rk, ck)}
                        for t in conv]
            return finish(row, msgs, meta)
        msgs = []
        roles = None
        for n, t in enumerate(conv, 1):
            if type(t) is not dict:
                raise RowError(f"turn {n} of {cc!r} is not an object")
            r = t.get(rk)
            if type(r) is not str:
                raise RowError(f"turn {n} of {cc!r} has no {rk!r} (each turn needs "
                               f"{rk!r} and {ck!r})")
            if ck not in t and not ("tool_calls" in t or "function_call" in t):
                raise RowError(f"turn {n} of {cc!r} has no {ck!r}")
            if drop_null_turn_keys:
                t = {k: v for k, v in t.items() if v is not None or k in (rk, ck)}
            role = SHAREGPT_TO_ROLE.get(r, r)
            if back.get(role, role) != r:
                if roles is None:
                    roles = [None] * (n - 1)
                roles.append(r)
            elif roles is not None:
                roles.append(None)
            m = {"role": role, "content": t.get(ck)}
            if len(t) != 2:
                for k, v in t.items():
                    if k != rk and k != ck:
                        m[k] = v
            msgs.append(m)
        if roles is not None:
            meta["roles"] = roles
        return finish(row, msgs, meta)
    return norm


def normalise_row(row: dict, layout: Layout) -> dict:
    """Convenience: one raw row -> canonical record dict (slow; for previews and tests)."""
    i, o, mj, m = make_normaliser(layout)(row)
    return {"input": i, "output": o, "messages": json.loads(mj) if mj else None,
            "metadata": json.loads(m) if m else None}


# -- the way back ----------------------------------------------------------------------------

def _meta(rec: dict) -> dict:
    m = rec.get("metadata")
    if m is None:
        return {}
    if isinstance(m, str):
        return json.loads(m) if m else {}
    return m


def _messages(rec: dict) -> list | None:
    m = rec.get("messages")
    if isinstance(m, str):
        return json.loads(m)
    return m


def _ordered(values: dict, extra: dict | None, layout: Layout) -> dict:
    merged = dict(values)
    if extra:
        for k, v in extra.items():
            if k not in merged:
                merged[k] = v
    out = {k: merged[k] for k in layout.key_order if k in merged}
    if len(out) != len(merged):
        for k, v in merged.items():
            if k not in out:
                out[k] = v
    return out


def alpaca_parts(rec: dict, meta: dict | None = None) -> tuple[str, str]:
    """(instruction, input) of an alpaca record."""
    meta = _meta(rec) if meta is None else meta
    text = rec.get("input") or ""
    n = meta.get("instruction_chars")
    if n is None:
        return text, ""
    return text[:n], text[n + len(ALPACA_SEP):]


def denormalise(rec: dict, layout: Layout) -> dict:
    """A canonical record -> the row in the dataset's own format (the import's inverse)."""
    fmt = layout.format
    cols = layout.columns
    meta = _meta(rec)
    raw = meta.get("raw") or {}
    absent = set(meta.get("absent") or ())
    vals: dict[str, Any] = {}
    if fmt == "input-output":
        vals[cols["input"]] = raw["input"] if "input" in raw else rec.get("input", "")
        vals[cols["output"]] = raw["output"] if "output" in raw else rec.get("output", "")
    elif fmt == "text":
        vals[cols["text"]] = raw["text"] if "text" in raw else rec.get("input", "")
    elif fmt == "alpaca":
        ins, inp = alpaca_parts(rec, meta)
        vals[cols["instruction"]] = raw.get("instruction", ins) if "instruction" in raw else ins
        ci = cols.get("input")
        if ci and "input" not in absent:
            vals[ci] = raw["input"] if "input" in raw else inp
        vals[cols["output"]] = raw["output"] if "output" in raw else rec.get("output", "")
    else:
        msgs = _messages(rec)
        if msgs is None:
            msgs = pair_to_messages(rec)
        fld = FIELDS[fmt][0]
        if fmt == "sharegpt" or layout.custom_turn_keys:
            roles = meta.get("roles")
            back = ROLE_TO_SHAREGPT if fmt == "sharegpt" else {}
            rk, ck = layout.turn_keys
            conv = []
            for n, m in enumerate(msgs):
                r = roles[n] if roles and n < len(roles) and roles[n] is not None else \
                    back.get(m.get("role"), m.get("role"))
                t = {rk: r, ck: m.get("content")}
                if len(m) != 2:
                    for k, v in m.items():
                        if k != "role" and k != "content":
                            t[k] = v
                conv.append(t)
            vals[cols[fld]] = conv
        else:
            vals[cols[fld]] = msgs
    return _ordered(vals, meta.get("extra"), layout)


#: columns beside a conversation or a pair that hold the row's system prompt (sharegpt exports
#: with a top-level "system", OpenOrca's "system_prompt", ...)
SYSTEM_COLUMNS = ("system", "system_prompt", "system_message")


def row_system(rec: dict, layout: Layout | None = None) -> str | None:
    """The system prompt a row keeps in a column of its own (the layout's ``--map system=``
    column, else one of SYSTEM_COLUMNS), or None. It is stored as it came (an extra column);
    training and the chatml export put it first as a system turn."""
    col = layout.system_column if layout is not None else None
    m = rec.get("metadata")
    if not m or (isinstance(m, str) and '"system' not in m and (col is None or col not in m)):
        return None  # (stored metadata is JSON text: most rows need no parse at all)
    extra = _meta(rec).get("extra") or {}
    for k in ((col,) if col else SYSTEM_COLUMNS):
        v = extra.get(k)
        if isinstance(v, str) and v.strip():
            return v
    return None


#: what training makes of each mapped field (ffui.data.columns words it for the user)
FIELD_USES = {"instruction": "prompt", "input": "prompt", "output": "reply", "messages": "turns",
              "conversations": "turns", "text": "text"}


def column_uses(layout: Layout) -> dict[str, str]:
    """Column -> what training makes of it (a FIELD_USES value, or "system"), for the columns
    this layout reads; the one place that says so. A shape that reads more columns adds them here."""
    uses = {col: FIELD_USES.get(fld, fld) for fld, col in layout.columns.items()}
    if layout.format != "text":  # row_system: the first of SYSTEM_COLUMNS a row fills
        for col in SYSTEM_COLUMNS:
            if col in layout.key_order and col not in uses:
                uses[col] = "system"
        # what ffui.data.training carries beside the turns: tools, earlier turns, a passage
        beside = {"tools": "tools"}
        if not layout.is_chat:
            beside["history"] = "history"
        if layout.format == "input-output":
            beside["context"] = "context"
        for col, use in beside.items():
            if col in layout.key_order and col not in uses:
                uses[col] = use
    return uses


def row_tools(rec: dict) -> list[dict] | None:
    """The function schemas a row keeps in its ``tools`` column, in the OpenAI shape
    ``[{"type": "function", "function": {...}}]`` that chat templates take (LLaMA-Factory keeps
    them as a JSON string of bare ``{"name", "description", "parameters"}``), or None."""
    m = rec.get("metadata")
    if not m or (isinstance(m, str) and '"tools"' not in m):
        return None
    tools = (_meta(rec).get("extra") or {}).get("tools")
    if isinstance(tools, str):
        try:
            tools = json.loads(tools) if tools.strip() else None
        except ValueError:
            return None  # not schemas: kept as a column, as it came
    if not isinstance(tools, list) or not tools:
        return None
    return [t if isinstance(t, dict) and "function" in t else {"type": "function", "function": t}
            for t in tools]


def with_system(msgs: list[dict], system: str | None) -> list[dict]:
    """``msgs`` with ``system`` as the first turn, unless there is none or a system turn already."""
    if system is None or (msgs and msgs[0].get("role") == "system"):
        return msgs
    return [{"role": "system", "content": system}, *msgs]


def pair_to_messages(rec: dict, text_role: str = "assistant") -> list[dict]:
    """Messages for a record without a conversation (pairs; text rows: one ``text_role`` turn)."""
    msgs = _messages(rec)
    if msgs is not None:
        return msgs
    out = rec.get("output") or ""
    if not out and rec.get("_format") == "text":
        return [{"role": text_role, "content": rec.get("input") or ""}]
    return [{"role": "user", "content": rec.get("input") or ""},
            {"role": "assistant", "content": out}]


def to_chatml(rec: dict, layout: Layout) -> dict:
    """A canonical record as an OpenAI/chatml row ``{"messages": [...]}``.

    Pairs become one user and one assistant turn (alpaca: instruction and input joined by a
    blank line, as stored); plain text rows become one assistant turn. A system prompt kept in
    a column of the row (``system``, ``system_prompt``) becomes the first turn; a ``tools`` column
    is written as OpenAI's ``tools`` (with ``parallel_tool_calls`` where the row has it).
    """
    msgs = _messages(rec)
    if msgs is None:
        if layout.format == "text":
            msgs = [{"role": "assistant", "content": rec.get("input") or ""}]
        else:
            msgs = [{"role": "user", "content": rec.get("input") or ""},
                    {"role": "assistant", "content": rec.get("output") or ""}]
    row: dict[str, Any] = {"messages": with_system(msgs, row_system(rec, layout))
                           if layout.format != "text" else msgs}
    tools = row_tools(rec)
    if tools is not None:  # OpenAI's fine-tuning format: tools (and parallel_tool_calls) per row
        row["tools"] = tools
        parallel = (_meta(rec).get("extra") or {}).get("parallel_tool_calls")
        if isinstance(parallel, bool):
            row["parallel_tool_calls"] = parallel
    return row


def export_row(rec: dict, layout: Layout, shape: str = "original") -> dict:
    """``shape``: ``original`` (the dataset's own format) or ``chatml``."""
    if shape == "chatml":
        return to_chatml(rec, layout)
    if shape != "original":
        raise ValueError(f"unknown export shape {shape!r}; use original or chatml")
    return denormalise(rec, layout)


def record_fields(rec: dict, layout: Layout) -> dict:
    """Fields a prompt template can name: the original columns (by their original names) plus
    the canonical ``input``/``output`` (and alpaca's ``instruction``), never overwritten."""
    if layout.is_chat:
        msgs = _messages(rec) or []
        fields: dict[str, Any] = {}
        for m in msgs:
            if m.get("role") == "system":
                fields.setdefault("system", content_text(m.get("content")))
    else:
        fields = {k: v for k, v in denormalise(rec, layout).items()}
    if layout.format == "alpaca":
        ins, inp = alpaca_parts(rec)
        fields.setdefault("instruction", ins)
        if layout.columns.get("input"):  # a row without its input column has an empty {input}
            fields.setdefault("input", inp)
    fields.setdefault("input", rec.get("input") or "")
    fields.setdefault("output", rec.get("output") or "")
    return fields
