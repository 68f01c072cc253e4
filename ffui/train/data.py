"""Dataset pipeline: dataset.jsonl -> tokenized examples with label masks -> batches.

Record shapes (one JSON object per line):
  {"messages": [{"role": "system|user|assistant|tool", "content": str}, ...]}  chat, all turns
  {"input": str, "output": str[, "system": str]}   a user/assistant pair, or prompt_template
  {"text": str}                                     plain language modelling
  any object of fields                              only with a prompt_template
A record may carry "fields": {...}; prompt_template placeholders are filled from the
record's keys plus those fields.

Examples are rendered to segments (text, trainable); with completion_only_loss the
prompt segments get label -100. Segments are tokenized separately so the prompt tokens
are exactly those the model sees at inference, when generation starts after the prompt.
"""

from __future__ import annotations

import bisect
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ffui.prompt_fill import TemplateProblem, fill
from ffui.train.events import UserError
from ffui.turns import calls_text, content_text, parsed_arguments, strip_media_placeholders, turn_calls

IGNORE = -100
ROLES = ("system", "user", "assistant", "tool")
# Roles that other dataset conventions use, as the trainer renders them. A function call
# (glaive/sharegpt "function_call") is something the model says: it is an assistant turn and
# is trained on. A function's result ("observation", "ipython", ...) is a tool turn: the model
# reads it and never learns to produce it.
ROLE_ALIASES = {
    "human": "user", "gpt": "assistant", "model": "assistant", "bot": "assistant",
    "function_call": "assistant", "tool_call": "assistant", "tool_calls": "assistant",
    "observation": "tool", "function_response": "tool", "tool_response": "tool", "function": "tool",
    "ipython": "tool",
}
TOOL_RESULT_PREFIX = "Tool result:\n"

# Used (with a warning) when chat data meets a tokenizer without a chat template.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


@dataclass
class DataSettings:
    max_seq_len: int = 2048
    packing: bool = False
    completion_only_loss: bool = True
    eval_split: float = 0.0
    seed: int = 42
    prompt_template: dict | None = None
    chat_template: str | None = None
    pad_to_multiple_of: int | None = None
    drop_media: bool = False          # train media rows on their text alone (placeholders removed)
    keep_empty_replies: bool = False  # train an empty assistant reply (the model learns to stop)
    chat_caps: dict | None = None  # filled by prepare_tokenizer: see chat_capabilities


@dataclass
class Record:
    line: int
    data: dict
    source: str  # file name, for messages
    row: int | None = None  # the dataset row it came from, where known (ffui data render)

    @property
    def where(self) -> str:
        """How messages name this record: its dataset row, else its line in the file."""
        return f"row {self.row}" if self.row is not None else f"{self.source} line {self.line}"


#: why an example is left out of training, as the summary says it
DROPPED_NOTHING_TO_TRAIN = "nothing left to train after truncation to max_seq_len"
DROPPED_EMPTY_REPLY = "an empty assistant reply (keep_empty_replies=true trains it)"


@dataclass
class DataStats:
    examples: int = 0
    tokens: int = 0
    trained_tokens: int = 0  # tokens the loss is computed on (labels shift by one: never the first)
    max_len: int = 0
    truncated: int = 0
    dropped: int = 0  # no trainable token left (e.g. an over-long prompt)
    empty_replies: int = 0  # examples left out: an assistant reply to train is "" (keep_empty_replies)
    rows: int = 0     # after packing
    dropped_why: dict[str, int] = field(default_factory=dict)  # reason -> examples

    def add(self, ex: "TokenizedExample") -> bool:
        """Count one tokenized example; True when it is trained (not dropped)."""
        self.truncated += ex.truncated
        if ex.dropped == DROPPED_EMPTY_REPLY:
            self.empty_replies += 1  # said in its own warning, not among the dropped
            return False
        if ex.dropped:
            self.dropped += 1
            self.dropped_why[ex.dropped] = self.dropped_why.get(ex.dropped, 0) + 1
            return False
        self.examples += 1
        self.tokens += len(ex.input_ids)
        self.trained_tokens += ex.trained_tokens
        self.max_len = max(self.max_len, len(ex.input_ids))
        return True


