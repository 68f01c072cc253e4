"""TrainConfig validation, the config -> trainer mapping, and the launch command line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from ffui.train.config import ConfigError, TrainConfig, field_help
from ffui.train.launch import build_trainer_command
from ffui.train.plan import build_training_arguments


def test_importing_config_and_launch_stays_light():
    code = ("import sys, ffui.train, ffui.train.config, ffui.train.launch, ffui.train.plan, ffui.train.events, "
            "ffui.train.control, ffui.train.data\n"
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_defaults_are_valid_once_base_model_is_set():
    cfg = TrainConfig.from_dict({"base_model": "org/model"})
    assert cfg.method == "lora" and cfg.backend == "auto" and cfg.max_steps == -1
    assert set(field_help()) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("data, expected", [
    ({"base_model": "m", "learnig_rate": 1e-4}, "unknown key 'learnig_rate' (did you mean 'learning_rate'?)"),
    ({"base_model": "m", "method": "dora"}, "method must be one of 'lora', 'qlora', 'full'"),
    ({"base_model": "m", "lora_r": "8"}, 'lora_r must be an integer, got "8"'),
    ({"base_model": "m", "lora_r": 0}, "lora_r must be >= 1, got 0"),
    ({"base_model": "m", "packing": 1}, "packing must be true/false"),
    ({"base_model": "m", "target_modules": "attention"}, "target_modules must be a list of module names or 'all-linear'"),
    ({"base_model": "m", "warmup_steps": 5, "warmup_ratio": 0.1}, "set warmup_steps or warmup_ratio, not both"),
    ({"base_model": "m", "method": "qlora", "backend": "cpu"}, "method=qlora needs a CUDA GPU"),
    ({"base_model": "m", "max_steps": 0}, "nothing to train"),
    ({}, "base_model is required"),
    ({"base_model": "m", "prompt_template": {"input_template": "{input}"}}, "prompt_template.prompt_template is required"),
    ({"base_model": "m", "early_stopping_patience": 2, "eval_steps": 30, "save_steps": 100},
     "save_steps must be a multiple of eval_steps"),
])
def test_invalid_configs_say_what_is_wrong(data, expected):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(data)
    assert any(expected in p for p in e.value.problems), e.value.problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"base_model": "m", "lora_r": -1, "lora_dropout": 2.0})
    assert len(e.value.problems) == 2


# Every TrainConfig field set to a non-default value, and where it must show up.
NON_DEFAULT = {
    "base_model": "/models/base", "method": "full", "backend": "peft", "lora_r": 4, "lora_alpha": 8,
    "lora_dropout": 0.2, "target_modules": ["q_proj", "v_proj"], "use_rslora": True, "num_train_epochs": 7.0,
    "max_steps": 123, "learning_rate": 3e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.0,
    "warmup_steps": 17, "weight_decay": 0.05, "max_grad_norm": 0.5, "per_device_train_batch_size": 3,
    "gradient_accumulation_steps": 5, "max_seq_len": 333, "seed": 7, "packing": True, "group_by_length": False,
    "completion_only_loss": False, "drop_media": True, "keep_empty_replies": True, "eval_split": 0.25, "eval_steps": 11, "save_steps": 22, "logging_steps": 3,
    "save_total_limit": 9, "early_stopping_patience": 4, "precision": "bf16", "gradient_checkpointing": True,
    "num_gpu": 0, "num_processes": 3, "distributed": "ddp", "stop_on_nan": False, "resume_from_checkpoint": "/runs/a/checkpoints/checkpoint-5",
    "prompt_template": {"prompt_template": "Q: {input}\nA: {output}", "input_template": "Q: {input}\nA: "},
    "chat_template": "{{ messages }}",
    "report_to": "none",
    "chat_template": "{{ messages }}", "objective": "dpo", "beta": 0.5,
}

# field -> check(plan, TrainingArguments, LoraConfig-or-None, lora_plan)
WHERE = {
    "base_model": lambda p, ta, lc, lp: p["model"]["base_model"] == "/models/base",
    "method": lambda p, ta, lc, lp: p["model"]["method"] == "full" and p["lora"] is None,
    "backend": lambda p, ta, lc, lp: p["model"]["backend"] == "peft",
    "lora_r": lambda p, ta, lc, lp: lc.r == 4,
    "lora_alpha": lambda p, ta, lc, lp: lc.lora_alpha == 8,
    "lora_dropout": lambda p, ta, lc, lp: lc.lora_dropout == 0.2,
    "target_modules": lambda p, ta, lc, lp: set(lc.target_modules) == {"q_proj", "v_proj"}
    and p["model"]["unsloth_target_modules"] == ["q_proj", "v_proj"],
    "use_rslora": lambda p, ta, lc, lp: lc.use_rslora is True,
    "num_train_epochs": lambda p, ta, lc, lp: ta.num_train_epochs == 7.0,
    "max_steps": lambda p, ta, lc, lp: ta.max_steps == 123,
    "learning_rate": lambda p, ta, lc, lp: ta.learning_rate == 3e-5,
    "lr_scheduler_type": lambda p, ta, lc, lp: str(getattr(ta.lr_scheduler_type, "value", ta.lr_scheduler_type))
    == "cosine",
    "warmup_ratio": None,  # exclusive with warmup_steps: checked in its own test below
    "warmup_steps": lambda p, ta, lc, lp: ta.warmup_steps == 17,
    "weight_decay": lambda p, ta, lc, lp: ta.weight_decay == 0.05,
    "max_grad_norm": lambda p, ta, lc, lp: ta.max_grad_norm == 0.5,
    "per_device_train_batch_size": lambda p, ta, lc, lp: ta.per_device_train_batch_size == 3
    and ta.per_device_eval_batch_size == 3,
    "gradient_accumulation_steps": lambda p, ta, lc, lp: ta.gradient_accumulation_steps == 5,
    "max_seq_len": lambda p, ta, lc, lp: p["data"]["max_seq_len"] == 333 and p["model"]["max_seq_len"] == 333,
    "seed": lambda p, ta, lc, lp: ta.seed == 7 and ta.data_seed == 7 and p["data"]["seed"] == 7,
    "packing": lambda p, ta, lc, lp: p["data"]["packing"] is True,
    "group_by_length": lambda p, ta, lc, lp: ta.train_sampling_strategy == "random",
    "completion_only_loss": lambda p, ta, lc, lp: p["data"]["completion_only_loss"] is False,
    "drop_media": lambda p, ta, lc, lp: p["data"]["drop_media"] is True,
    "keep_empty_replies": lambda p, ta, lc, lp: p["data"]["keep_empty_replies"] is True,
    "eval_split": lambda p, ta, lc, lp: p["data"]["eval_split"] == 0.25 and _strategy(ta.eval_strategy) == "steps",
    "eval_steps": lambda p, ta, lc, lp: ta.eval_steps == 11,
    "save_steps": lambda p, ta, lc, lp: ta.save_steps == 22,
    "logging_steps": lambda p, ta, lc, lp: ta.logging_steps == 3,
    "save_total_limit": lambda p, ta, lc, lp: ta.save_total_limit == 9,
    "early_stopping_patience": lambda p, ta, lc, lp: p["run"]["early_stopping_patience"] == 4
    and ta.load_best_model_at_end and ta.metric_for_best_model == "eval_loss",
    "precision": lambda p, ta, lc, lp: ta.bf16 is True and ta.fp16 is False and p["model"]["precision"] == "bf16",
    "gradient_checkpointing": lambda p, ta, lc, lp: ta.activation_checkpointing is True
    and p["model"]["gradient_checkpointing"] is True,
    "num_gpu": lambda p, ta, lc, lp: ta.use_cpu is True and p["run"]["num_gpu"] == 0,
    "num_processes": lambda p, ta, lc, lp: p["run"]["num_processes"] == 3,
    "distributed": None,  # fsdp/deepspeed need GPUs (num_gpu 0 here): the launch tests in test_multigpu.py
    "stop_on_nan": lambda p, ta, lc, lp: p["run"]["stop_on_nan"] is False,
    "resume_from_checkpoint": lambda p, ta, lc, lp: p["run"]["resume_from_checkpoint"]
    == "/runs/a/checkpoints/checkpoint-5" == ta.resume_from_checkpoint,
    "prompt_template": lambda p, ta, lc, lp: p["data"]["prompt_template"]["input_template"] == "Q: {input}\nA: ",
    "chat_template": lambda p, ta, lc, lp: p["data"]["chat_template"] == "{{ messages }}",
    "report_to": lambda p, ta, lc, lp: ta.report_to in ("none", [], ["none"]),
    "objective": lambda p, ta, lc, lp: p["objective"]["objective"] == "dpo",
    "beta": lambda p, ta, lc, lp: p["objective"]["beta"] == 0.5,
}


def test_metrics_go_to_tensorboard_by_default_and_an_unknown_tracker_is_one_line():
    plan = build_training_arguments(TrainConfig(base_model="/m"))
    assert plan["training_args"]["report_to"] == ["tensorboard"]
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"base_model": "/m", "report_to": ["tensorboard", "comet"]})
    assert e.value.problems == ["report_to: 'comet' is not one of tensorboard, wandb, mlflow"]


def _strategy(v) -> str:
    return str(getattr(v, "value", v))


def _materialise(plan: dict):
    from transformers import TrainingArguments

    return TrainingArguments(**plan["training_args"])


def test_every_config_field_reaches_the_trainer(tmp_path):
    from peft import LoraConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(NON_DEFAULT) == fields, "add the new field to NON_DEFAULT and WHERE"
    assert set(WHERE) == fields
    defaults = TrainConfig()
    for name in fields - {"warmup_ratio", "distributed"}:
        assert NON_DEFAULT[name] != getattr(defaults, name), f"{name} is not set to a non-default value"
    cfg = TrainConfig.from_dict(NON_DEFAULT)
    plan = build_training_arguments(cfg, output_dir=tmp_path, backend="peft", has_eval=True)
    ta = _materialise(plan)
    # method=full has no LoRA: check the LoRA fields through a lora variant of the same config
    lora_plan = build_training_arguments(dataclasses.replace(cfg, method="lora"), output_dir=tmp_path)
    lc = LoraConfig(**lora_plan["lora"])
    failed = [name for name, check in WHERE.items() if check is not None and not check(plan, ta, lc, lora_plan)]
    assert failed == []


def test_warmup_ratio_reaches_the_trainer(tmp_path):
    cfg = TrainConfig.from_dict({"base_model": "m", "warmup_ratio": 0.1})
    ta = _materialise(build_training_arguments(cfg, output_dir=tmp_path))
    assert ta.warmup_steps == 0.1  # transformers reads a float < 1 as a ratio of total steps


def test_precision_auto_follows_the_hardware(tmp_path):
    cfg = TrainConfig.from_dict({"base_model": "m"})
    cpu = build_training_arguments(cfg, backend="cpu")
    gpu = build_training_arguments(cfg, backend="peft", cuda=True, bf16_supported=True)
    old_gpu = build_training_arguments(cfg, backend="peft", cuda=True, bf16_supported=False)
    assert cpu["model"]["precision"] == "fp32" and cpu["training_args"]["use_cpu"]
    assert gpu["model"]["precision"] == "bf16" and gpu["model"]["dtype"] == "bfloat16"
    assert old_gpu["training_args"]["fp16"] and not gpu["training_args"]["use_cpu"]
    assert gpu["data"]["pad_to_multiple_of"] == 8 and cpu["data"]["pad_to_multiple_of"] is None


def test_qlora_plan_loads_the_base_in_4bit():
    cfg = TrainConfig.from_dict({"base_model": "m", "method": "qlora"})
    assert build_training_arguments(cfg, backend="peft", cuda=True)["model"]["load_in_4bit"] is True


@pytest.mark.parametrize("num_gpu", [0, 1])
def test_single_device_command_runs_the_trainer_module(num_gpu):
    assert build_trainer_command("/runs/r1", num_gpu, python="/venv/bin/python") == [
        "/venv/bin/python", "-m", "ffui.train", "/runs/r1"]


def test_several_gpus_launch_through_accelerate():
    cmd = build_trainer_command("/runs/r1", 4, python="/venv/bin/python")
    assert cmd[:3] == ["/venv/bin/python", "-m", "ffui.train.distributed"]  # accelerate launch, in-process
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    assert "--multi_gpu" in cmd
    assert cmd[-3:] == ["-m", "ffui.train", "/runs/r1"]


def test_accelerate_accepts_the_command_line():
    """The flags must be ones this accelerate version parses (no GPU needed to parse)."""
    cmd = build_trainer_command("/runs/r1", 2)
    from accelerate.commands.launch import launch_command_parser

    args = launch_command_parser().parse_args(cmd[3:])
    assert args.num_processes == 2 and args.module and args.training_script == "ffui.train"
    assert args.training_script_args == ["/runs/r1"]


def test_a_chosen_tracker_that_is_not_installed_fails_at_once_and_a_missing_tensorboard_only_warns(
        tmp_path, monkeypatch):
    import importlib.util

    from ffui.train import tracking
    from ffui.train.events import UserError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("wandb", "tensorboard", "tensorboardX") else real(name, *a))
    with pytest.raises(UserError, match="report_to names wandb, which is not installed") as e:
        tracking.prepare(["tensorboard", "wandb"], tmp_path, print)
    assert "pip install wandb" in e.value.hint
    warned: list[str] = []
    assert tracking.prepare(["tensorboard"], tmp_path, warned.append) == "none"
    assert warned == ["TensorBoard logging is off: neither tensorboardX nor tensorboard is installed "
                      "(pip install tensorboardX)"]
