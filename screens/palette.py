"""Command palette (ctrl+p) providers: runs, datasets, models, and app actions.

Each provider reads what it offers once when the palette opens (``startup``, off the UI
thread through aiosqlite) and matches the typed text against it; nothing is queried per
keystroke. Posting's lesson: commands are built from the app's current state.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

MODE_COMMANDS = (("runs", "1"), ("datasets", "2"), ("train", "3"), ("playground", "4"), ("logs", "5"), ("settings", "6"))


class _ListProvider(Provider):
    """Commands are (text, help, callback) triples gathered in ``load``."""

    commands: list[tuple[str, str, Callable[[], Any]]]

    async def load(self) -> list[tuple[str, str, Callable[[], Any]]]:
        return []

    async def startup(self) -> None:
        try:
            self.commands = await self.load() if getattr(self.app, "db", None) is not None else []
        except Exception:  # a palette without these entries beats an error over the palette
            self.commands = []

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, callback in self.commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)

    async def discover(self) -> Hits:
        for text, help_text, callback in self.commands[: self.discover_count]:
            yield DiscoveryHit(Content(text), callback, text=text, help=help_text)  # names are not markup

    discover_count = 5


class RunsProvider(_ListProvider):
    async def load(self):
        from ffui.db import list_recent_runs

        rows = await list_recent_runs(await self.app.database(), 200)
        opens = [(f"Open run {r['id']}: {r['name']} ({r['status']})",
                  f"{float(r['progress'] or 0) * 100:.0f}% done", partial(self.app.open_run, r["id"])) for r in rows]
        chats = [(f"Chat with run {r['id']}: {r['name']}'s adapter", "the Playground with this adapter chosen",
                  partial(self.app.chat_with_run, r["id"])) for r in rows if r["adapter_path"]]
        return opens + chats


class DatasetsProvider(_ListProvider):
    discover_count = 3

    async def load(self):
        from ffui.data.store import list_datasets

        newest = (await list_datasets(await self.app.database()))[::-1][:200]
        return [(f"Browse dataset {d['name']}", f"{d['rows']:,} rows", partial(self._open, d["id"])) for d in newest]

    async def _open(self, dataset_id: int) -> None:
        await self.app.switch_mode("datasets")
        screen = self.app.get_screen_stack("datasets")[0]
        opener = getattr(screen, "open_dataset", None)
        if opener is not None:
            result = opener(dataset_id)
            if hasattr(result, "__await__"):
                await result


class ModelsProvider(_ListProvider):
    discover_count = 3

    async def load(self):
        from ffui.db import list_recent_models

        rows = await list_recent_models(await self.app.database(), 200)
        out = []
        for r in rows:
            target = r["location"] or r["huggingface_model_name"] or r["id"]
            label = r["name"] or target
            out.append((f"Train model {label}", str(target), partial(self._train, target)))
        return out

    async def _train(self, model: str) -> None:
        await self.app.switch_mode("train")
        form = self.app.get_screen_stack("train")[0]
        setter = getattr(form, "set_model", None)
        if setter is not None:
            result = setter(model)
        elif hasattr(form, "load_config"):
            result = form.load_config({"base_model": model})
        else:
            return
        if hasattr(result, "__await__"):
            await result


class ActionsProvider(_ListProvider):
    discover_count = 12

    async def startup(self) -> None:
        app = self.app
        self.commands = [
            ("New training run", "open the Train form (3)", partial(app.action_mode, "train")),
            ("Import a dataset", "open Datasets and start an import (2)", self._import),
            ("Import a dataset from the hub", "type its hub id (org/name) as the path (2)", self._import),
            ("Chat with an adapter", "Playground: pick a trained adapter or a run's (4)", self._playground),
            ("Hugging Face hub token", "Settings: paste it for gated or private models and datasets (6)",
             partial(self._settings, "token")),
            ("Export the database", "Settings: export to a JSON file (6)", partial(self._settings, "export")),
            ("Import a database export", "Settings: import a JSON export (6)", partial(self._settings, "import")),
            *[(f"Switch to {mode}", f"key {key}", partial(app.action_mode, mode)) for mode, key in MODE_COMMANDS],
            ("Help for this screen", "F1 or ?", app.action_help),
            ("Quit ffui", "q; running jobs keep running", app.action_quit),
        ]

    async def _import(self) -> None:
        await self.app.switch_mode("datasets")
        screen = self.app.get_screen_stack("datasets")[0]
        for name in ("action_import", "action_import_dataset", "start_import"):
            action = getattr(screen, name, None)
            if action is not None:
                result = action()
                if hasattr(result, "__await__"):
                    await result
                return

    async def _playground(self) -> None:
        await self.app.switch_mode("playground")
        picker = self.app.get_screen_stack("playground")[0].query("#pg-adapter")
        if picker:
            picker.first().focus()

    async def _settings(self, what: str) -> None:
        await self.app.switch_mode("settings")
        screen = self.app.get_screen_stack("settings")[0]
        focus = getattr(screen, "focus_field", None)
        if focus is not None:
            focus(what)
