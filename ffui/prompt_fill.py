"""Filling a prompt template from one row's fields: the one renderer behind the template
preview (Train form, ``ffui prompts render``), the dataset export and the trainer.

It imports nothing from ffui, so the trainer (``ffui.train``, which talks to the rest only
through the files of its run directory) can use it as the preview does. A template is
``str.format`` text with named placeholders only; ``{{`` and ``}}`` are literal braces.
A null field is empty text (a missing alpaca ``input`` is not the word "None"); other
non-text values are written as JSON (``true``, ``3``, ``["a", "b"]``), as the dataset file has them.
"""

from __future__ import annotations

import json
import string
from typing import Any

_FORMATTER = string.Formatter()


class TemplateProblem(ValueError):
    """A template that cannot be filled: ``missing`` names the absent field, if that is why."""

    def __init__(self, message: str, hint: str, missing: str | None = None):
        super().__init__(message)
        self.message, self.hint, self.missing = message, hint, missing


def placeholders(template: str) -> list[str]:
    """The placeholder names of ``template``, in order of first use. Raises TemplateProblem for
    anything else: positional ``{}``/``{0}``, attribute or index access, conversions or format
    specs, unmatched braces."""
    names: list[str] = []
    try:
        parts = list(_FORMATTER.parse(template or ""))
    except ValueError as e:
        raise TemplateProblem(f"template {(template or '')[:60]!r}: {e}", "write {{ or }} for a literal brace") from None
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if not name.strip():
            raise TemplateProblem(f"empty placeholder {{}} in template {template[:60]!r}", "name the field, e.g. {input}")
        if name.isdigit() or any(c in name for c in ".[]"):
            raise TemplateProblem(f"placeholder {{{name}}} is not a plain field name", "use names like {instruction}")
        if spec or conv:
            raise TemplateProblem(f"placeholder {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                                  "has a conversion or format spec", "use plain {name} placeholders")
        if name not in names:
            names.append(name)
    return names


def field_text(value: Any) -> str:
    """How one field's value appears in the rendered text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def fill(template: str, fields: dict[str, Any]) -> str:
    """``template`` with each placeholder replaced by its field's text; a placeholder the row
    has no field for is a TemplateProblem naming it."""
    placeholders(template)  # refuses what str.format would misread
    out = []
    for literal, name, _, _ in _FORMATTER.parse(template or ""):
        out.append(literal)
        if name is None:
            continue
        if name not in fields:
            raise TemplateProblem(f"the template names {{{name}}} but the row has no such field; "
                                  f"fields are: {', '.join(sorted(fields))}",
                                  f"add {name!r} to the row, or use one of its fields", missing=name)
        out.append(field_text(fields[name]))
    return "".join(out)
