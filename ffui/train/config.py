"""The trainer's configuration: every key of RUN_DIR/config.json, its default and meaning.

This module is imported by the light CLI/UI process to validate configs, so it must not
import torch or transformers. `TrainConfig.from_dict` rejects unknown keys and invalid
values with one line per problem; `parse_setting` is the one reader of a setting written as
text (``--set``, config files, the Train form); `build_training_arguments` (ffui.train.plan) maps a
config onto the TrainingArguments / LoraConfig / data-pipeline settings the trainer uses.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from ffui.bounded import brief
from ffui.errors import FfuiError

Method = Literal["lora", "qlora", "full"]
Backend = Literal["auto", "unsloth", "peft", "cpu"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
Distributed = Literal["ddp", "fsdp", "deepspeed"]
Objective = Literal["sft", "pretrain", "dpo", "orpo", "simpo", "kto"]
# transformers' SchedulerType values that need no extra kwargs (kept here so validation
# does not have to import transformers)
Scheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
    "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay",
]
PROMPT_TEMPLATE_KEYS = ("prompt_template", "input_template", "completion_template")
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
REPORT_TARGETS = ("tensorboard", "wandb", "mlflow")  # transformers' report_to names ffui sets up (ffui.train.tracking)


class ConfigError(FfuiError, ValueError):
    """An invalid config; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """Every key the trainer accepts in config.json. Keep help strings to one line."""

    base_model: str = _f("", "local model directory or Hugging Face hub id (required)")
    objective: Objective = _f("sft", "sft: chat/pairs, trained on replies; pretrain: raw text in max_seq_len chunks; "
                              "dpo, orpo, simpo: chosen/rejected pairs; kto: completions labelled good or bad")
    beta: float = _f(0.1, "dpo/kto: how far from the base model (higher = closer); orpo: weight of the odds-ratio "
                          "loss; simpo: reward scale", min=0.0)
    method: Method = _f("lora", "lora: LoRA adapter; qlora: LoRA on a 4-bit base (CUDA); full: all weights")
    backend: Backend = _f("auto", "auto: unsloth if CUDA and importable, else peft on CUDA, else cpu")
    lora_r: int = _f(16, "LoRA rank", min=1)
    lora_alpha: int = _f(32, "LoRA scaling numerator (scale = alpha / r, or alpha / sqrt(r) with rslora)", min=1)
    lora_dropout: float = _f(0.05, "dropout on the LoRA branch", min=0.0, max=0.99)
    target_modules: Union[str, list[str]] = _f("all-linear", "module names to adapt, or 'all-linear'")
    use_rslora: bool = _f(False, "rank-stabilised LoRA scaling")
    num_train_epochs: float = _f(3.0, "epochs over the training set (ignored when max_steps > 0)", min=0.0)
    max_steps: int = _f(-1, "optimizer steps to run; -1 = derive from num_train_epochs", min=-1)
    learning_rate: float = _f(2e-4, "peak learning rate", min=0.0)
    lr_scheduler_type: Scheduler = _f("linear", "learning-rate schedule after warm-up")
    warmup_ratio: float = _f(0.0, "warm-up as a fraction of total steps (use this or warmup_steps)", min=0.0, max=0.99)
    warmup_steps: int = _f(0, "warm-up in optimizer steps (use this or warmup_ratio)", min=0)
    weight_decay: float = _f(0.0, "AdamW weight decay", min=0.0)
    max_grad_norm: float = _f(1.0, "gradient clipping norm; 0 = no clipping", min=0.0)
    per_device_train_batch_size: int = _f(4, "sequences (or packed rows) per device per micro-batch", min=1)
    gradient_accumulation_steps: int = _f(1, "micro-batches per optimizer step", min=1)
    max_seq_len: int = _f(2048, "longer examples are truncated; packed rows hold up to this many tokens", min=8)
    seed: int = _f(42, "seed for init, shuffling and the eval split", min=0)
    packing: bool = _f(False, "pack several examples per row (attention kept per example); the batch still counts examples: "
                        "fewer rows per micro-batch keep the tokens per optimizer step")
    group_by_length: bool = _f(True, "batch examples of similar length together (less padding)")
    completion_only_loss: bool = _f(True, "train only on assistant turns / completions, not on prompts")
    drop_media: bool = _f(False, "train rows that refer to images/videos on their text alone, <image> placeholders removed "
                          "(otherwise such rows stop a text-only run)")
    keep_empty_replies: bool = _f(False, "train examples whose assistant reply is empty (otherwise they are left out, with a warning)")
    eval_split: float = _f(0.0, "fraction of dataset.jsonl held out for eval (eval.jsonl overrides)", min=0.0, max=0.9)
    eval_steps: int = _f(50, "evaluate every N steps when there is an eval set", min=1)
    save_steps: int = _f(100, "save a checkpoint every N steps", min=1)
    logging_steps: int = _f(1, "emit a step event (and log line) every N steps", min=1)
    save_total_limit: Union[int, None] = _f(3, "keep at most N checkpoints; null = keep all", min=1)
    early_stopping_patience: Union[int, None] = _f(None, "stop after N evals without eval_loss improving; null = off", min=1)
    precision: Precision = _f("auto", "auto: bf16 on GPUs that support it, else fp16 on CUDA, else fp32")
    gradient_checkpointing: bool = _f(False, "recompute activations to save memory (~20-30% slower)")
    num_gpu: int = _f(1, "GPUs to use; 0 = CPU even if CUDA exists; -1 = all visible; >1 = launched with accelerate",
                      min=-1)
    num_processes: int = _f(0, "training processes; 0 = one per GPU used; >1 with num_gpu=0 = that many CPU "
                            "processes (gloo), to try the multi-process path without GPUs", min=0)
    distributed: Distributed = _f("ddp", "with several processes: ddp (a full copy per GPU), fsdp (weights sharded "
                                  "across GPUs), deepspeed (ZeRO stage 2; needs the deepspeed package)")
    stop_on_nan: bool = _f(True, "stop with an error when the loss becomes NaN/inf")
    resume_from_checkpoint: Union[str, None] = _f(None, "checkpoint dir to resume from, 'last' = newest in this run")
    prompt_template: Union[dict, None] = _f(None, "{prompt_template, input_template, completion_template} str.format templates")
    chat_template: Union[str, None] = _f(None, "Jinja chat template; null = the tokenizer's own")
    report_to: Union[str, list[str]] = _f("tensorboard", "where metrics also go: tensorboard (event files in the run "
                                          "folder), wandb, mlflow (when installed), a list of them, or none")

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build and validate; raise ConfigError listing every problem."""
        if not isinstance(data, dict):
            raise ConfigError([f"config must be a JSON object, got {type(data).__name__}"])
        names = [f.name for f in dataclasses.fields(cls)]
        problems = [_unknown_key(k, names) for k in data if k not in names]
        hints = typing.get_type_hints(cls)
        for key, value in data.items():
            if key in names:
                problem = _check_type(key, value, hints[key])
                if problem:
                    problems.append(problem)
        if problems:
            raise ConfigError(problems)
        cfg = cls(**{k: _coerce(v, hints[k]) for k, v in data.items()})
        problems = cfg.problems()
        if problems:
            raise ConfigError(problems)
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{path} does not exist"]) from None
        except json.JSONDecodeError as e:
            raise ConfigError([f"{path} is not valid JSON (line {e.lineno}: {e.msg})"]) from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # ---- validation ----------------------------------------------------------------------

    def problems(self) -> list[str]:
        """One line per problem with this config; empty when valid."""
        out = [p for f in dataclasses.fields(self) if (p := _check_range(f, getattr(self, f.name)))]
        if not self.base_model.strip():
            out.append("base_model is required (a local model directory or a hub id)")
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            out.append("target_modules must be a list of module names or 'all-linear'")
        if isinstance(self.target_modules, list) and not self.target_modules:
            out.append("target_modules must not be empty")
        if self.warmup_steps > 0 and self.warmup_ratio > 0:
            out.append("set warmup_steps or warmup_ratio, not both")
        if self.max_steps == 0 or (self.max_steps < 0 and self.num_train_epochs <= 0):
            out.append("nothing to train: set max_steps > 0 or num_train_epochs > 0")
        if self.method == "qlora" and self.backend == "cpu":
            out.append("method=qlora needs a CUDA GPU (4-bit kernels); use method=lora with backend=cpu")
        if self.precision == "fp16" and self.backend == "cpu":
            out.append("precision=fp16 needs a CUDA GPU; use fp32 or bf16 with backend=cpu")
        out += self._distributed_problems()
        if self.early_stopping_patience is not None and self.save_steps % self.eval_steps:
            out.append("with early_stopping_patience, save_steps must be a multiple of eval_steps")
        if self.objective == "kto" and self.per_device_train_batch_size < 2:
            out.append("objective=kto needs per_device_train_batch_size >= 2 (its KL term compares each "
                       "completion with the others in its batch)")
        out += _prompt_template_problems(self.prompt_template)
        out += [f"report_to: {t!r} is not one of {', '.join(REPORT_TARGETS)}" for t in self.report_targets()
                if t not in REPORT_TARGETS]
        return out

    def report_targets(self) -> list[str]:
        """report_to as a list: [] for none."""
        targets = [self.report_to] if isinstance(self.report_to, str) else list(self.report_to)
        return [t.strip().lower() for t in targets if t.strip() and t.strip().lower() != "none"]

    def _distributed_problems(self) -> list[str]:
        out = []
        if self.num_gpu > 0 and self.num_processes not in (0, self.num_gpu):
            out.append(f"num_processes must be 0 or num_gpu ({self.num_gpu}): one process per GPU; "
                       "use num_processes alone only with num_gpu=0 (CPU processes)")
        if self.distributed != "ddp" and self.num_gpu == 0:
            out.append(f"distributed={self.distributed} needs CUDA GPUs; CPU processes (num_gpu=0) use ddp")
        return out

    def is_hub_id(self) -> bool:
        """True when base_model is not an existing path and looks like 'org/name'."""
        return is_hub_model(self.base_model)


def is_hub_model(base_model: str) -> bool:
    """True when ``base_model`` names a hub repository (not an existing path) like 'org/name'."""
    if Path(base_model).expanduser().exists() or base_model.startswith(("/", ".", "~")):
        return False
    return bool(_HUB_ID.match(base_model))


def parse_setting(key: str, text: str) -> Any:
    """The typed value of a setting written as text (``--set``, the Train form, a YAML value
    YAML left as a string): ``1e-4``, ``2E-5``, ``.5``, ``1_000``, ``q_proj,v_proj`` and
    ``[q_proj, v_proj]`` where the field's type allows them. Raises ValueError saying what
    is wrong, without the key (callers put it in front). An unknown key keeps its text, so
    ``from_dict`` can name it with a did-you-mean."""
    tp = _field_types().get(key)
    if tp is None:
        return text
    return _parse_text(text.strip(), tp)


def parse_settings(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every text value of a non-text field parsed by :func:`parse_setting`
    (YAML 1.1 reads ``1e-4`` as a string); raises ConfigError with one line per bad value."""
    types = _field_types()
    out, problems = {}, []
    for key, value in data.items():
        if isinstance(value, str) and key in types and not _is_text_type(types[key]):
            try:
                value = parse_setting(key, value)
            except ValueError as e:
                problems.append(f"{key} {e}")
        out[key] = value
    if problems:
        raise ConfigError(problems)
    return out