@dataclass
class TokenizedExample:
    """One record as the trainer feeds it: ``dropped`` says why it is not trained (or None)."""

    record: Record
    input_ids: list[int]
    labels: list[int]
    truncated: bool
    dropped: str | None = None

    @property
    def trained_tokens(self) -> int:
        return sum(1 for x in self.labels[1:] if x != IGNORE)


# ---- reading ------------------------------------------------------------------------------


def read_records(path: str | Path) -> list[Record]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path.name} not found in the run directory", "write the dataset before starting the run",
                        kind="dataset")
    records: list[Record] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path.name} line {n} is not valid JSON ({e.msg})",
                                "each line must be one JSON object", kind="dataset") from None
            if not isinstance(data, dict):
                raise UserError(f"{path.name} line {n} is a {type(data).__name__}, not a JSON object",
                                "each line must be one JSON object", kind="dataset")
            records.append(Record(n, data, path.name))
    if not records:
        raise UserError(f"{path.name} has no examples", "add at least one JSON line", kind="dataset")
    return records


def split_records(records: list[Record], eval_records: list[Record] | None, s: DataSettings):
    """(train, eval): eval.jsonl wins; else a seeded shuffle holds out eval_split."""
    if eval_records is not None or s.eval_split <= 0:
        return records, eval_records or []
    order = list(range(len(records)))
    random.Random(s.seed).shuffle(order)
    n_eval = max(1, round(len(records) * s.eval_split))
    if n_eval >= len(records):
        raise UserError(f"eval_split={s.eval_split} leaves no training examples out of {len(records)}",
                        "lower eval_split or add examples", kind="dataset")
    held = set(order[:n_eval])
    return ([r for i, r in enumerate(records) if i not in held],
            [r for i, r in enumerate(records) if i in held])


# ---- rendering ----------------------------------------------------------------------------


def _bad(rec: Record, what: str, hint: str) -> UserError:
    return UserError(f"{rec.where}: {what}", hint, kind="dataset")


def record_kind(rec: Record, has_prompt_template: bool, drop_media: bool = False) -> str:
    d = rec.data
    if d.get("media") and not drop_media:
        what = ", ".join(f"{n} {k}" for k, n in d["media"].items())
        raise _bad(rec, f"the row refers to media ({what}) and this run trains on text only: "
                        "the model would learn the <image> placeholders, not the pictures",
                   "set drop_media=true to train on the text alone, placeholders removed, "
                   "or leave media rows out of the dataset")
    if "messages" in d:
        msgs = normalise_messages(d["messages"])
        if msgs is None:
            raise _bad(rec, "'messages' must be a non-empty list of {role, content} with role in "
                            "system/user/assistant/tool (or function_call/observation)",
                       'e.g. {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}')
        d["messages"] = msgs
        return "messages"
    if "text" in d and not (has_prompt_template and len(d) > 1):  # a bare {"text"} is always plain LM
        if not isinstance(d["text"], str) or not d["text"]:
            raise _bad(rec, "'text' must be a non-empty string", 'e.g. {"text": "..."}')
        return "text"
    if has_prompt_template:
        return "template"
    if "input" in d and "output" in d:
        if not isinstance(d["input"], str) or not isinstance(d["output"], str):
            raise _bad(rec, "'input' and 'output' must be strings", 'e.g. {"input": "Q?", "output": "A."}')
        return "pair"
    raise _bad(rec, f"unknown record shape with keys {sorted(d)}",
               "use {messages: [...]}, {input, output} or {text}; other fields need a prompt_template")


