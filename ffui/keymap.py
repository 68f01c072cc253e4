"""The user's keymap setting: rebind any of the app's keys by binding id.

The keymap lives in the database as the setting ``ui.keymap``, a JSON object of binding id
to key(s), so it follows the ffui home (and its exports) like every other setting::

    ffui settings set ui.keymap '{"app.mode.runs": "f2", "runs.cancel": "ctrl+k"}'
    ffui keys            # every binding id, its key and what it does

A comma-separated value binds several keys (``"f2,alt+r"``). Problems (bad JSON, an unknown
id) are one line each; the good entries still apply. Reading the setting needs no Textual:
the bindings themselves are the UI's (``screens.keymap`` lists them; ``ffui keys`` asks it
in a child process, so ffui never imports the UI).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SETTING = "ui.keymap"


@dataclass(frozen=True)
class KeyInfo:
    """One key binding of the UI: the id a keymap names, its default key, what it does, where."""

    id: str
    key: str
    description: str
    where: str


def parse_keymap(text: str | None, known: set[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(the keymap to apply, one line per problem). ``known``: the valid binding ids."""
    if not text or not text.strip():
        return {}, []
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return {}, [f"{SETTING} is not valid JSON ({exc.msg} at character {exc.pos}); "
                    f"fix it with: ffui settings set {SETTING} '{{\"app.mode.runs\": \"f2\"}}'"]
    if not isinstance(raw, dict):
        return {}, [f"{SETTING} must be a JSON object of binding id to key, like {{\"app.mode.runs\": \"f2\"}}"]
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in raw.items():
        if not isinstance(keys, str) or not keys.strip():
            problems.append(f"{SETTING}: {binding_id!r} needs a key as a string, like \"f2\" or \"ctrl+k\"")
        elif known is not None and binding_id not in known:
            problems.append(f"{SETTING}: no binding has the id {binding_id!r}; `ffui keys` lists them")
        else:
            keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    return keymap, problems
