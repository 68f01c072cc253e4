"""Every key binding of the UI, for the user's keymap (the setting, and its parser: ffui.keymap).

``all_bindings()`` imports the screens to read their BINDINGS. ``python -m screens.keymap``
prints them as JSON for ``ffui keys`` and ``ffui settings set ui.keymap``, which run it as a
child process: ffui itself never imports Textual or the screens.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import sys

from textual.binding import Binding

from ffui.keymap import SETTING, KeyInfo, parse_keymap  # noqa: F401 (the app reads them from here)

# Every module whose classes carry BINDINGS (the app's screens are imported lazily, so the
# list of ids cannot come from the classes already loaded).
MODULES = (
    "screens.app", "screens.runs", "screens.run_detail", "screens.datasets", "screens.dataset_browse",
    "screens.dataset_forms", "screens.dataset_import", "screens.train_form", "screens.playground",
    "screens.logs", "screens.settings", "screens.help", "screens.widgets.modals", "screens.widgets.log_tail",
    "screens.widgets.base",
)


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


if __name__ == "__main__":  # the binding table for ffui's CLI, which does not import the UI
    json.dump([dataclasses.asdict(b) for b in all_bindings()], sys.stdout)
