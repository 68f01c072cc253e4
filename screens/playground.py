"""Playground (mode 4): chat with a base model and an adapter, or both side by side.

The model runs in a separate worker process (``python -m ffui.train.infer``) that this screen
starts when a model is first loaded and stops when the app exits; this process never imports
torch or transformers (``ffui.jobs.inference`` is the light asyncio client). Tokens stream in
as they are generated; escape stops a generation. With "compare" on, every prompt is answered
twice by the same loaded model, once with the adapter disabled (base) and once with it.
"""

from __future__ import annotations

import atexit
import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, Static

from screens.dataset_forms import PathInput, clean
from screens.widgets.base import FfuiScreen
from screens.widgets.modals import ChoiceModal
from screens.widgets.tick import Tick

NO_ADAPTER = "__none__"
FLUSH_S = 0.08  # redraw a streaming answer at most this often (slow links)


class Answer(Static):
    """One streaming answer: a header (who answers) and the text so far."""

    def __init__(self, who: str, label: str = "", **kw: Any) -> None:
        super().__init__("", **kw)
        self.who = who  # base | adapter
        self.label = label or who
        self.text = ""
        self.footer = "…"
        self.failed = False
        self._dirty = False
        self._last = 0.0

    def on_mount(self) -> None:
        self.redraw()

    def add(self, piece: str) -> None:
        self.text += piece
        now = time.monotonic()
        if now - self._last >= FLUSH_S:
            self.redraw()
        elif not self._dirty:
            self._dirty = True
            self.set_timer(FLUSH_S, self.redraw)

    def finish(self, footer: str, failed: bool = False) -> None:
        self.footer, self.failed = footer, failed
        self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        self._last = time.monotonic()
        t = Text()
        t.append(clean(self.label, one_line=True) + "\n", style="bold reverse" if self.who == "adapter" else "bold")
        t.append(clean(self.text) or (" " if self.footer == "…" else "(no text)"))
        t.append(f"\n{self.footer}", style="bold red" if self.failed else "dim")
        self.update(t)


