"""Training presets: starting points for the Train form (and anyone else).

A preset is a set of TrainConfig values laid over TrainConfig's defaults; it never names the
model, dataset or prompt. ``auto`` picks one from the detected GPU memory.
"""

from __future__ import annotations

from typing import Any

GiB = 1024 ** 3

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "label": "quick test",
        "about": "30 steps, short sequences: checks the pipeline end to end in minutes",
        "hp": {"method": "lora", "lora_r": 8, "lora_alpha": 16, "max_steps": 30, "max_seq_len": 512,
               "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
               "learning_rate": 2e-4, "save_steps": 10, "logging_steps": 1, "eval_split": 0.0},
    },
    "balanced": {
        "label": "balanced",
        "about": "LoRA r16, 3 epochs, cosine schedule, a 5% eval split",
        "hp": {"method": "lora", "lora_r": 16, "lora_alpha": 32, "num_train_epochs": 3.0,
               "max_steps": -1, "max_seq_len": 2048, "per_device_train_batch_size": 4,
               "gradient_accumulation_steps": 4, "learning_rate": 2e-4,
               "lr_scheduler_type": "cosine", "warmup_ratio": 0.03, "gradient_checkpointing": True,
               "eval_split": 0.05, "eval_steps": 50, "save_steps": 100},
    },
    "quality": {
        "label": "quality",
        "about": "LoRA r64 (rslora), longer sequences, lower LR, early stopping on eval loss",
        "hp": {"method": "lora", "lora_r": 64, "lora_alpha": 128, "use_rslora": True,
               "num_train_epochs": 3.0, "max_steps": -1, "max_seq_len": 4096,
               "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4,
               "learning_rate": 1e-4, "lr_scheduler_type": "cosine", "warmup_ratio": 0.05,
               "weight_decay": 0.01, "gradient_checkpointing": True, "eval_split": 0.05,
               "eval_steps": 50, "save_steps": 100, "early_stopping_patience": 3},
    },
}
PRESET_ORDER = ("auto", "quick", "balanced", "quality")


def auto_choice(gpus: list[dict]) -> tuple[str, dict[str, Any], str]:
    """(preset name, extra values, why) for the detected GPUs (dicts with ``memory_total``)."""
    if not gpus:
        return "quick", {"num_gpu": 0}, "no GPU detected: the quick test, on the CPU"
    mem = max(int(g.get("memory_total") or 0) for g in gpus)
    g = f"{mem / GiB:.0f} GiB GPU"
    if mem < 20 * GiB:
        return "balanced", {"method": "qlora", "max_seq_len": 1024}, f"{g}: balanced with qlora"
    if mem < 40 * GiB:
        return "balanced", {}, f"{g}: balanced"
    return "quality", {}, f"{g}: quality"


def preset_values(name: str, gpus: list[dict] | None = None) -> tuple[dict[str, Any], str]:
    """(TrainConfig values: defaults with the preset laid over, a one-line description).

    Raises KeyError for an unknown preset name."""
    from ffui.train.config import TrainConfig

    extra: dict[str, Any] = {}
    if name == "auto":
        name, extra, about = auto_choice(gpus or [])
    else:
        about = PRESETS[name]["about"]
    values = TrainConfig().to_dict()
    values.pop("base_model", None)
    values.pop("prompt_template", None)
    values.update(PRESETS[name]["hp"])
    values.update(extra)
    return values, f"{PRESETS[name]['label']}: {about}"
