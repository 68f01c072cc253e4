"""The ffui terminal app: modes, global keys, the command palette, errors, the database.

``ffui`` with no command calls ``run_app(paths)``; tests build the app with ``make_app``
(Posting's app factory) against a temporary home. Each mode (1 runs .. 6 settings) keeps
its own screen stack. Screen modules are imported when their mode is first shown, so the
first frame only pays for Textual and the Runs screen.

One ``ffui.db.Database`` is opened right after the first frame and closed on exit;
screens use ``self.app.db`` from async handlers and workers (aiosqlite runs every query in
its own thread), and what loads as a screen mounts asks ``await self.app.database()``,
which waits out the first ~0.1 s. Quitting never touches running jobs: they belong to
their own supervisor processes.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from ffui.errors import internal_error_message, user_message
from ffui.paths import Paths
from screens.palette import ActionsProvider, DatasetsProvider, ModelsProvider, RunsProvider
from screens.terminal_shadow import TerminalShadow
from screens.widgets.base import FfuiScreen

GPU_POLL_S = 5.0
HOLD_INPUT_S = 1.0  # the longest that keys behind a mode key wait for the mode's screen
MODE_NAMES = {"runs": "Runs", "datasets": "Datasets", "train": "Train", "playground": "Playground",
              "logs": "Logs", "settings": "Settings"}


class ComingScreen(FfuiScreen):
    """Stands in for a mode whose module is not in this build yet."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.mode_title = title

    def compose(self):
        from textual.widgets import Static

        yield from self.compose_chrome()
        yield Static(f"{self.mode_title}: coming — this part of ffui is not in this build yet.", classes="coming")


def _screen_factory(module: str, cls: str, title: str, optional: bool = False) -> Callable[[], Screen]:
    """A MODES entry that imports the screen's module only when the mode is first shown."""

    def make() -> Screen:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if optional and exc.name == module:
                return ComingScreen(title)
            raise
        screen_cls = getattr(mod, cls, None)
        if screen_cls is None and optional:
            return ComingScreen(title)
        return screen_cls()

    return make


class FfuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "ffui"
    MODES = {
        "runs": _screen_factory("screens.runs", "RunsScreen", "Runs"),
        "datasets": _screen_factory("screens.datasets", "DatasetsScreen", "Datasets", optional=True),
        "train": _screen_factory("screens.train_form", "TrainScreen", "Train", optional=True),
        "playground": _screen_factory("screens.playground", "PlaygroundScreen", "Playground", optional=True),
        "logs": _screen_factory("screens.logs", "LogsScreen", "Logs"),
        "settings": _screen_factory("screens.settings", "SettingsScreen", "Settings"),
    }
    DEFAULT_MODE = "runs"
    COMMANDS = App.COMMANDS | {RunsProvider, DatasetsProvider, ModelsProvider, ActionsProvider}
    BINDINGS = [
        Binding("1", "mode('runs')", "Runs", show=False, id="app.mode.runs"),
        Binding("2", "mode('datasets')", "Datasets", show=False, id="app.mode.datasets"),
        Binding("3", "mode('train')", "Train", show=False, id="app.mode.train"),
        Binding("4", "mode('playground')", "Playground", show=False, id="app.mode.playground"),
        Binding("5", "mode('logs')", "Logs", show=False, id="app.mode.logs"),
        Binding("6", "mode('settings')", "Settings", show=False, id="app.mode.settings"),
        Binding("f1", "help", "Help", priority=True, id="app.help"),
        Binding("question_mark", "help", "Help", show=False, id="app.help.question_mark"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit.ctrl_q"),
    ]

    gpu_state = var(None)
    gpu_summary = var("GPU …")

    def __init__(self, paths: Paths, *, gpu_probe: Callable[[], Any] | None = None, reconcile: bool = True,
                 poll_s: float = 1.0, freeze_gc: bool | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.paths = paths
        self.home_label = str(paths.home)
        self.db = None  # the ffui.db.Database: open from just after the first frame until exit
        self.poll_s = poll_s
        self._gpu_probe = gpu_probe
        self._reconcile = reconcile
        self._freeze_gc = freeze_gc
        self.startup_error: str | None = None
        self._db_ready = asyncio.Event()
        self.crash_message: str | None = None
        self._held_input: list | None = None  # typed or pasted while a mode key switches screens
        self.terminal_shadow = TerminalShadow()  # so a frame writes only the cells that changed

    # -- start and stop ------------------------------------------------------------------

    def _display(self, screen: Screen, renderable: Any) -> None:
        # (Textual's own writer, fed the update cut to what changed; only a frame it will
        # write is cut, or the copy would hold cells the terminal never got)
        if renderable is not None and self._running and not self._closed and not self._batch_count \
                and self._driver is not None:
            renderable = self.terminal_shadow.cut(renderable)
        super()._display(screen, renderable)

    def on_resize(self) -> None:
        self.terminal_shadow.forget()

    def on_mount(self) -> None:
        self.app_resume_signal.subscribe(self, lambda _app: self.terminal_shadow.forget())
        if not self.is_headless and self.console.color_system in ("standard", "windows"):
            self.theme = "ansi-dark"  # 16 colours: the ANSI theme keeps contrast readable
        self.run_worker(self._open_database, name="open-db", exit_on_error=False)

    async def _open_database(self) -> None:
        """Open the database right after the first frame (importing ffui.db costs ~0.1 s).

        Until it is open, mode keys and ``show_train_config`` wait for it (``wait_for_db``),
        the Runs screen says 'loading', and the loaders of the other screens and of the
        command palette wait in ``database()``: a screen shown early fills once it is open.
        """
        try:
            core = await asyncio.to_thread(importlib.import_module, "ffui.db")
            self.db = await core.open_db(self.paths.db, self.paths.home)
        except Exception as exc:
            from ffui.db import DatabaseError

            if not isinstance(exc, DatabaseError):
                raise
            self.startup_error = str(exc)  # a bad file, a newer schema...: one line once the UI is gone
            self.exit(return_code=2)
            return
        finally:
            self._db_ready.set()
        # Everything made so far (Textual, styles, the first screen) lives as long as the app:
        # freezing it keeps the garbage collector's full passes from rescanning it, which
        # would otherwise show as pauses while a log streams in.
        if self._freeze_gc if self._freeze_gc is not None else not self.is_headless:
            gc.freeze()  # (not in test runs, which build many apps in one process)
        for screen in self.screen_stack:
            ready = getattr(screen, "on_database_ready", None)
            if ready is not None:
                ready()
        self.run_worker(self._watch_gpus, name="gpus", group="gpus", exit_on_error=False)
        self.run_worker(self.load_keymap, name="keymap", exit_on_error=False)
        self.run_worker(self.load_theme, name="theme", exit_on_error=False)
        if self._reconcile:
            self.run_worker(self._reconcile_runs, name="reconcile", exit_on_error=False)

    async def wait_for_db(self) -> None:
        await self._db_ready.wait()

    async def database(self):
        """The open database, once it is open: a screen shown in the first ~0.1 s waits for it."""
        await self._db_ready.wait()
        if self.db is None:
            from ffui.db import DatabaseError

            raise DatabaseError(self.startup_error or "the database is not open")
        return self.db

    async def load_keymap(self) -> None:
        """Apply the user's keymap (the setting ui.keymap); say what in it could not be used."""
        from ffui.db import get_setting
        from screens import keymap

        try:
            text = await get_setting(self.db, keymap.SETTING)
            if not text:
                return
            known = await asyncio.to_thread(lambda: {k.id for k in keymap.all_bindings()})
            mapping, problems = keymap.parse_keymap(text, known)
        except Exception as exc:
            self.notify_error(exc)
            return
        self.set_keymap(mapping)
        from screens.widgets.header import AppHeader

        for header in self.screen.query(AppHeader):
            header.refresh()
        for problem in problems:
            self.notify(problem, severity="warning", timeout=10)

    THEME_ALIASES = {"dark": "textual-dark", "light": "textual-light", "ansi": "ansi-dark"}

    async def load_theme(self) -> None:
        """The setting ui.theme picks the colours; a theme chosen in the palette is kept there."""
        from ffui.db import get_setting

        try:
            wanted = (await get_setting(self.db, "ui.theme") or "").strip()
        except Exception as exc:
            self.notify_error(exc)
            return
        name = self.THEME_ALIASES.get(wanted, wanted)
        if name and self.theme != "ansi-dark":  # a 16-colour terminal keeps the ANSI theme
            if name in self.available_themes:
                self.theme = name
            else:
                names = ", ".join(["dark", "light"] + sorted(t for t in self.available_themes if "ansi" not in t))
                self.notify(f"ui.theme: there is no theme {wanted!r}; choose one of: {names}",
                            severity="warning", timeout=10)
        self.watch(self, "theme", self._save_theme, init=False)

    async def _save_theme(self, theme: str) -> None:
        from ffui.db import set_setting

        if self.db is not None:
            try:
                await set_setting(self.db, "ui.theme", theme)
            except Exception as exc:
                self.notify_error(exc)

    async def _reconcile_runs(self) -> None:
        """Every ffui start gives orphaned runs a supervisor again and starts queued ones."""
        from ffui.jobs.manager import reconcile

        try:
            await reconcile(self.db)
        except Exception as exc:
            self.notify_error(exc)

    async def _watch_gpus(self) -> None:
        from ffui.gpu import probe_gpus, summary

        probe = self._gpu_probe or probe_gpus
        while True:
            state = await asyncio.to_thread(probe)
            self.gpu_state, self.gpu_summary = state, summary(state)
            if not state.gpus:
                return  # no driver or no GPU: that does not change while we run
            await asyncio.sleep(GPU_POLL_S)

    async def on_unmount(self) -> None:
        if self.db is not None:
            db, self.db = self.db, None
            await db.close()

    # -- errors --------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers (database, GPUs, reconcile): a failure is one line too."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify_error(event.worker.error)

    def notify_error(self, exc: BaseException) -> None:
        """One line for any failure, as a notice (``describe_error``)."""
        self.notify(self.describe_error(exc), severity="error", timeout=8, markup=False)

    def describe_error(self, exc: BaseException) -> str:
        """One line for any failure, as the CLI words it (``ffui.errors.user_message``): the
        message of errors users can fix, else 'internal error' with the traceback in
        HOME/ffui-crash.log, never on the screen."""
        return user_message(exc, self.paths.home, self.paths.db)

    def _handle_exception(self, error: Exception) -> None:
        """An exception nothing caught (a bug): exit with one line, the traceback in the crash log."""
        self.crash_message = f"ffui: {internal_error_message(error, self.paths.home)}"
        self._return_code = 1
        if self._exception is None:  # keeps run_test() re-raising it, as Textual does
            self._exception = error
            self._exception_event.set()
        self.panic(Text(self.crash_message))

    # -- modes and navigation ------------------------------------------------------------

    async def on_event(self, event) -> None:
        """Keys and pastes that come right behind a mode key wait for the mode's screen.

        The terminal delivers them before the switch has happened (the first visit builds the
        screen): they would go to the old screen and be lost, or a digit in a pasted token would
        switch modes again. They are held and then given to the new screen's focused field.
        """
        from textual import events

        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if self._held_input is not None:
                self._held_input.append(event)
                return
            if isinstance(event, events.Key) and self._is_mode_key(event.key):
                self._held_input = []
                self.set_timer(HOLD_INPUT_S, self._release_input)  # (never held longer, whatever happens)
        await super().on_event(event)

    def _is_mode_key(self, key: str) -> bool:
        from textual.widgets import Input, TextArea

        if isinstance(self.focused, (Input, TextArea)) or isinstance(self.screen, ModalScreen):
            return False  # (typed into the field, or a dialog's key)
        active = self.screen.active_bindings.get(key)
        return active is not None and active.node is self and active.binding.action.startswith("mode(")

    def _release_input(self) -> None:
        from textual import events

        held, self._held_input = self._held_input, None
        for event in held or ():
            self.post_message(events.Paste(event.text) if isinstance(event, events.Paste)
                              else events.Key(event.key, event.character))

    async def action_mode(self, mode: str) -> None:
        try:
            await self.wait_for_db()  # (only ever waits in the first ~0.1 s)
            if self.db is not None:
                await self.switch_mode(mode)
        finally:
            self.call_after_refresh(self._release_input)  # once the screen has its focus

    def open_run(self, run_id: int) -> None:
        """Show run ``run_id``: mode runs, with the run's screen on top of the list."""
        from screens.run_detail import RunDetailScreen

        self.switch_mode("runs")
        for screen in self.screen_stack[1:]:
            if isinstance(screen, RunDetailScreen) and screen.run_id == run_id:
                while self.screen is not screen:
                    self.pop_screen()
                return
        self.push_screen(RunDetailScreen(run_id))

    def open_evaluation(self, job_run_id: int) -> None:
        """Show evaluation job ``job_run_id``'s compare table and rows, above its run's screen."""
        from screens.eval_compare import EvalScreen

        self.push_screen(EvalScreen(job_run_id))

    async def show_train_config(self, hp: dict, origin: str | None = None) -> bool:
        """Switch to the Train form and give it a config; False if the form cannot take one
        or the user keeps the unsaved edits it has. ``origin`` ("run 3"): the config is a copy,
        a new unnamed config that is not saved yet."""
        await self.wait_for_db()  # the form reads its pickers from the database as it mounts
        current = self.mode_stack("train")
        incoming = f"{origin}'s config" if origin else "this config"
        if current and current[0].has_unsaved_changes() and not await self.confirm_replace_form(incoming):
            return False
        await self.switch_mode("train")
        form = self.get_screen_stack("train")[0]
        copy, load = getattr(form, "load_copy", None), getattr(form, "load_config", None)
        if load is None:
            self.notify("the Train form cannot load a config in this build", severity="warning")
            return False
        result = copy(hp, origin) if origin and copy else load(hp)
        if hasattr(result, "__await__"):
            await result
        return True

    async def confirm_replace_form(self, incoming: str) -> bool:
        """Ask before ``incoming`` ("run 5's config") replaces the Train form's unsaved edits."""
        from screens.widgets.modals import ConfirmModal

        answer: asyncio.Future = asyncio.get_running_loop().create_future()  # (works outside workers too)
        self.push_screen(ConfirmModal(
            "Replace the Train form?", f"The Train form has unsaved changes; {incoming} would replace them.",
            yes="Replace", no="Keep my edits", danger=True), lambda ok: answer.done() or answer.set_result(ok))
        if not await answer:
            self.notify("the Train form keeps its unsaved changes")
            return False
        return True

    async def chat_with_run(self, run_id: int) -> None:
        """The Playground with run ``run_id``'s adapter chosen (its base model loads)."""
        await self.wait_for_db()
        await self.switch_mode("playground")
        chat = getattr(self.get_screen_stack("playground")[0], "chat_with_run", None)
        if chat is None:
            self.notify("the Playground is not in this build", severity="warning")
            return
        await chat(run_id)

    def mode_stack(self, mode: str) -> list[Screen]:
        """A mode's screens, bottom first; empty if the mode has not been shown yet."""
        try:
            return self.get_screen_stack(mode)
        except KeyError:
            return []

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.screen))

    def unsaved_screens(self) -> list[str]:
        names = []
        for mode, title in MODE_NAMES.items():
            for screen in self.mode_stack(mode):
                check = getattr(screen, "has_unsaved_changes", None)
                try:
                    dirty = bool(check()) if check else False
                except Exception:
                    dirty = False
                if dirty:
                    names.append(title)
                    break
        return names

    async def action_quit(self) -> None:
        """Quit, asking first when a form has unsaved changes. Running jobs go on."""
        from screens.widgets.modals import ConfirmModal

        dirty = self.unsaved_screens()
        if not dirty:
            self.exit()
            return

        def answer(result) -> None:
            if result:
                self.exit()

        self.push_screen(ConfirmModal(
            "Quit ffui?",
            f"Unsaved changes in {', '.join(dirty)} will be lost.\nRunning jobs keep running either way.",
            yes="Quit", no="Stay", danger=True), answer)


