"""Map a TrainConfig onto everything the trainer builds, as plain dicts.

`build_training_arguments` is pure (no torch import), so a test can check that every
config field reaches the trainer. The runner consumes exactly these dicts:
  training_args -> transformers.TrainingArguments(**...)
  lora          -> peft.LoraConfig(**...)            (None for method=full)
  model         -> how the base model is loaded (backend, dtype, 4-bit, ...)
  data          -> the dataset pipeline (ffui.train.data.DataSettings(**...))
  run           -> trainer-loop behaviour (NaN policy, early stopping, resume, launch)
  objective     -> what the run learns: sft/pretrain (ffui's Trainer) or a TRL trainer, and its beta
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ffui.train.config import TrainConfig

# unsloth wants explicit names; these cover llama/mistral/qwen/gemma-style blocks
ALL_LINEAR_NAMES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def resolve_precision(cfg: TrainConfig, cuda: bool, bf16_supported: bool) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    if not cuda:
        return "fp32"
    return "bf16" if bf16_supported else "fp16"


def build_training_arguments(
    cfg: TrainConfig,
    *,
    output_dir: str | Path = "checkpoints",
    backend: str | None = None,
    cuda: bool = False,
    bf16_supported: bool = False,
    has_eval: bool | None = None,
) -> dict[str, Any]:
    """Everything derived from cfg, given the resolved backend and the machine's abilities.

    has_eval: whether an eval set exists (eval.jsonl or eval_split); default from eval_split.
    """
    if has_eval is None:
        has_eval = cfg.eval_split > 0
    backend = backend or cfg.backend
    precision = resolve_precision(cfg, cuda and backend != "cpu", bf16_supported)
    return {
        "training_args": _training_args(cfg, str(output_dir), backend, precision, has_eval),
        "lora": _lora_args(cfg),
        "model": {
            "base_model": cfg.base_model,
            "method": cfg.method,
            "backend": backend,
            "precision": precision,
            # frozen LoRA bases can live in half precision; trained full weights stay fp32
            "dtype": _dtype_name(precision) if cfg.method != "full" else "float32",
            "load_in_4bit": cfg.method == "qlora",
            "gradient_checkpointing": cfg.gradient_checkpointing,
            "max_seq_len": cfg.max_seq_len,
            "seed": cfg.seed,
            "unsloth_target_modules": (ALL_LINEAR_NAMES if cfg.target_modules == "all-linear"
                                       else list(cfg.target_modules)),
        },
        "data": {
            "max_seq_len": cfg.max_seq_len,
            "packing": cfg.packing,
            "completion_only_loss": cfg.completion_only_loss,
            "drop_media": cfg.drop_media,
            "keep_empty_replies": cfg.keep_empty_replies,
            "eval_split": cfg.eval_split,
            "seed": cfg.seed,
            "prompt_template": cfg.prompt_template,
            "chat_template": cfg.chat_template,
            "pad_to_multiple_of": 8 if cuda and backend != "cpu" else None,
        },
        "objective": {"objective": cfg.objective, "beta": cfg.beta},
        "run": {
            "stop_on_nan": cfg.stop_on_nan,
            "early_stopping_patience": cfg.early_stopping_patience,
            "resume_from_checkpoint": cfg.resume_from_checkpoint,
            "num_gpu": cfg.num_gpu,
            "num_processes": cfg.num_processes,  # how it is launched (ffui.train.launch)
            "distributed": cfg.distributed,
        },
    }


def _training_args(cfg: TrainConfig, output_dir: str, backend: str, precision: str, has_eval: bool) -> dict:
    early_stop = cfg.early_stopping_patience is not None and has_eval
    args = {
        "output_dir": output_dir,
        "num_train_epochs": cfg.num_train_epochs,
        "max_steps": cfg.max_steps,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        # transformers takes a float in [0, 1) as a ratio of total steps
        "warmup_steps": cfg.warmup_steps if cfg.warmup_steps > 0 else cfg.warmup_ratio,
        "weight_decay": cfg.weight_decay,
        "max_grad_norm": cfg.max_grad_norm,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "per_device_eval_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "train_sampling_strategy": "group_by_length" if cfg.group_by_length else "random",
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": cfg.eval_steps,
        "save_strategy": "steps",
        "save_steps": cfg.save_steps,
        "save_total_limit": cfg.save_total_limit,
        "logging_strategy": "steps",
        "logging_steps": cfg.logging_steps,
        "logging_first_step": True,
        # we must see NaN losses to act on them
        "logging_nan_inf_filter": False,
        "include_num_input_tokens_seen": "non_padding",
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "activation_checkpointing": cfg.gradient_checkpointing,
        # non-reentrant checkpointing works with frozen inputs (LoRA) without extra hooks
        "activation_checkpointing_kwargs": {"use_reentrant": False} if cfg.gradient_checkpointing else None,
        "use_cpu": backend == "cpu" or cfg.num_gpu == 0,
        "load_best_model_at_end": early_stop,
        "metric_for_best_model": "eval_loss" if early_stop else None,
        "greater_is_better": False if early_stop else None,
        "resume_from_checkpoint": cfg.resume_from_checkpoint,
        # our collator consumes input_ids/labels/position_ids; nothing else to drop
        "remove_unused_columns": False,
        "report_to": cfg.report_targets() or "none",  # set up, or dropped, by ffui.train.tracking
        "disable_tqdm": True,  # line-oriented logs: the step events replace the progress bar
        "dataloader_num_workers": 0,
        # several ranks: every trained weight (LoRA or full) is used each step, so DDP need not
        # walk the graph for unused ones (a cost per step, and a warning in train.log)
        "ddp_find_unused_parameters": False,
    }
    return args


def _lora_args(cfg: TrainConfig) -> dict | None:
    if cfg.method == "full":
        return None
    return {
        "r": cfg.lora_r,
        "lora_alpha": cfg.lora_alpha,
        "lora_dropout": cfg.lora_dropout,
        "target_modules": cfg.target_modules,
        "use_rslora": cfg.use_rslora,
        "bias": "none",
        "task_type": "CAUSAL_LM",
    }


def _dtype_name(precision: str) -> str:
    return {"bf16": "bfloat16", "fp16": "float16"}.get(precision, "float32")
