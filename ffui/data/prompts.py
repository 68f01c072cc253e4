"""Prompt templates: named placeholders filled from a dataset row.

A template is text with placeholders in braces, ``{instruction}``, ``{input}``, ``{output}``,
or any original column name of the dataset (``{question}``); ``{{`` and ``}}`` are literal
braces. A prompt (the ``prompts`` table) has an ``input_template`` (what the model is given), a
``completion_template`` (what it learns to write) and a ``prompt_template`` (the two together,
for display and inference). The trainer renders each line of its ``dataset.jsonl`` with
:func:`render_training_line`.
"""

from __future__ import annotations

from typing import Any

from ffui import prompt_fill

from .errors import DataError

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
