"""The command line that starts a trainer; the job manager spawns what this returns.

One process: ``python -m ffui.train RUN_DIR``. Several (``num_gpu > 1``, or ``num_processes > 1``
on the CPU): ``accelerate launch`` of it, which starts one rank per GPU (or that many CPU ranks
talking over gloo) in the launcher's process group, so a SIGKILL to the group ends every rank.
How the ranks share the model is the config's ``distributed``: DDP, FSDP, or DeepSpeed ZeRO-2.
"""

from __future__ import annotations

import sys
from pathlib import Path

# FSDP for LoRA: shard whole decoder blocks, keep the original parameters (peft needs them to
# tell frozen from trained weights), and save one full state dict that save_model can write.
FSDP_FLAGS = [
    "--use_fsdp", "--fsdp_sharding_strategy", "FULL_SHARD",
    "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
    "--fsdp_state_dict_type", "FULL_STATE_DICT",
    "--fsdp_use_orig_params", "true",
    "--fsdp_cpu_ram_efficient_loading", "false",
    "--fsdp_sync_module_states", "true",
]
# ZeRO stage 2: optimizer state and gradients sharded, weights whole on each GPU (LoRA's
# weights are few; the win is the optimizer state of a full fine-tune).
DEEPSPEED_FLAGS = ["--use_deepspeed", "--zero_stage", "2"]


def process_count(num_gpu: int, num_processes: int = 0) -> int:
    """How many trainer processes a run of these settings starts (num_gpu already resolved)."""
    return num_processes or max(1, num_gpu)


def build_trainer_command(run_dir: str | Path, num_gpu: int, python: str = sys.executable,
                          module: str = "ffui.train", *, num_processes: int = 0,
                          distributed: str = "ddp") -> list[str]:
    """[python, -m, ffui.train, RUN_DIR] for one process; an accelerate launch for several.

    ``num_gpu`` is a count of GPUs (the caller resolves -1, "all visible"); ``num_processes``
    0 means one per GPU. accelerate is run in-process by ``python -m ffui.train.distributed``
    (same arguments as ``accelerate launch``), so the ranks use ffui's interpreter (and
    virtualenv) whether or not an ``accelerate`` script is on PATH.
    """
    run_dir = str(run_dir)
    processes = process_count(num_gpu, num_processes)
    if processes <= 1:
        return [python, "-m", module, run_dir]
    command = [
        python, "-m", "ffui.train.distributed",  # accelerate launch, its ends worded for the run's log
        "--num_machines", "1", "--num_processes", str(processes),
        "--main_process_port", "0",  # a free port: two runs on one machine must not collide
        "--mixed_precision", "no",  # precision is the trainer's decision (TrainingArguments)
        "--dynamo_backend", "no",
    ]
    # --multi_gpu is accelerate's "torch.distributed.run" launcher, for CPU ranks too (its --cpu
    # runs a single process unless mpirun is set up); the trainer's use_cpu picks gloo for them.
    if distributed == "fsdp" and num_gpu:
        command += FSDP_FLAGS
    elif distributed == "deepspeed" and num_gpu:
        command += DEEPSPEED_FLAGS
    else:
        command.append("--multi_gpu")
    return command + ["-m", module, run_dir]