def field_help() -> dict[str, tuple[Any, str]]:
    """{key: (default, help)} for docs and `ffui` help screens."""
    cfg = TrainConfig()
    return {f.name: (getattr(cfg, f.name), f.metadata["help"]) for f in dataclasses.fields(TrainConfig)}


# ---- helpers ------------------------------------------------------------------------------


_NULL_WORDS = ("", "null", "none", "~")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


@functools.lru_cache(maxsize=1)
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _is_text_type(tp: Any) -> bool:
    """True when a text value is already the field's value (str, or str-or-null)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is Union else [tp]
    return args == [str]


def _parse_text(text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Union:
        args = typing.get_args(tp)
        if type(None) in args and text.lower() in _NULL_WORDS:
            return None
        rest = [a for a in args if a is not type(None)]
        if set(rest) == {str, list[str]}:
            return _parse_names(text)
        return _parse_text(text, rest[0]) if len(rest) == 1 else text
    if origin is Literal:
        return text
    if tp is bool:
        if text.lower() in _TRUE_WORDS + _FALSE_WORDS:
            return text.lower() in _TRUE_WORDS
        raise ValueError(f"must be true or false, got {text!r}")
    if tp is int:
        return _parse_int(text)
    if tp is float:
        return _parse_float(text)
    if tp is dict:
        return _parse_object(text)
    return text


def _parse_float(text: str) -> float:
    if not text:
        raise ValueError("needs a value (a number, e.g. 2e-4)")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number (e.g. 2e-4, 0.5, 1_000), got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"must be a finite number, got {text!r}")
    return value


def _parse_int(text: str) -> int:
    if not text:
        raise ValueError("needs a value (a whole number)")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", text):  # 1,024 (but 1,5 is not fifteen)
        text = text.replace(",", "")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None and value.is_integer():  # 1e3, 2.0
        return int(value)
    raise ValueError(f"must be a whole number (e.g. 8, 1_000, 1e3), got {text!r}")


def _parse_names(text: str) -> Union[str, list[str]]:
    """``q_proj,v_proj``, ``q_proj v_proj``, ``[q_proj, 'v_proj']`` -> a list; ``all-linear`` stays."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    names = [n.strip().strip("'\"") for n in re.split(r"[,\s]+", inner)]
    names = [n for n in names if n]
    return names[0] if names == ["all-linear"] else names