class PlaygroundScreen(FfuiScreen):
    """Chat with a model and an adapter through the inference worker."""

    CSS_PATH = "playground.tcss"
    HELP = """Playground: chat with a base model and a trained adapter. Pick an adapter (or a run); its
base model is filled in (or type a model directory or hub id; ctrl+l picks a registered model,
enter loads it). Type a message and press enter: the answer streams in. ctrl+b compares: each
prompt is answered by the base model and by the adapter, side by side. Generation settings
(temperature, top_p, max new tokens, system prompt) apply to the next message. escape stops a
generation, or leaves a field (then the number keys switch modes; i or enter types again);
ctrl+n starts a new chat. The transcript scrolls with page up/page down, also while you type
(ctrl+home/ctrl+end: its start/end); after escape, the arrow keys scroll it too. The model runs in a separate worker process, stopped when ffui exits."""
    BINDINGS = [
        Binding("escape", "stop", "Stop/leave field", id="play.stop"),
        Binding("i", "focus_input", "Type", id="play.type"),
        Binding("enter", "focus_input", "Type", show=False, id="play.type_enter"),
        Binding("ctrl+b", "toggle_compare", "Compare", id="play.compare", priority=True),
        Binding("ctrl+n", "new_chat", "New chat", id="play.new", priority=True),
        Binding("ctrl+l", "pick_model", "Models", id="play.models", priority=True),
        # (the message field has no use for these: the transcript scrolls while you type)
        Binding("pageup", "scroll_chat('page_up')", "Scroll up", show=False, id="play.scroll_up"),
        Binding("pagedown", "scroll_chat('page_down')", "Scroll down", show=False, id="play.scroll_down"),
        Binding("ctrl+home", "scroll_chat('home')", "Transcript start", show=False, id="play.scroll_home"),
        Binding("ctrl+end", "scroll_chat('end')", "Transcript end", show=False, id="play.scroll_end"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mode_title = "Playground"
        self.worker_proc = None        # ffui.jobs.inference.InferenceWorker
        self.loaded_key: tuple | None = None
        self.messages: list[dict] = []
        self.adapters: dict[str, dict] = {}
        self.generating = False
        self.last_stats: dict | None = None
        self._load_worker = None
        self._loading_key: tuple | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        with Horizontal(classes="pg-row"):
            yield Label("adapter", classes="pg-label")
            yield Select([("none: the base model alone", NO_ADAPTER)], value=NO_ADAPTER, allow_blank=False,
                         id="pg-adapter", compact=True)
        with Horizontal(classes="pg-row"):
            yield Label("base", classes="pg-label")
            yield PathInput("", placeholder="model dir or hub id; enter loads, ctrl+l picks", id="pg-base",
                            compact=True)
        with Horizontal(classes="pg-row", id="pg-settings"):
            yield Label("temp", classes="pg-small-label")
            yield Input("0.7", id="pg-temperature", compact=True, classes="pg-num")
            yield Label("top_p", classes="pg-small-label")
            yield Input("0.9", id="pg-top-p", compact=True, classes="pg-num")
            yield Label("max new", classes="pg-small-label")
            yield Input("256", id="pg-max-new", compact=True, classes="pg-num")
            yield Tick("compare base/adapter", id="pg-compare", compact=True)
        with Horizontal(classes="pg-row"):
            yield Label("system", classes="pg-label")
            yield Input("", placeholder="system prompt (optional)", id="pg-system", compact=True)
        with VerticalScroll(id="pg-chat"):
            yield Static(Text("Pick an adapter or a base model, then type below. The model loads in a "
                              "separate process (the first load takes a few seconds).", style="dim"),
                         id="pg-hint")
        yield Static("", id="pg-status")
        with Horizontal(id="pg-input-row"):
            yield Label("you ›", classes="pg-label")
            yield Input("", placeholder="message; enter sends", id="pg-input", compact=True)

    def on_mount(self) -> None:
        self.load_choices()
        self.query_one("#pg-input", Input).focus()

    def on_screen_resume(self) -> None:
        self.load_choices()

    # -- choices ------------------------------------------------------------------------------

    @work(exclusive=True, group="choices", exit_on_error=False)
    async def load_choices(self) -> None:
        """Adapters (registered, and completed runs' adapters) with their base models."""
        from ffui.db import list_chat_choices

        db = await self.app.database()
        found = {choice["path"]: choice for choice in await list_chat_choices(db)}
        self.adapters = found
        sel = self.query_one("#pg-adapter", Select)
        keep = sel.value
        with self.prevent(Select.Changed):
            sel.set_options([("none: the base model alone", NO_ADAPTER)] +
                            [(clean(a["label"], one_line=True, limit=60), path) for path, a in found.items()])
            sel.value = keep if keep in found or keep == NO_ADAPTER else NO_ADAPTER

    def adapter_path(self) -> str | None:
        v = self.query_one("#pg-adapter", Select).value
        return None if v in (NO_ADAPTER, Select.NULL) else str(v)

    def base_model(self) -> str:
        return self.query_one("#pg-base", Input).value.strip()

    def select_adapter(self, path: str | None) -> None:
        """Choose an adapter (None: none); its base model goes in the base field; then load."""
        sel = self.query_one("#pg-adapter", Select)
        with self.prevent(Select.Changed):
            sel.value = path if path in self.adapters else NO_ADAPTER
        if path and path in self.adapters and self.adapters[path]["base"]:
            self.query_one("#pg-base", Input).value = self.adapters[path]["base"]
        self.ensure_loaded()

    async def chat_with_run(self, run_id: int) -> None:
        """Select the adapter of run ``run_id`` (for the Runs screen or the palette)."""
        await self.load_choices().wait()
        for path, a in self.adapters.items():
            if a.get("run_id") == run_id:
                self.select_adapter(path)
                return
        self.app.notify(f"run {run_id} has no adapter yet (it has not completed)", severity="warning")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "pg-adapter":
            path = self.adapter_path()
            if path and self.adapters.get(path, {}).get("base"):
                self.query_one("#pg-base", Input).value = self.adapters[path]["base"]
            self.ensure_loaded()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "pg-input":
            self.send(event.input.value)
        elif event.input.id == "pg-base":
            self.ensure_loaded()
            self.query_one("#pg-input", Input).focus()
        else:
            self.query_one("#pg-input", Input).focus()

    def action_pick_model(self) -> None:
        self.run_worker(self._pick_model(), group="pick", exit_on_error=False)

    async def _pick_model(self) -> None:
        from ffui.db import list_models

        choices = []
        for m in await list_models(self.app.db):
            target = m.get("location") or m.get("huggingface_model_name")
            if target:
                choices.append((clean(f"{m.get('name') or target}  {target}", one_line=True, limit=70), target))
        if not choices:
            self.app.notify("no registered models: type a model directory or hub id", severity="warning")
            return

        def picked(value: object | None) -> None:
            if value:
                self.query_one("#pg-base", Input).value = str(value)
                self.ensure_loaded()

        self.app.push_screen(ChoiceModal("Pick a base model", choices), picked)

    # -- the worker ---------------------------------------------------------------------------

    def _worker(self):
        if self.worker_proc is None:
            from ffui.jobs.inference import InferenceWorker

            log = None
            paths = getattr(self.app, "paths", None)
            if paths is not None:
                log = paths.training_outputs / ".inference.log"
            self.worker_proc = InferenceWorker(log_path=log)
            atexit.register(self.worker_proc.kill_now)  # last resort if the app dies abruptly
        return self.worker_proc

    def wanted(self) -> tuple[str, str | None]:
        return self.base_model(), self.adapter_path()

    def ensure_loaded(self):
        """Start loading what is selected unless it is loaded or loading; returns the load worker."""
        if not self.base_model():
            if self.adapter_path():
                self.set_status("this adapter's base model is not known: type it in the base field", error=True)
            return None
        want = self.wanted()
        if want == self.loaded_key:
            return None
        w = self._load_worker
        if w is not None and not w.is_finished and self._loading_key == want:
            return w
        self._loading_key = want
        self._load_worker = self.load_model()
        return self._load_worker

    @work(exclusive=True, group="load", exit_on_error=False)
    async def load_model(self) -> None:
        base, adapter = self.wanted()
        self.loaded_key = None
        self.set_status(f"loading {base}" + (" + adapter" if adapter else "") + " in the worker process…")
        try:
            info = await self._worker().load(base, adapter)
        except BaseException:
            self.set_status("no model loaded", error=True)
            raise
        self.loaded_key = (base, adapter)
        msg = f"loaded {info['base_model']}" + (f" + adapter {adapter}" if adapter else "") + f" on {info['device']}"
        if info.get("warning"):
            self.set_status(f"{msg} · warning: {info['warning']}", error=True)
        else:
            self.set_status(msg)

    async def _wait_loaded(self) -> bool:
        """Load what is selected if it is not loaded; False if that failed."""
        w = self.ensure_loaded()
        if w is not None:
            try:
                await w.wait()
            except Exception:
                return False
        return self.wanted() == self.loaded_key

    def settings(self) -> dict:
        """Generation settings from the inputs; raises ValueError with one line."""
        def num(wid: str, kind, lo, hi, name):
            raw = self.query_one(wid, Input).value.strip()
            try:
                v = kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if not (lo <= v <= hi):
                raise ValueError(f"{name} must be between {lo} and {hi}, got {raw}")
            return v
        return {"temperature": num("#pg-temperature", float, 0.0, 5.0, "temperature"),
                "top_p": num("#pg-top-p", float, 0.01, 1.0, "top_p"),
                "max_new_tokens": num("#pg-max-new", int, 1, 8192, "max new tokens"),
                "system": self.query_one("#pg-system", Input).value.strip() or None}

    # -- chatting -----------------------------------------------------------------------------

    def send(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if self.generating:
            self.set_status("still answering: escape stops it", error=True)
            return
        if not self.base_model():
            self.set_status("pick an adapter or a base model first (ctrl+l picks a registered model)", error=True)
            return
        try:
            settings = self.settings()
        except ValueError as e:
            self.set_status(str(e), error=True)
            return
        self.query_one("#pg-input", Input).value = ""
        self.generate(text, settings)

    @work(exclusive=True, group="generate", exit_on_error=False)
    async def generate(self, text: str, settings: dict) -> None:
        chat = self.query_one("#pg-chat", VerticalScroll)
        hint = self.query("#pg-hint")
        if hint:
            await hint.remove()
        user = Static(Text.assemble(("you ", "bold"), clean(text)), classes="pg-user")
        await chat.mount(user)
        self.messages.append({"role": "user", "content": text})
        compare = self.query_one("#pg-compare", Checkbox).value and self.adapter_path() is not None
        if compare:
            row = Horizontal(classes="pg-pair")
            await chat.mount(row)
            base_w = Answer("base", "base (adapter off)", classes="pg-answer")
            ad_w = Answer("adapter", self._adapter_label(), classes="pg-answer pg-right")
            await row.mount(base_w, ad_w)
            plan = [(base_w, False), (ad_w, True)]
        else:
            who = "adapter" if self.adapter_path() else "base"
            w = Answer(who, self._adapter_label() if who == "adapter" else "base", classes="pg-answer")
            await chat.mount(w)
            plan = [(w, self.adapter_path() is not None)]
        chat.scroll_end(animate=False)
        self.generating = True
        try:
            if not await self._wait_loaded():
                for w, _ in plan:
                    w.finish("no model loaded (see the status line)", failed=True)
                self.messages.pop()
                return
            answer = None
            for w, use_adapter in plan:
                self.set_status(f"{w.label} is answering… (escape stops)")
                try:
                    done = await self._stream(w, use_adapter, settings)
                except BaseException as e:
                    w.finish("stopped" if not isinstance(e, Exception) else "failed", failed=True)
                    raise
                answer = done.get("text", w.text)
                self.last_stats = done
            self.messages.append({"role": "assistant", "content": answer or ""})
            self.set_status("done · ctrl+b " + ("single answers" if compare else "base vs adapter") + " · ctrl+n new chat")
        except BaseException:
            if self.messages and self.messages[-1]["role"] == "user":
                self.messages.pop()  # an unanswered turn does not go back in
            raise
        finally:
            self.generating = False

    def _adapter_label(self) -> str:
        a = self.adapters.get(self.adapter_path() or "")
        return f"adapter: {a['label']}" if a else "adapter"

    async def _stream(self, w: Answer, use_adapter: bool, settings: dict) -> dict:
        chat = self.query_one("#pg-chat", VerticalScroll)
        done: dict = {}
        async for ev in self._worker().generate(list(self.messages), use_adapter=use_adapter, **settings):
            if "token" in ev:
                w.add(ev["token"])
                chat.scroll_end(animate=False)
            elif ev.get("done"):
                done = ev
        w.finish(f"{done.get('tokens', 0)} tokens · {done.get('tokens_per_s', 0)} tok/s"
                 + (" · stopped" if done.get("cancelled") else ""))
        return done

    def action_stop(self) -> None:
        """Stop the answer being generated; else leave the field (number keys switch modes)."""
        if self.generating:
            self.workers.cancel_group(self, "generate")
            self.generating = False
            self.set_status("stopped")
        elif isinstance(self.focused, (Input, Select)):
            self.query_one("#pg-chat", VerticalScroll).focus(scroll_visible=False)
            self.set_status("i (or enter) to type a message; 1-6 switch modes")

    def action_scroll_chat(self, where: str) -> None:
        chat = self.query_one("#pg-chat", VerticalScroll)
        getattr(chat, f"scroll_{where}")(animate=False)

    def action_focus_input(self) -> None:
        self.query_one("#pg-input", Input).focus()


    def action_toggle_compare(self) -> None:
        box = self.query_one("#pg-compare", Checkbox)
        box.value = not box.value
        if box.value and not self.adapter_path():
            self.set_status("compare needs an adapter: pick one above", error=True)

    def action_new_chat(self) -> None:
        self.action_stop()
        self.messages = []
        chat = self.query_one("#pg-chat", VerticalScroll)
        chat.remove_children()
        self.set_status("new chat")
        self.query_one("#pg-input", Input).focus()

    def set_status(self, text: str, error: bool = False) -> None:
        self.query_one("#pg-status", Static).update(Text(clean(text, one_line=True),
                                                         style="bold red" if error else "dim"))

    async def on_unmount(self) -> None:
        """The app is closing: stop the worker process (nothing is left behind)."""
        await self.stop_worker()

    async def stop_worker(self) -> None:
        proc, self.worker_proc = self.worker_proc, None
        if proc is not None:
            try:
                await proc.stop(timeout=2)
            finally:
                proc.kill_now()
                try:
                    atexit.unregister(proc.kill_now)
                except Exception:
                    pass