def normalise_messages(msgs: Any) -> list[dict] | None:
    """Turns in the trainer's roles (None if they cannot be): aliases mapped, typed content
    parts' text joined (``{"type": "text", "text"|"value"}``), an assistant's ``tool_calls``
    (``arguments`` parsed into objects) and ``reasoning_content``, a tool turn's
    ``name``/``tool_call_id`` kept; OpenAI's ``weight: 0`` and LLaMA-Factory's
    ``loss_weight: 0`` on an assistant turn become ``train: False``."""
    if not isinstance(msgs, list) or not msgs:
        return None
    out = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            return None
        role = ROLE_ALIASES.get(m["role"], m["role"])
        if role not in ROLES:
            return None
        content = m.get("content")
        if isinstance(content, list):
            content = content_text(content)
        calls = turn_calls(m) if role == "assistant" else []
        if content is None and calls:
            content = ""
        if not isinstance(content, str):
            return None
        msg = {"role": role, "content": content}
        if calls:
            msg["tool_calls"] = [_with_parsed_arguments(c) for c in calls]
        if role == "assistant":
            if isinstance(m.get("reasoning_content"), str) and m["reasoning_content"]:
                msg["reasoning_content"] = m["reasoning_content"]
            if _weight(m) == 0 or m.get("train") is False:  # (normalised twice: keep the flag)
                msg["train"] = False
        if role == "tool":
            msg.update({k: m[k] for k in ("name", "tool_call_id") if isinstance(m.get(k), str)})
        out.append(msg)
    return out


def _weight(m: dict) -> float | None:
    w = m.get("weight", m.get("loss_weight"))
    return w if isinstance(w, (int, float)) and not isinstance(w, bool) else None


def _with_parsed_arguments(call: Any) -> Any:
    """A call whose ``arguments`` JSON string is an object, as templates expect (no double encoding)."""
    if not isinstance(call, dict):
        return call
    fn = call.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
        return {**call, "function": {**fn, "arguments": parsed_arguments(fn["arguments"])}}
    if "arguments" in call and isinstance(call["arguments"], str):
        return {**call, "arguments": parsed_arguments(call["arguments"])}
    return call


PROBE_TOOL = {"type": "function", "function": {"name": "ffui_probe_tool", "description": "probe",
                                               "parameters": {"type": "object", "properties": {}}}}


def chat_capabilities(tokenizer) -> dict[str, bool]:
    """What the chat template renders: a 'tool' role, an assistant's tool_calls, tool definitions
    (``tools=``) and an assistant's ``reasoning_content``."""
    probe_call = {"type": "function", "function": {"name": "ffui_probe_fn", "arguments": {"x": 1}}}
    convs = {
        "tool_role": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "calling"},
                      {"role": "tool", "content": "ffui_probe_result"}, {"role": "assistant", "content": "a"}],
        "tool_calls": [{"role": "user", "content": "q"},
                       {"role": "assistant", "content": "", "tool_calls": [probe_call]},
                       {"role": "tool", "content": "r"}, {"role": "assistant", "content": "a"}],
    }
    convs["tools"] = [{"role": "user", "content": "q"}]
    convs["reasoning"] = [{"role": "user", "content": "q"},
                          {"role": "assistant", "content": "a", "reasoning_content": "ffui_probe_thought"}]
    needles = {"tool_role": "ffui_probe_result", "tool_calls": "ffui_probe_fn", "tools": "ffui_probe_tool",
               "reasoning": "ffui_probe_thought"}
    caps = {}
    for what, conv in convs.items():
        extra = {"tools": [PROBE_TOOL]} if what == "tools" else {}
        try:
            caps[what] = needles[what] in tokenizer.apply_chat_template(conv, tokenize=False, **extra)
        except Exception:  # templates that raise on roles they do not know
            caps[what] = False
    return caps


TOOLS_PREFIX = "You can call these functions (JSON schemas):\n"


def tools_in_system(msgs: list[dict], tools: list) -> list[dict]:
    """The fallback for templates that do not render ``tools=``: the schemas, as JSON lines, at
    the start of the system turn (one is added where there is none)."""
    text = TOOLS_PREFIX + "\n".join(json.dumps(t.get("function", t) if isinstance(t, dict) else t,
                                               ensure_ascii=False) for t in tools)
    if msgs and msgs[0]["role"] == "system":
        return [{**msgs[0], "content": text + "\n\n" + msgs[0]["content"]}, *msgs[1:]]
    return [{"role": "system", "content": text}, *msgs]


