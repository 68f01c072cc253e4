"""Prompt templates: named placeholders filled from a dataset row.

A template is text with placeholders in braces, ``{instruction}``, ``{input}``, ``{output}``,
or any original column name of the dataset (``{question}``); ``{{`` and ``}}`` are literal
braces. A prompt (the ``prompts`` table) has an ``input_template`` (what the model is given), a
``completion_template`` (what it learns to write) and a ``prompt_template`` (the two together,
for display and inference). The trainer renders each line of its ``dataset.jsonl`` with
:func:`render_training_line`.

The second half is the prompts of the database (the seed-000 ``prompts`` table, bound to a
dataset's registry row): add, look up, list, and render against a dataset's rows.
"""

from __future__ import annotations

import json
from typing import Any

from ffui import prompt_fill
from ffui.db import create_dataset, create_prompt, set_scrape_session_registry_id
from ffui.db.catalog import check_name

from .datasets import display_name, resolve, session_for_registry_id, session_layout, session_meta
from .errors import DataError
from .formats import record_fields
from .rows import field_names, page

DEFAULT_INPUT_TEMPLATE = "{input}"
DEFAULT_COMPLETION_TEMPLATE = "{output}"


class TemplateError(DataError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(None, None, message, hint)


def placeholders(template: str) -> list[str]:
    """The placeholder names of ``template`` in order of first use (see ffui.prompt_fill)."""
    try:
        return prompt_fill.placeholders(template)
    except prompt_fill.TemplateProblem as e:
        raise TemplateError(e.message, e.hint) from None


def render(template: str, fields: dict[str, Any]) -> str:
    """Fill ``template`` from ``fields`` with the renderer the trainer uses (ffui.prompt_fill:
    null is empty text, other non-text values JSON); a missing field is a TemplateError naming it."""
    try:
        return prompt_fill.fill(template, fields)
    except prompt_fill.TemplateProblem as e:
        raise TemplateError(e.message, e.hint if e.missing is None else None) from None


def check_template(template: str, available: list[str] | set[str]) -> None:
    """Raise TemplateError if ``template`` names a field that is not ``available``."""
    missing = [p for p in placeholders(template) if p not in available]
    if missing:
        raise TemplateError(f"unknown placeholder(s) {', '.join('{' + m + '}' for m in missing)}; "
                            f"the dataset's fields are: {', '.join(sorted(available))}")


def full_template(input_template: str | None, completion_template: str | None) -> str:
    return (input_template or "") + (completion_template or "")


def render_prompt(prompt: dict, fields: dict[str, Any]) -> dict[str, str]:
    """Render a ``prompts`` row against one row's fields: ``{"input", "completion", "text"}``."""
    it = prompt.get("input_template") or DEFAULT_INPUT_TEMPLATE
    ct = prompt.get("completion_template") or DEFAULT_COMPLETION_TEMPLATE
    inp = render(it, fields)
    comp = render(ct, fields)
    full = prompt.get("prompt_template")
    text = render(full, fields) if full else inp + comp
    return {"input": inp, "completion": comp, "text": text}


def training_fields(line: dict) -> dict[str, Any]:
    """The fields of one ``dataset.jsonl`` line (see ffui.data.training) a template can name."""
    if "fields" in line or "input" in line:
        fields = dict(line.get("fields") or {})
        fields.setdefault("input", line.get("input", ""))
        fields.setdefault("output", line.get("output", ""))
        return fields
    if "text" in line:
        return {"text": line["text"], "input": line["text"], "output": ""}
    if "messages" in line:
        from .formats import chat_preview

        msgs = line["messages"]
        i, o = chat_preview(msgs)
        fields = {"input": i, "output": o}
        for m in msgs:
            if m.get("role") == "system" and isinstance(m.get("content"), str):
                fields.setdefault("system", m["content"])
        return fields
    raise TemplateError("a dataset.jsonl line has none of messages, input/output or text")


def render_training_line(line: dict, input_template: str | None = None,
                         completion_template: str | None = None) -> tuple[str, str]:
    """(prompt, completion) for a pair or text line of the trainer's dataset file."""
    fields = training_fields(line)
    if "text" in line and not input_template and not completion_template:
        return "", line["text"]
    return (render(input_template or DEFAULT_INPUT_TEMPLATE, fields),
            render(completion_template or DEFAULT_COMPLETION_TEMPLATE, fields))


# -- prompts in the database -------------------------------------------------------------------


async def get_prompt_by_name(db, name: str) -> dict:
    row = await db.fetchone("SELECT * FROM prompts WHERE name = ? ORDER BY id LIMIT 1", (name,))
    if row is None:
        row = await db.fetchone("SELECT * FROM prompts WHERE id = ?", (name,))
    if row is None:
        raise DataError(None, None, f"no prompt named {name!r}", "see: ffui prompts list")
    return row


async def add_prompt(db, name: str, dataset, *, input_template: str | None = None,
                     completion_template: str | None = None, prompt_template: str | None = None,
                     description: str | None = None, type: str = "instruction") -> dict:
    """A prompt template bound to a dataset; placeholders are checked against its fields."""
    name = check_name("prompt", name)
    if await db.fetchone("SELECT id FROM prompts WHERE name = ?", (name,)):
        raise DataError(None, None, f"a prompt named {name!r} exists already",
                        "choose another name")
    s = await resolve(db, dataset)
    rid = session_meta(s).get("registry_id")
    if not rid:
        rid = await _register_existing(db, s)
    it = input_template if input_template is not None else DEFAULT_INPUT_TEMPLATE
    ct = completion_template if completion_template is not None else DEFAULT_COMPLETION_TEMPLATE
    fields = await field_names(db, s)
    for t in (it, ct, prompt_template):
        if t:
            check_template(t, fields)
    pid = await create_prompt(db, type=type, name=name, description=description, dataset_id=rid,
                              input_template=it, completion_template=ct,
                              prompt_template=prompt_template or full_template(it, ct))
    return {"id": pid, "name": name, "dataset": display_name(s), "fields": fields}


async def _register_existing(db, s: dict) -> str:
    """A registry row for a dataset made outside ffui's importer (e.g. a scrape)."""
    lay = session_layout(s)
    async with db.transaction():
        rid = await create_dataset(db, type="ffui", name=display_name(s),
                                   description=s.get("source_details"),
                                   features=json.dumps(lay.key_order))
        await set_scrape_session_registry_id(db, s["id"], rid)
    return rid


async def list_prompts(db, dataset=None) -> list[dict]:
    """Prompts with the name of their dataset (None if unbound)."""
    rows = await db.fetchall("SELECT * FROM prompts ORDER BY name")
    out = []
    for r in rows:
        s = await session_for_registry_id(db, r["dataset_id"]) if r["dataset_id"] else None
        r["dataset"] = display_name(s) if s else None
        r["dataset_session_id"] = s["id"] if s else None
        out.append(r)
    if dataset is not None:
        s = await resolve(db, dataset)
        out = [r for r in out if r["dataset_session_id"] == s["id"]]
    return out


async def prompt_dataset(db, prompt: dict) -> dict | None:
    if not prompt.get("dataset_id"):
        return None
    return await session_for_registry_id(db, prompt["dataset_id"])


async def render_prompt_samples(db, prompt: str | dict, *, dataset=None, n: int = 1,
                                offset: int = 0) -> list[dict]:
    """Render a prompt against ``n`` rows (from ``offset``) of its dataset (or ``dataset``):
    ``[{"id", "input", "completion", "text"}]``."""
    p = prompt if isinstance(prompt, dict) else await get_prompt_by_name(db, prompt)
    s = await resolve(db, dataset) if dataset is not None else await prompt_dataset(db, p)
    if s is None:
        raise DataError(None, None, f"prompt {p['name']!r} is not bound to a dataset",
                        "pass --dataset NAME")
    lay = session_layout(s)
    out = []
    for rec in await page(db, s, limit=n, offset=offset):
        r = render_prompt(p, record_fields(rec, lay))
        r["id"] = rec["id"]
        out.append(r)
    return out