def _parse_object(text: str) -> Any:
    import yaml  # JSON or YAML flow mapping; deferred: only a text prompt_template needs it

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError("must be an object, e.g. {prompt_template: '{input} {output}'}") from None
    if not isinstance(value, dict):
        raise ValueError("must be an object, e.g. {prompt_template: '{input} {output}'}")
    return value


def _unknown_key(key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1) if len(key) < 100 else []
    shown = repr(key) if len(key) <= 60 else repr(key[:57]) + "..."
    return f"unknown key {shown}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _check_type(key: str, value: Any, tp: Any) -> str | None:
    if _matches(value, tp):
        return None
    return f"{key} must be {_describe(tp)}, got {brief(value)}"  # bounded: the value may be huge


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin is Union:
        return any(_matches(value, t) for t in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:  # JSON has no int/float distinction worth enforcing
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is Union:
        return " or ".join(_describe(t) for t in typing.get_args(tp))
    if origin is list:
        item = _describe(typing.get_args(tp)[0])
        return f"a list of {item.split(' ', 1)[1] if item.startswith(('a ', 'an ')) else item}s"
    if tp is type(None):
        return "null"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", dict: "an object"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any) -> Any:
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def _check_range(f: dataclasses.Field, value: Any) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is not None and value < lo:
        return f"{f.name} must be >= {lo}, got {value}"
    if hi is not None and value > hi:
        return f"{f.name} must be <= {hi}, got {value}"
    return None


def _prompt_template_problems(pt: dict | None) -> list[str]:
    if pt is None:
        return []
    out = [f"prompt_template has unknown key {k!r} (expected {', '.join(PROMPT_TEMPLATE_KEYS)})"
           for k in pt if k not in PROMPT_TEMPLATE_KEYS]
    if not isinstance(pt.get("prompt_template"), str) or not pt.get("prompt_template"):
        out.append("prompt_template.prompt_template is required: the full training text, e.g. "
                   "'### Question:\\n{input}\\n### Answer:\\n{output}'")
    for k in ("input_template", "completion_template"):
        if k in pt and pt[k] is not None and not isinstance(pt[k], str):
            out.append(f"prompt_template.{k} must be a string")
    return out