def adapt_to_template(msgs: list[dict], caps: dict[str, bool] | None) -> list[dict]:
    """Tool turns in a form this template can show: tool results as user turns where it has no
    tool role, calls as JSON text in the assistant's turn where it does not render tool_calls."""
    if caps is None or not any(m["role"] == "tool" or m.get("tool_calls") for m in msgs):
        return msgs
    out = []
    for m in msgs:
        if m["role"] == "tool" and not caps.get("tool_role"):
            m = {"role": "user", "content": TOOL_RESULT_PREFIX + m["content"]}
        elif m.get("tool_calls") and not caps.get("tool_calls"):
            text = calls_text(m["tool_calls"])
            m = {"role": "assistant", "content": (m["content"] + "\n" if m["content"] else "") + text}
        out.append(m)
    return out


def render_segments(rec: Record, tokenizer, s: DataSettings) -> tuple[list[tuple[str, bool]], bool]:
    """[(text, trainable)], and whether the model's own bos/eos must be added around it."""
    kind = record_kind(rec, s.prompt_template is not None, s.drop_media)
    if s.drop_media and rec.data.get("media"):
        _strip_media(rec.data)
    if kind == "text":
        return [(rec.data["text"], True)], True
    if kind == "template":
        return _template_segments(rec, s), True
    msgs = adapt_to_template(rec.data["messages"], s.chat_caps) if kind == "messages" else _pair_messages(rec.data)
    tools = rec.data.get("tools") if isinstance(rec.data.get("tools"), list) and rec.data["tools"] else None
    if tools and not (s.chat_caps or {}).get("tools"):
        msgs, tools = tools_in_system(msgs, tools), None
    return _chat_segments(rec, msgs, tokenizer, s.completion_only_loss, tools), False


def _strip_media(d: dict) -> None:
    """drop_media: the text of a media row without its <image>/<video>/<audio> placeholders."""
    for k in ("input", "output", "text"):
        if isinstance(d.get(k), str):
            d[k] = strip_media_placeholders(d[k])
    for m in d.get("messages") or ():
        m["content"] = strip_media_placeholders(m["content"])


def has_empty_reply(rec: Record) -> bool:
    """An assistant reply that would be trained is empty (no text, no calls): a labelling slip,
    most often, which teaches the model to end its turn at once."""
    d = rec.data
    if "messages" in d:
        return any(m["role"] == "assistant" and m.get("train") is not False and not m["content"].strip()
                   and not m.get("tool_calls") and not m.get("reasoning_content") for m in d["messages"])
    return isinstance(d.get("output"), str) and "input" in d and not d["output"].strip()


def _pair_messages(d: dict) -> list[dict]:
    msgs = [{"role": "system", "content": d["system"]}] if isinstance(d.get("system"), str) else []
    earlier = d.get("history") if isinstance(d.get("history"), list) else []
    return msgs + earlier + [{"role": "user", "content": d["input"]}, {"role": "assistant", "content": d["output"]}]


def _render(rec: Record, tokenizer, msgs: list[dict], gen: bool, tools: list | None = None) -> str:
    try:
        if tools:
            return tokenizer.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=gen)
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
    except Exception as e:  # jinja errors: templates that reject a role order, raise_exception(...)
        raise _bad(rec, f"the chat template cannot render this conversation ({e})",
                   "fix the roles/order of the messages, or set chat_template in the config") from None


def _chat_segments(rec: Record, msgs: list[dict], tokenizer, completion_only: bool,
                   tools: list | None = None) -> list[tuple[str, bool]]:
    full = _render(rec, tokenizer, msgs, False, tools)
    if not completion_only:
        return [(full, True)]
    if not any(m["role"] == "assistant" for m in msgs):
        raise _bad(rec, "no assistant turn to train on", "add an assistant message or set completion_only_loss=false")
    segments, done = [], 0
    for i, m in enumerate(msgs):
        if m["role"] != "assistant" or m.get("train") is False:  # weight 0: shown, not trained
            continue
        # Render the conversation up to this turn with and without it: the difference is
        # the assistant's text plus the template's end-of-turn marker.
        start, end = _assistant_span(rec, msgs, i, tokenizer, full, done, tools)
        segments += [(full[done:start], False), (full[start:end], True)]
        done = end
    segments.append((full[done:], False))
    return [(t, trainable) for t, trainable in segments if t]


