"""The command line that starts a trainer; the job manager spawns what this returns."""

from __future__ import annotations

import sys
from pathlib import Path


def build_trainer_command(run_dir: str | Path, num_gpu: int, python: str = sys.executable,
                          module: str = "ffui.train") -> list[str]:
    """[python, -m, ffui.train, RUN_DIR] for 0/1 GPU; an accelerate launch for several.

    accelerate is run as `python -m accelerate.commands.launch` so the trainer uses the same
    interpreter (and virtualenv) as ffui, whether or not an `accelerate` script is on PATH.
    """
    run_dir = str(run_dir)
    if num_gpu <= 1:
        return [python, "-m", module, run_dir]
    return [
        python, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_machines", "1", "--num_processes", str(num_gpu),
        "--mixed_precision", "no",  # precision is the trainer's decision (TrainingArguments)
        "--dynamo_backend", "no",
        "-m", module, run_dir,
    ]
