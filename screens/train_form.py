"""Train (mode 3): the form that launches a training run.

Every hyperparameter input is generated from ``ffui.train.config.TrainConfig``'s fields (type,
default, one-line help), so a field added there appears here without a change: the common
ones first, the rest under "advanced". Values are checked with ``TrainConfig.from_dict`` as
they are typed, and each problem is shown beside the field it concerns. A peak-GPU-memory
estimate (``ffui.jobs.estimate``) follows the model, method, batch and sequence length.
Launch calls ``ffui.jobs.manager.start_run`` (as ``ffui train`` does) and opens the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import typing
from typing import Any, Literal, Union

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Collapsible, Input, Label, Select, Static

from ffui.runpod.options import POD_KEYS
from ffui.train.config import TrainConfig, parse_setting
from screens.dataset_forms import Field, FormModal, PathInput, clean
from screens.widgets.base import FfuiScreen
from screens.widgets.modals import ChoiceModal
from screens.widgets.tick import Tick

# shown first, in this order; every other TrainConfig field goes under "advanced"
COMMON = ("objective", "method", "lora_r", "lora_alpha", "learning_rate", "num_train_epochs", "max_steps",
          "per_device_train_batch_size", "gradient_accumulation_steps", "max_seq_len", "eval_split",
          "gradient_checkpointing", "packing", "precision", "num_gpu")
SPECIAL = ("base_model", "prompt_template")  # set by the model and prompt pickers
ESTIMATE_KEYS = {"method", "per_device_train_batch_size", "max_seq_len", "precision", "lora_r",
                 "target_modules", "gradient_checkpointing", "num_gpu"}
NO_PROMPT = "__none__"
CUSTOM_PROMPT = "__custom__"
NO_DATASET = -1
GiB = 1024 ** 3


@dataclasses.dataclass
class HpField:
    name: str
    kind: str             # int | float | str | bool | choice | list
    default: Any
    help: str
    choices: tuple = ()
    nullable: bool = False


def hp_fields() -> list[HpField]:
    """The form's fields, from TrainConfig: common ones first, then the rest in declared order."""
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    out = []
    for f in dataclasses.fields(TrainConfig):
        if f.name in SPECIAL:
            continue
        tp = hints[f.name]
        nullable = False
        args = typing.get_args(tp)
        if typing.get_origin(tp) is Union:
            nullable = type(None) in args
            rest = [a for a in args if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]
            args = typing.get_args(tp)
        if typing.get_origin(tp) is Literal:
            kind, choices = "choice", args
        elif typing.get_origin(tp) is Union:
            kind, choices = "list", ()  # str or list[str]: target_modules
        else:
            kind = {bool: "bool", int: "int", float: "float"}.get(tp, "str")
            choices = ()
        out.append(HpField(f.name, kind, getattr(defaults, f.name), f.metadata.get("help", ""), choices, nullable))
    order = {n: i for i, n in enumerate(COMMON)}
    return sorted(out, key=lambda h: (0, order[h.name]) if h.name in order else (1, 0))


def to_text(field: HpField, value: Any) -> str:
    if value is None:
        return ""
    if field.kind == "list" and isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_value(field: HpField, raw: Any) -> Any:
    """The typed value of an input (TrainConfig's one parser of a setting's text); raises
    ValueError with what is wrong."""
    if field.kind == "bool":
        return bool(raw)
    if field.kind == "choice":
        return raw
    if field.kind == "str" and not field.nullable:
        return str(raw).strip()
    return parse_setting(field.name, str(raw))


def preference_note(layout) -> str | None:
    """What the sample line says of a preference dataset: it needs a preference objective."""
    from ffui.data.preference_layout import preference_fields

    fields = preference_fields(layout)
    if "rejected" in fields:
        return "preference data (chosen/rejected): set objective to dpo, orpo or simpo (sft would train the rejected replies)"
    if "label" in fields:
        return "preference data (completions labelled good or bad): set objective to kto"
    return None