def make_app(paths: Paths, **kw: Any) -> FfuiApp:
    """The app against ``paths`` (tests pass a temporary home, gpu_probe, reconcile=False...)."""
    return FfuiApp(paths, **kw)


def _not_a_database(path: Path) -> str | None:
    """A file that is plainly not SQLite is refused before the UI takes the terminal.

    Only the 16-byte header is read (no database is open in this process yet, so a second
    descriptor cannot drop anyone's locks); subtler problems (a newer schema, another
    program's tables) are reported by ``open_db`` as one line when the UI closes.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except (FileNotFoundError, IsADirectoryError):
        return None if not path.is_dir() else f"{path} is a directory, not a database file"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not head or head == b"SQLite format 3\x00":
        return None
    from ffui.db import DatabaseError, open_sync

    try:
        open_sync(path).close()  # for the data layer's own wording of the problem
    except DatabaseError as exc:
        return str(exc)
    return None


def run_app(paths: Paths) -> None:
    """Run the UI in this terminal until the user quits; errors end as one line on stderr."""
    problem = _not_a_database(paths.db)
    if problem:
        print(f"ffui: {problem}", file=sys.stderr)
        raise SystemExit(2)
    app = make_app(paths)
    app.run()
    if app.startup_error:  # (a crash has already printed its one line through panic)
        print(f"ffui: {app.startup_error}", file=sys.stderr)
    if app.return_code:
        raise SystemExit(app.return_code)
