"""A user keymap: rebind any of the app's keys by binding id.

The keymap lives in the database as the setting ``ui.keymap``, a JSON object of binding id
to key(s), so it follows the ffui home (and its exports) like every other setting::

    ffui settings set ui.keymap '{"app.mode.runs": "f2", "runs.cancel": "ctrl+k"}'
    ffui keys            # every binding id, its key and what it does

A comma-separated value binds several keys (``"f2,alt+r"``). Problems (bad JSON, an unknown
id) are reported as one line each when the app starts; the good entries still apply.
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass

from textual.binding import Binding

SETTING = "ui.keymap"

# Every module whose classes carry BINDINGS (the app's screens are imported lazily, so the
# list of ids cannot come from the classes already loaded).
MODULES = (
    "screens.app", "screens.runs", "screens.run_detail", "screens.datasets", "screens.dataset_browse",
    "screens.dataset_forms", "screens.dataset_import", "screens.train_form", "screens.playground",
    "screens.logs", "screens.settings", "screens.help", "screens.widgets.modals", "screens.widgets.log_tail",
    "screens.widgets.base",
)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    key: str
    description: str
    where: str


def all_bindings() -> list[KeyInfo]:
    """Every binding with an id, in the order the modules list them (imports the screens)."""
    found: dict[str, KeyInfo] = {}
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ != mod.__name__:
                continue
            for b in cls.__dict__.get("BINDINGS", ()):
                if isinstance(b, Binding) and b.id and b.id not in found:
                    found[b.id] = KeyInfo(b.id, b.key, b.tooltip or b.description or b.action, cls.__name__)
    return list(found.values())


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