def _assistant_span(rec, msgs, i, tokenizer, full: str, done: int, tools: list | None = None) -> tuple[int, int]:
    prompt = _render(rec, tokenizer, msgs[:i], True, tools) if i else None
    upto = _render(rec, tokenizer, msgs[: i + 1], False, tools)
    if prompt is not None and full.startswith(upto) and upto.startswith(prompt) and len(prompt) >= done:
        return len(prompt), len(upto)
    # Templates that re-render earlier turns differently: find the content itself.
    content = msgs[i]["content"]
    start = full.find(content, done)
    if start < 0:
        raise _bad(rec, "assistant text not found in the rendered chat template",
                   "use a chat template that renders message content verbatim")
    return start, start + len(content)


def _template_segments(rec: Record, s: DataSettings) -> list[tuple[str, bool]]:
    pt = s.prompt_template or {}
    fields = {k: v for k, v in rec.data.items() if k != "fields"}
    if isinstance(rec.data.get("fields"), dict):
        fields.update(rec.data["fields"])
    full = _fill(rec, pt["prompt_template"], fields)
    if not s.completion_only_loss:
        return [(full, True)]
    if pt.get("input_template"):
        prompt = _fill(rec, pt["input_template"], fields)
        if not full.startswith(prompt):
            raise _bad(rec, "input_template does not render to the start of prompt_template",
                       "input_template must be the prompt part of prompt_template, e.g. up to '### Answer:\\n'")
        return [(prompt, False), (full[len(prompt):], True)]
    if pt.get("completion_template"):
        completion = _fill(rec, pt["completion_template"], fields)
        if not completion or not full.endswith(completion):
            raise _bad(rec, "completion_template does not render to the end of prompt_template",
                       "completion_template must be the answer part of prompt_template, e.g. '{output}'")
        return [(full[: -len(completion)], False), (completion, True)]
    return [(full, True)]


def _fill(rec: Record, template: str, fields: dict) -> str:
    """The preview's renderer (ffui.prompt_fill), so what trains is what was previewed."""
    try:
        return fill(template, fields)
    except TemplateProblem as e:
        if e.missing is not None:
            raise _bad(rec, f"the prompt template uses {{{e.missing}}} but the record has no {e.missing!r}",
                       f"add {e.missing!r} to the record or to its \"fields\"") from None
        raise UserError(f"prompt template is not a valid str.format template ({e.message})",
                        "use named placeholders like {input}; write literal braces as {{ }}", kind="config") from None


# ---- tokenizing ---------------------------------------------------------------------------


def prepare_tokenizer(tokenizer, s: DataSettings, warn) -> None:
    """Pad token and chat template; `warn(message)` reports what was filled in."""
    if s.chat_template:
        tokenizer.chat_template = s.chat_template
    if tokenizer.pad_token_id is None:
        # padding is masked out of attention and labels, so eos (or unk) is a safe stand-in
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
        warn("the tokenizer has no chat template; using a simple <|role|> template "
             "(set chat_template in the config to choose one)")
    s.chat_caps = chat_capabilities(tokenizer)


#: what a run says once when its data has something the chat template cannot show (by capability)
FALLBACK_WARNINGS = {
    "tool_role": "the chat template has no 'tool' role: tool results are given to the model as user turns "
                 f"starting '{TOOL_RESULT_PREFIX.strip()}' (set chat_template to one with tool support to change this)",
    "tool_calls": "the chat template does not render tool_calls: each call is trained as JSON text "
                  '({"name": ..., "arguments": ...}) in the assistant\'s turn',
    "tools": "the chat template does not render tool definitions (tools=): each row's tools are given to "
             f"the model as JSON at the start of its system turn ('{TOOLS_PREFIX.strip()}')",
    "reasoning": "the chat template does not render reasoning_content: those turns train on their answers "
                 "without the reasoning (set chat_template to one that renders it, e.g. Qwen3's)",
}