def problems_by_field(problems: list[str], names: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Each problem beside every field it names (whole word); the rest are general."""
    by: dict[str, list[str]] = {}
    general = []
    for p in problems:
        hit = [n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", p)]
        if "nothing to train" in p:
            hit = ["max_steps", "num_train_epochs"]
        for n in hit:
            by.setdefault(n, []).append(p)
        if not hit:
            general.append(p)
    return by, general


SHOWN_PROBLEMS = 3  # lines under the form; the rest are counted (each is beside its field too)


def problems_text(problems: list[str]) -> Text:
    """Every problem, one per line (the count first), or the line saying the form is ready."""
    if not problems:
        return Text("ready: ctrl+r launches · ctrl+s saves the config", style="green")
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: "
    lines = [count + problems[0]] + [" " * len(count) + p for p in problems[1:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines[-1] += f"  (+{len(problems) - SHOWN_PROBLEMS} more, each beside its field)"
    return Text("\n".join(clean(line, one_line=True) for line in lines), style="bold red")


def gpu_dicts(state: Any) -> list[dict] | None:
    """The app's GpuState as the estimate wants it; None while not yet detected."""
    if state is None:
        return None
    return [{"name": g.name, "memory_total": (g.mem_total_mb or 0) * 2 ** 20} for g in getattr(state, "gpus", [])]


class TrainScreen(FfuiScreen):
    """The training form; ctrl+r launches."""

    CSS_PATH = "train_form.tcss"
    AUTO_FOCUS = "#tr-preset"  # the first field, highlighted; digits still switch modes from a picker
    HELP = """The Train form. Pick a preset (auto chooses from the GPU memory), a model (type a path or
hub id, or ctrl+l to pick a registered one), a dataset and optionally a prompt template (its
rendered sample shows below). Every hyperparameter is here: the common ones first, the rest
under "advanced" (enter on it opens it). A problem shows beside its field; the bottom lines
show the peak GPU memory estimate against the detected GPUs. ctrl+r launches the run and opens
it; ctrl+s saves the config by name, ctrl+a saves it under a new name, ctrl+o loads one.
escape leaves a field, so the number keys switch modes again."""
    BINDINGS = [
        Binding("ctrl+r", "launch", "Launch", id="train.launch", priority=True),
        Binding("ctrl+s", "save", "Save", id="train.save", priority=True),
        Binding("ctrl+a", "save_as", "Save as", id="train.save_as", priority=True),
        Binding("ctrl+o", "load", "Load", id="train.load", priority=True),
        Binding("ctrl+l", "pick_model", "Models", id="train.models", priority=True),
        Binding("escape", "blur", "Leave field", show=False, id="train.blur"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mode_title = "Train"
        self.fields = hp_fields()
        self.by_name = {f.name: f for f in self.fields}
        self.config_name: str | None = None
        self.copied_from: str | None = None  # "run 3": a copy not saved yet (never under another's name)
        self.custom_prompt: dict | None = None
        self.pod_wanted: dict = {}  # a loaded config's RunPod choices (gpu, gpu_fallback, ...): kept for launch and save
        self.problems: dict[str, list[str]] = {}
        self.general_problems: list[str] = []
        self.estimate_line = ""
        self.fit_line = ""
        self.verdict = ""
        self.launched: dict | None = None
        self._baseline: dict | None = None
        self._ready = False
        self._pending_hp: dict | None = None
        self._timer = None
        self._shape_cache: dict[str, Any] = {}
        self.datasets: list[dict] = []
        self.model_problem: str | None = None
        self.prompt_options: list[tuple[str, Any]] = [("none: the dataset's own format", NO_PROMPT)]

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        from ffui.jobs.presets import PRESET_ORDER, PRESETS

        yield from self.compose_chrome()
        with Horizontal(id="tr-top"):
            yield Label("Preset", classes="tr-top-label")
            yield Select([("auto (from GPU memory)" if p == "auto" else PRESETS[p]["label"], p) for p in PRESET_ORDER],
                         prompt="choose a preset", id="tr-preset", compact=True)
            yield Static("", id="tr-config")
        yield Static("", id="tr-preset-about")
        with VerticalScroll(id="tr-form", can_focus=False):  # (tab goes field to field; no invisible stop)
            with Horizontal(classes="tr-row"):
                yield Label("run name", classes="tr-label")
                yield Input("", placeholder="(model-dataset)", id="tr-name", compact=True)
            with Horizontal(classes="tr-row"):
                yield Label("model", classes="tr-label")
                yield PathInput("", placeholder="model dir or org/name", id="tr-model", compact=True)
                yield Button("models…", id="tr-model-pick", compact=True)
            yield Static("", id="tr-model-why", classes="tr-why-line")
            with Horizontal(classes="tr-row"):
                yield Label("dataset", classes="tr-label")
                yield Select([], prompt="no datasets yet", id="tr-dataset", compact=True)
            with Horizontal(classes="tr-row"):
                yield Label("prompt template", classes="tr-label")
                yield Select([("none: the dataset's own format", NO_PROMPT)], value=NO_PROMPT, allow_blank=False,
                             id="tr-prompt", compact=True)
            with Horizontal(classes="tr-row"):
                yield Label("run on", classes="tr-label")
                yield Select([("this machine", "local"), ("RunPod", "runpod")], value="local", allow_blank=False,
                             id="tr-where", compact=True)
                yield Select([], prompt="GPU type", id="tr-pod-gpu", compact=True, classes="tr-runpod")
            yield Static("", id="tr-where-why", classes="tr-why-line")
            yield Static("", id="tr-sample")
            yield Static(Text("common settings", style="bold"), classes="tr-section")
            for f in self.fields:
                if f.name in COMMON:
                    yield self._row(f)
            with Collapsible(title="advanced (every other setting)", collapsed=True, id="tr-advanced"):
                for f in self.fields:
                    if f.name not in COMMON:
                        yield self._row(f)
        with Vertical(id="tr-bottom"):
            yield Static("", id="tr-estimate")
            yield Static("", id="tr-fit")
            yield Static("", id="tr-problems")

    def _row(self, f: HpField) -> Horizontal:
        wid = f"hp-{f.name}"
        if f.kind == "bool":
            w = Tick("", value=bool(f.default), id=wid, compact=True)
        elif f.kind == "choice":
            w = Select([(str(c), c) for c in f.choices], value=f.default, allow_blank=False, id=wid, compact=True)
        else:
            w = Input(to_text(f, f.default), placeholder="null" if f.nullable else "", id=wid, compact=True)
        w.tooltip = f.help
        why = Static(Text(clean(f.help, one_line=True), style="dim"), id=f"why-{f.name}", classes="tr-why")
        return Horizontal(Label(f.name, classes="tr-label"), w, why, classes="tr-row")

    def on_mount(self) -> None:
        self.watch(self.app, "gpu_state", lambda _: self.schedule_check(), init=False)
        self.load_choices()

    def on_screen_resume(self) -> None:
        if self._ready:
            self.load_choices()

    @work(exclusive=True, group="choices", exit_on_error=False)
    async def load_choices(self) -> None:
        """Datasets and prompts for the pickers (they change in other modes)."""
        from ffui.data import store

        db = await self.app.database()
        self.datasets = await store.list_datasets(db)
        prompts = await store.list_prompts(db)
        ds = self.query_one("#tr-dataset", Select)
        keep = ds.value
        with self.prevent(Select.Changed):
            ds.set_options([(clean(f"{d['name']} ({d['rows']:,} rows, {d['format']})", one_line=True), d["id"])
                            for d in self.datasets])
            ids = [d["id"] for d in self.datasets]
            if keep in ids:
                ds.value = keep
            elif ids:
                ds.value = ids[-1]
            pr = self.query_one("#tr-prompt", Select)
            pkeep = pr.value
            options = [("none: the dataset's own format", NO_PROMPT)]
            if self.custom_prompt:
                options.append(("custom (from the loaded config)", CUSTOM_PROMPT))
            options += [(clean(f"{p['name']}" + (f" (for {p['dataset']})" if p.get("dataset") else ""),
                               one_line=True), p["name"]) for p in prompts]
            self.prompt_options = options
            pr.set_options(options)
            pr.value = pkeep if pkeep in [o[1] for o in options] else NO_PROMPT
        if not self._ready:
            self._ready = True
            if self._pending_hp is not None:
                hp, self._pending_hp = self._pending_hp, None
                self._fill(hp)
            self._baseline = self.snapshot()
        self.schedule_check()
        self.update_sample()

    # -- values -------------------------------------------------------------------------------

    def raw_values(self) -> dict[str, Any]:
        out = {}
        for f in self.fields:
            w = self.query_one(f"#hp-{f.name}")
            out[f.name] = w.value
        return out

    def hp_values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(typed hyperparameters, parse problems by field)."""
        hp: dict[str, Any] = {}
        bad: dict[str, str] = {}
        for name, raw in self.raw_values().items():
            try:
                hp[name] = parse_value(self.by_name[name], raw)
            except ValueError as e:
                bad[name] = f"{name} {e}"
        return hp, bad

    def model_text(self) -> str:
        return self.query_one("#tr-model", Input).value.strip()

    def snapshot(self) -> dict:
        return {"hp": self.raw_values(), "model": self.model_text(), "name": self.query_one("#tr-name", Input).value,
                "dataset": self.query_one("#tr-dataset", Select).value, "prompt": self.query_one("#tr-prompt", Select).value,
                "where": self.query_one("#tr-where", Select).value}

    def has_unsaved_changes(self) -> bool:
        if self.copied_from is not None:
            return True
        return self._ready and self._baseline is not None and self.snapshot() != self._baseline

    def full_config(self) -> dict:
        """The config as saved or launched: every hyperparameter, the model, the prompt template."""
        hp, _ = self.hp_values()
        hp["base_model"] = self.model_text()
        prompt = self.query_one("#tr-prompt", Select).value
        if prompt == CUSTOM_PROMPT and self.custom_prompt:
            hp["prompt_template"] = dict(self.custom_prompt)
        return hp

    def launch_choices(self) -> tuple[str, dict, str | None]:
        """(model, settings, saved prompt's name): what a launch starts a run with, and what a
        dataset row's "as trained" view renders with."""
        cfg = self.full_config()
        model = cfg.pop("base_model")
        prompt = self.query_one("#tr-prompt", Select).value
        return model, cfg, None if prompt in (NO_PROMPT, CUSTOM_PROMPT, Select.NULL) else str(prompt)

    # -- filling ------------------------------------------------------------------------------

    def _fill(self, hp: dict) -> list[str]:
        """Put a config's values into the form; returns the keys it did not know."""
        unknown = []
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for key, value in hp.items():
                if key == "base_model":
                    self.query_one("#tr-model", Input).value = str(value or "")
                elif key == "prompt_template":
                    self.custom_prompt = value if isinstance(value, dict) else None
                elif key == "on":
                    self.query_one("#tr-where", Select).value = "runpod" if value == "runpod" else "local"
                elif key in POD_KEYS:
                    self.pod_wanted[key] = value
                elif key in self.by_name:
                    f = self.by_name[key]
                    w = self.query_one(f"#hp-{key}")
                    if f.kind == "bool":
                        w.value = bool(value)
                    elif f.kind == "choice":
                        if value in f.choices:
                            w.value = value
                    else:
                        w.value = to_text(f, value)
                else:
                    unknown.append(key)
        if "prompt_template" in hp:
            self._set_custom_prompt_option()
        if "on" in hp:
            self.show_where()
        self.schedule_check()
        return unknown

    def _set_custom_prompt_option(self) -> None:
        pr = self.query_one("#tr-prompt", Select)
        options = [(label, v) for label, v in self.prompt_options if v != CUSTOM_PROMPT]
        if self.custom_prompt:
            options.insert(1, ("custom (from the loaded config)", CUSTOM_PROMPT))
        self.prompt_options = options
        with self.prevent(Select.Changed):
            pr.set_options(options)
            pr.value = CUSTOM_PROMPT if self.custom_prompt else NO_PROMPT
        self.update_sample()

    def load_config(self, hp: dict) -> None:
        """Fill the form from a run's (or a saved) config; the Runs screen's duplicate calls this."""
        hp = dict(hp or {})
        if not self._ready:
            self._pending_hp = hp
            return
        self.copied_from = None
        self.pod_wanted = {}
        self.query_one("#tr-pod-gpu", Select).clear()  # this config's GPU, not the one picked before
        unknown = self._fill(hp)
        self._baseline = self.snapshot()
        if unknown:
            self.app.notify(f"ignored keys this ffui does not know: {', '.join(unknown)}", severity="warning")

    def load_copy(self, hp: dict, origin: str) -> None:
        """``origin``'s config (a run's) as a new, unnamed, unsaved config: ctrl+s asks for a
        name instead of overwriting the saved config loaded before, and quitting asks first."""
        self.load_config(hp)
        self.config_name, self.copied_from = None, origin
        self.update_config_label()

    def set_model(self, model: str) -> None:
        """Put ``model`` in the model field (the command palette's 'Train model ...')."""
        if not self._ready:
            self._pending_hp = {**(self._pending_hp or {}), "base_model": model}
            return
        self.query_one("#tr-model", Input).value = model

    def apply_preset(self, name: str) -> None:
        from ffui.jobs.presets import preset_values

        gpus = gpu_dicts(getattr(self.app, "gpu_state", None)) or []
        values, about = preset_values(name, gpus)
        self._fill(values)
        self.query_one("#tr-preset-about", Static).update(Text(clean(about, one_line=True), style="dim"))

    # -- events -------------------------------------------------------------------------------

    def on_select_changed(self, event: Select.Changed) -> None:
        sid = event.select.id or ""
        if sid == "tr-preset":
            if event.value is not Select.NULL:
                self.apply_preset(str(event.value))
        elif sid in ("tr-dataset", "tr-prompt"):
            self.update_sample()
        elif sid == "tr-where":
            self.show_where()
        self.schedule_check()

    def show_where(self) -> None:
        """The GPU type picker (RunPod's types, asked for) when the run is to be on RunPod."""
        on_pod = self.query_one("#tr-where", Select).value == "runpod"
        self.query_one("#tr-pod-gpu").display = on_pod
        if on_pod:
            self.load_pod_gpus()
        else:
            self.query_one("#tr-where-why", Static).update("")

    def placement(self) -> dict:
        """Where the run trains, as a config carries it (``on``, ``gpu`` and the rest kept from the
        loaded config); {} for this machine."""
        if self.query_one("#tr-where", Select).value != "runpod":
            return {}
        gpu = self.query_one("#tr-pod-gpu", Select).value
        return {**self.pod_wanted, "on": "runpod", **({"gpu": str(gpu)} if gpu is not Select.NULL else {})}

    @work(exclusive=True, group="pod-gpus", exit_on_error=False)
    async def load_pod_gpus(self) -> None:
        """RunPod's GPU types and their $/hr, asked off the UI thread (the SDK blocks)."""
        import asyncio

        from ffui.runpod.api import RunPodError, account

        why = self.query_one("#tr-where-why", Static)
        why.update(Text("asking RunPod for its GPU types…", style="dim"))
        try:
            gpus = await asyncio.to_thread((await account(self.app.db)).gpu_types)
        except RunPodError as exc:
            why.update(Text(str(exc), style="red"))
            return
        pick = self.query_one("#tr-pod-gpu", Select)
        options = [(f"{g['id']}  {g.get('memoryInGb') or '?'} GB  "
                    + (f"${float(g['securePrice'] or g['communityPrice']):.2f}/hr"
                       if g.get("securePrice") or g.get("communityPrice") else "no price"), g["id"])
                   for g in sorted(gpus, key=lambda g: (g.get("securePrice") or g.get("communityPrice") or 99))]
        wanted = pick.value if pick.value is not Select.NULL else self.pod_wanted.get("gpu")  # the user's pick stays
        if wanted and wanted not in [v for _, v in options]:
            options.insert(0, (f"{wanted}  (from the config; RunPod lists none now)", wanted))
        pick.set_options(options)
        if options:
            pick.value = wanted or options[0][1]
        why.update(Text("the run trains in a RunPod pod; its adapter comes home (see README: Training on RunPod)",
                        style="dim"))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.schedule_check(model_changed=event.input.id == "tr-model")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.schedule_check()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "tr-model-pick":
            event.stop()
            self.action_pick_model()

    def on_descendant_focus(self, event) -> None:
        w = event.widget
        wid = getattr(w, "id", "") or ""
        if wid.startswith("hp-"):
            name = wid[3:]
            f = self.by_name.get(name)
            if f:
                probs = self.problems.get(name)
                text = probs[0] if probs else f"{name}: {f.help} (default {to_text(f, f.default) or 'null'})"
                self.query_one("#tr-problems", Static).update(Text(clean(text, one_line=True),
                                                                   style="bold red" if probs else "dim"))

    # -- checking -----------------------------------------------------------------------------

    def schedule_check(self, model_changed: bool = False) -> None:
        """Validate (and re-estimate) shortly after the last keystroke."""
        if not self._ready:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.15, self.check)

    def check(self) -> list[str]:
        """Validate the form; show each problem beside its field. Returns every problem."""
        hp, bad = self.hp_values()
        hp["base_model"] = self.model_text()
        good = {k: v for k, v in hp.items() if k not in bad}
        # checked with the parse failures left at their defaults, so the other problems show too
        problems = []
        try:
            TrainConfig.from_dict(good)
        except Exception as e:  # ConfigError: one line per problem
            problems = list(getattr(e, "problems", [str(e)]))
        problems = list(bad.values()) + problems
        names = [f.name for f in self.fields] + ["base_model"]
        by, general = problems_by_field(problems, names)
        if not self.datasets:
            general.append("no dataset: import one first (mode 2)")
        if self.model_problem and hp["base_model"]:
            by.setdefault("base_model", []).append(self.model_problem)
        self.problems, self.general_problems = by, general
        for f in self.fields:
            why = self.query_one(f"#why-{f.name}", Static)
            if f.name in by:
                why.update(Text(clean(by[f.name][0], one_line=True), style="bold red"))
                why.add_class("-problem")
            else:
                why.update(Text(clean(f.help, one_line=True), style="dim"))
                why.remove_class("-problem")
        model_why = self.query_one("#tr-model-why", Static)
        if "base_model" in by and self.model_text():
            model_why.update(Text(clean(by["base_model"][0], one_line=True), style="bold red"))
        every = list(dict.fromkeys(general + [p for v in by.values() for p in v]))  # (one naming 2 fields: once)
        self.query_one("#tr-problems", Static).update(problems_text(every))
        self.update_config_label()
        self.estimate(good)
        return every

    def update_config_label(self) -> None:
        name = self.config_name or (f"copy of {self.copied_from}" if self.copied_from else "unsaved config")
        dirty = " *" if self.has_unsaved_changes() else ""
        self.query_one("#tr-config", Static).update(Text(clean(f"{name}{dirty}", one_line=True), style="dim"))

    @work(exclusive=True, group="estimate", exit_on_error=False)
    async def estimate(self, hp: dict) -> None:
        """Peak GPU memory for the model and settings, against the detected GPUs."""
        from ffui.jobs.estimate import compare_with_gpus, estimate_memory, read_model_shape

        model = (hp.get("base_model") or "").strip()
        est_w = self.query_one("#tr-estimate", Static)
        fit_w = self.query_one("#tr-fit", Static)
        model_why = self.query_one("#tr-model-why", Static)
        if not model:
            est_w.update(Text("memory estimate: pick a model first", style="dim"))
            fit_w.update("")
            model_why.update(Text("ctrl+l picks a registered model; or type a directory or hub id", style="dim"))
            return
        target, why = await self._resolve_model(model)
        problem = why if target is None else None
        if problem != self.model_problem:
            self.model_problem = problem
            self.schedule_check()
        if "base_model" not in self.problems:
            model_why.update(Text(clean(why, one_line=True), style="bold red" if target is None else "dim"))
        if target is None:
            est_w.update(Text("memory estimate: no model to measure", style="dim"))
            fit_w.update("")
            return
        if target not in self._shape_cache:
            self._shape_cache[target] = await asyncio.to_thread(read_model_shape, target)
        shape = self._shape_cache[target]
        if shape is None:
            est_w.update(Text("memory estimate: unknown (no local config.json and no size in the name)", style="dim"))
            fit_w.update("")
            return
        d = TrainConfig()
        try:
            est = estimate_memory(shape, method=hp.get("method", d.method),
                                  batch=int(hp.get("per_device_train_batch_size", d.per_device_train_batch_size)),
                                  seq_len=int(hp.get("max_seq_len", d.max_seq_len)),
                                  precision=hp.get("precision", d.precision), lora_r=int(hp.get("lora_r", d.lora_r)),
                                  target_modules=hp.get("target_modules", d.target_modules),
                                  gradient_checkpointing=bool(hp.get("gradient_checkpointing")))
        except (TypeError, ValueError):
            return
        self.estimate_line = est.summary()
        note = f"; {est.notes[0]}" if est.notes else ""
        est_w.update(Text(clean(self.estimate_line + note, one_line=True)))
        gpus = gpu_dicts(getattr(self.app, "gpu_state", None))
        if gpus is None:
            self.verdict, self.fit_line = "", "detecting GPUs…"
        else:
            self.verdict, self.fit_line = compare_with_gpus(est, gpus, int(hp.get("num_gpu", 1) or 0))
        style = {"fits": "green", "tight": "yellow", "too-big": "bold red"}.get(self.verdict, "dim")
        fit_w.update(Text(clean(self.fit_line, one_line=True), style=style))

    async def _resolve_model(self, model: str) -> tuple[str | None, str]:
        """(what the trainer would load, a line about it) without touching the network."""
        from ffui.jobs.errors import JobError
        from ffui.jobs.manager import resolve_model

        try:
            target, model_id = await resolve_model(self.app.db, model)
        except JobError as e:
            return None, str(e)
        exists = await asyncio.to_thread(lambda: __import__("os").path.isdir(target))
        if exists:
            if model_id:
                return target, f"registered model: {target}"
            return target, "local model directory"
        return target, f"hub id {target}: must be downloaded already (no network from here)"

    @work(exclusive=True, group="sample", exit_on_error=False)
    async def update_sample(self) -> None:
        """Render the chosen prompt template on the dataset's first row."""
        from ffui.data import store
        from ffui.data.prompts import render_prompt

        w = self.query_one("#tr-sample", Static)
        ds = self.query_one("#tr-dataset", Select).value
        prompt = self.query_one("#tr-prompt", Select).value
        if ds is Select.NULL or ds is None:
            w.update(Text("no dataset yet: import one in Datasets (2)", style="dim"))
            return
        try:
            if prompt in (NO_PROMPT, Select.NULL):
                rows = await store.page(self.app.db, int(ds), limit=1)
                if not rows:
                    w.update(Text("the dataset has no rows", style="dim"))
                    return
                r = rows[0]
                preference = preference_note(store.session_layout(await store.resolve(self.app.db, int(ds))))
                if preference:
                    w.update(Text(preference, style="bold"))
                    return
                if r.get("messages"):
                    first = next((m for m in r["messages"] if m.get("role") == "user"), r["messages"][0])
                    text = f"chat rows train as conversations (the model's chat template); first: {first.get('content', '')}"
                else:
                    text = f"input: {r.get('input') or ''} → output: {r.get('output') or ''}"
                w.update(Text(clean(text, one_line=True, limit=300), style="dim"))
                return
            if prompt == CUSTOM_PROMPT and self.custom_prompt:
                session = await store.resolve(self.app.db, int(ds))
                from ffui.data.formats import record_fields

                rows = await store.page(self.app.db, int(ds), limit=1)
                if not rows:
                    return
                r = render_prompt(self.custom_prompt, record_fields(rows[0], store.session_layout(session)))
            else:
                rendered = await store.render_prompt_samples(self.app.db, str(prompt), dataset=int(ds), n=1)
                if not rendered:
                    w.update(Text("the dataset has no rows", style="dim"))
                    return
                r = rendered[0]
        except Exception as e:  # a template naming a missing field: say so where the sample goes
            w.update(Text(clean(f"template problem: {e}", one_line=True), style="bold red"))
            return
        sample = Text()
        sample.append("sample: ", style="bold")
        sample.append(clean(r["input"], limit=200))
        sample.append(clean(r["completion"], limit=200), style="reverse")
        w.update(sample)

    # -- actions ------------------------------------------------------------------------------

    def action_blur(self) -> None:
        """Leave the field (the number keys switch modes again); the form keeps its place."""
        self.set_focus(None, scroll_visible=False)

    def action_pick_model(self) -> None:
        self.run_worker(self._pick_model(), group="pick", exit_on_error=False)

    async def _pick_model(self) -> None:
        from ffui.db import list_models, recent_base_models

        rows = await list_models(self.app.db)
        recent = await recent_base_models(self.app.db, 20)
        choices: list[tuple[str, object]] = []
        seen = set()
        for r in rows:
            target = r.get("location") or r.get("huggingface_model_name")
            if not target or target in seen:
                continue
            seen.add(target)
            choices.append((clean(f"{r.get('name') or target}  {target}", one_line=True, limit=70), target))
        for base in recent:
            if base not in seen:
                seen.add(base)
                choices.append((clean(f"{base}  (used by a run)", one_line=True, limit=70), base))
        if not choices:
            self.app.notify("no registered models yet: type a model directory or hub id (ffui model tiny DIR "
                            "builds a test model)", severity="warning")
            self.query_one("#tr-model", Input).focus()
            return
        def picked(value: object | None) -> None:
            if value:
                self.query_one("#tr-model", Input).value = str(value)

        self.app.push_screen(ChoiceModal("Pick a model", choices), picked)

    def action_launch(self) -> None:
        if not self._ready:
            return
        problems = self.check()
        if problems:
            self.app.notify(clean(f"fix {len(problems)} problem{'s' if len(problems) > 1 else ''} first: "
                                  f"{problems[0]}", one_line=True), severity="error", markup=False)
            self._focus_problem()
            return
        self.launch()

    def _focus_problem(self) -> None:
        if "base_model" in self.problems:
            self.query_one("#tr-model", Input).focus()
            return
        for f in self.fields:
            if f.name in self.problems:
                if f.name not in COMMON:
                    self.query_one("#tr-advanced", Collapsible).collapsed = False
                w = self.query_one(f"#hp-{f.name}")
                self.call_after_refresh(w.focus)
                return

    @work(exclusive=True, group="launch", exit_on_error=False)
    async def launch(self) -> None:
        from ffui.jobs.manager import start_run

        model, cfg, prompt = self.launch_choices()
        ds = self.query_one("#tr-dataset", Select).value
        name = self.query_one("#tr-name", Input).value.strip() or None
        metadata = None
        if self.query_one("#tr-where", Select).value == "runpod":
            from ffui.runpod.options import run_metadata

            from ffui.runpod.options import pod_choices

            self.query_one("#tr-problems", Static).update(Text("launching… (checking the RunPod key)"))
            metadata = await run_metadata(self.app.db, **pod_choices(self.placement()))
        self.query_one("#tr-problems", Static).update(Text("launching… (writing the run's dataset file)"))
        try:
            run = await start_run(self.app.db, dataset=int(ds), model=model, hp=cfg, name=name, prompt=prompt,
                                  metadata=metadata)
        except Exception:
            self.check()  # the refusal is the worker's notification; "launching…" must not stay
            raise
        self.launched = run
        self.copied_from = None
        self._baseline = self.snapshot()
        state = "started" if run["status"] == "running" else run["status"]
        self.app.notify(f"run {run['id']} {run['name']} {state}", markup=False)
        self.check()
        opener = getattr(self.app, "open_run", None)
        if opener is not None:
            opener(run["id"])

    def action_save(self) -> None:
        if self.config_name:
            self.save(self.config_name)
        else:
            self.action_save_as()

    def action_save_as(self) -> None:
        def go(v: dict | None) -> None:
            if v and v.get("name"):
                self.save(v["name"])

        self.app.push_screen(FormModal("Save the training config as", [
            Field("name", "Name:", value=self.config_name or "", required=True,
                  help="an existing name is replaced")], submit="Save"), go)

    @work(exclusive=True, group="save", exit_on_error=False)
    async def save(self, name: str) -> None:
        from ffui.db import save_training_config

        cfg = {**self.full_config(), **self.placement()}
        await save_training_config(self.app.db, name, {"hp": cfg})
        self.config_name, self.copied_from = name, None
        self._baseline = self.snapshot()
        self.update_config_label()
        self.app.notify(f"saved config {name}", markup=False)

    def action_load(self) -> None:
        self.run_worker(self._load(), group="pick", exit_on_error=False)

    async def _load(self) -> None:
        from ffui.db import list_training_configs

        rows = await list_training_configs(self.app.db)
        if not rows:
            self.app.notify("no saved configs yet: ctrl+s saves this one", severity="warning")
            return
        choices = [(clean(f"{r['name']}  ({r.get('updated_at') or r.get('created_at') or ''})", one_line=True),
                    r["name"]) for r in rows]
        def picked(name: object | None) -> None:  # (once the list has closed: a dialog may follow)
            if name:
                row = next(r for r in rows if r["name"] == name)
                self.run_worker(self._load_saved(str(name), row["config"]), group="pick", exit_on_error=False)

        self.app.push_screen(ChoiceModal("Load a saved config", choices), picked)

    async def _load_saved(self, name: str, cfg: dict) -> None:
        if self.has_unsaved_changes() and not await self.app.confirm_replace_form(f"the saved config {name}"):
            return
        from ffui.db import config_settings

        self.load_config(config_settings(cfg))
        self.config_name = name
        self.update_config_label()
        self.app.notify(f"loaded config {name}", markup=False)


def config_json(cfg: dict) -> str:
    return json.dumps(cfg, indent=2, sort_keys=True)