def warn_tool_fallbacks(records: list[Record], s: DataSettings, warn) -> None:
    """Say once per run how tool turns, tool definitions and reasoning are shown when the chat
    template cannot show them."""
    caps = s.chat_caps or {}
    used = dict.fromkeys(FALLBACK_WARNINGS, False)
    for rec in records:
        used["tools"] = used["tools"] or bool(rec.data.get("tools"))
        for m in rec.data.get("messages") or ():
            role = m.get("role") if isinstance(m, dict) else None
            if not isinstance(role, str):
                continue
            used["tool_role"] = used["tool_role"] or ROLE_ALIASES.get(role, role) == "tool"
            used["tool_calls"] = used["tool_calls"] or bool(m.get("tool_calls") or m.get("function_call"))
            used["reasoning"] = used["reasoning"] or bool(m.get("reasoning_content"))
    for cap, message in FALLBACK_WARNINGS.items():
        if used[cap] and not caps.get(cap):
            warn(message)


def tokenize_records(records: list[Record], tokenizer, s: DataSettings) -> tuple[list[dict], DataStats]:
    examples, stats = [], DataStats()
    for ex in tokenize_each(records, tokenizer, s):
        if stats.add(ex):
            examples.append({"input_ids": ex.input_ids, "labels": ex.labels})
    return examples, stats


def tokenize_each(records: list[Record], tokenizer, s: DataSettings) -> Iterator[TokenizedExample]:
    """Every record's input_ids and labels, truncated, with why it is dropped: the one path
    both training (tokenize_records) and ``ffui data render`` take. An example whose reply is
    empty comes first, dropped, without tokens (unless keep_empty_replies)."""
    if not s.keep_empty_replies:
        kept = []
        for r in records:
            if record_kind(r, s.prompt_template is not None, s.drop_media) == "template" or not has_empty_reply(r):
                kept.append(r)
            else:
                yield TokenizedExample(r, [], [], False, DROPPED_EMPTY_REPLY)
        records = kept
    rendered = [render_segments(r, tokenizer, s) for r in records]
    texts = [t for segs, _ in rendered for t, _ in segs]
    ids_flat = iter(tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else iter(())
    bos, eos = _specials(tokenizer)
    for rec, (segs, wrap) in zip(records, rendered):
        ids, labels = list(bos) if wrap else [], [IGNORE] * len(bos) if wrap else []
        for _, trainable in segs:
            seg = next(ids_flat)
            ids += seg
            labels += seg if trainable else [IGNORE] * len(seg)
        if wrap and eos is not None and (not ids or ids[-1] != eos):
            ids.append(eos)
            labels.append(eos if segs[-1][1] else IGNORE)
        truncated = len(ids) > s.max_seq_len
        if truncated:
            ids, labels = ids[: s.max_seq_len], labels[: s.max_seq_len]
        ex = TokenizedExample(rec, ids, labels, truncated)
        # label 0 is never predicted (labels shift by one inside the model)
        if not ex.trained_tokens:
            ex.dropped = DROPPED_NOTHING_TO_TRAIN
        yield ex


def _specials(tokenizer) -> tuple[list[int], int | None]:
    """The bos the tokenizer adds by itself (none for e.g. Qwen), and eos."""
    bos_id = tokenizer.bos_token_id
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    bos = [bos_id] if bos_id is not None and probe and probe[0] == bos_id else []
    return bos, tokenizer.eos_token_id


# ---- packing and batching -----------------------------------------------------------------


def pack_examples(examples: list[dict], max_len: int) -> list[dict]:
    """Best-fit-decreasing into rows of <= max_len tokens, with per-example position_ids.

    Positions restart at 0 for each example; with no attention_mask, transformers derives a
    block-diagonal causal mask from them, so packed examples do not attend to each other.
    """
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i]["input_ids"]))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (remaining capacity, bin index)
    for i in order:
        n = len(examples[i]["input_ids"])
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            cap, b = free.pop(k)
        else:
            cap, b = max_len, len(bins)
            bins.append([])
        bins[b].append(i)
        bisect.insort(free, (cap - n, b))
    return [_concat([examples[i] for i in b]) for b in bins]


def packed_batch_size(examples: int, rows: int, batch_size: int) -> int:
    """Packed rows per micro-batch that train about as many examples (so as many tokens) per
    optimizer step as `batch_size` unpacked examples: same number of steps, not fewer, larger ones."""
    return max(1, round(batch_size * rows / max(1, examples)))


def packed_batch_note(examples: int, rows: int, batch_size: int) -> str:
    """What packing does to the batch, for the run's log."""
    packed = packed_batch_size(examples, rows, batch_size)
    per_step = packed * examples / max(1, rows)
    note = (f"packing: {examples} examples in {rows} rows; per_device_train_batch_size={batch_size} examples "
            f"becomes {packed} packed row{'s' if packed != 1 else ''} per micro-batch "
            f"(about {per_step:.1f} examples)")
    if abs(per_step - batch_size) > 0.25 * batch_size:
        return note + (f", so each optimizer step trains about {per_step / batch_size:.1f}x the tokens of "
                       f"{batch_size} unpacked examples and there are fewer steps (a packed row holds more than "
                       f"{batch_size} examples; lower max_seq_len to keep steps smaller)")
    return note + ", so each optimizer step trains about as many tokens as unpacked"


def summary_line(what: str, records: int, stats: DataStats, max_seq_len: int, packing: bool) -> str:
    """The summary printed before a run trains and by ``ffui data render``."""
    parts = [f"{what} data: {records} example{'' if records == 1 else 's'}, {stats.examples} trained, "
             f"{stats.tokens:,} tokens "
             f"({stats.trained_tokens:,} trained), longest {stats.max_len}"]
    parts.append(f"{stats.truncated} truncated to max_seq_len={max_seq_len}")
    dropped = "; ".join(f"{n} {why}" for why, n in stats.dropped_why.items())
    parts.append(f"{stats.dropped} dropped" + (f" ({dropped})" if dropped else ""))
    if stats.empty_replies:
        parts.append(f"{stats.empty_replies} left out for an empty reply")
    if packing:
        parts.append(f"packed into {stats.rows} rows")
    return ", ".join(parts)


def _concat(parts: Iterable[dict]) -> dict:
    ids, labels, pos = [], [], []
    for p in parts:
        ids += p["input_ids"]
        # the first token of an example must not be predicted from the previous example
        labels += [IGNORE] + p["labels"][1:]
        pos += range(len(p["input_ids"]))
    return {"input_ids": ids, "labels": labels, "position_ids": pos}


class Collator:
    """Pads each batch to its own longest row (not to max_seq_len)."""

    def __init__(self, pad_id: int, pad_to_multiple_of: int | None = None):
        self.pad_id = pad_id
        self.multiple = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> dict:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        if self.multiple:
            longest = -(-longest // self.multiple) * self.multiple
        n = len(features)
        batch = {
            "input_ids": torch.full((n, longest), self.pad_id, dtype=torch.long),
            "labels": torch.full((n, longest), IGNORE, dtype=torch.long),
        }
        packed = "position_ids" in features[0]
        key = "position_ids" if packed else "attention_mask"
        batch[key] = torch.arange(longest).repeat(n, 1) if packed else torch.zeros((n, longest), dtype=torch.long)
        for row, f in enumerate(features):
            k = len(f["input_ids"])
            batch["input_ids"][row, :k] = torch.tensor(f["input_ids"])
            batch["labels"][row, :k] = torch.tensor(f["labels"])
            if packed:  # padding continues as its own sequence starting at 0
                batch["position_ids"][row, :k] = torch.tensor(f["position_ids"])
                batch["position_ids"][row, k:] = torch.arange(longest - k)
            else:
                batch["attention_mask"][row, :k] = 1
        return batch
