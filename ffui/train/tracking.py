"""Where a run's metrics also go (``report_to``): TensorBoard event files in the run folder by
default, Weights & Biases or MLflow when installed and chosen (docs/export.md).

transformers' own callbacks do the logging; this module only gets them ready in the trainer's
process and says where things land. TensorBoard files are written with tensorboardX (the
``train`` extra), which transformers' TensorBoardCallback falls back to when the full
``tensorboard`` package is absent; ``tensorboard --logdir HOME/training_outputs`` reads them.
Keys come from settings through the worker's environment (ffui.jobs.kinds.training), never its
arguments. Standard library only: the UI calls ``destinations`` to show them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Callable

from ffui.train.events import UserError

TENSORBOARD_DIR = "tensorboard"
# setting -> the environment variable the worker gets it in (only for runs that report there)
ENV_SETTINGS = {
    "wandb": {"wandb.api_key": "WANDB_API_KEY", "wandb.project": "WANDB_PROJECT", "wandb.entity": "WANDB_ENTITY"},
    "mlflow": {"mlflow.tracking_uri": "MLFLOW_TRACKING_URI", "mlflow.tracking_token": "MLFLOW_TRACKING_TOKEN",
               "mlflow.experiment": "MLFLOW_EXPERIMENT_NAME"},
}


def _installed(*modules: str) -> bool:
    return any(importlib.util.find_spec(m) is not None for m in modules)


def prepare(targets: list[str] | str, run_dir: Path, warn: Callable[[str], None]) -> list[str] | str:
    """The report_to to give TrainingArguments, with each target's environment set for this run.
    TensorBoard (the default) missing is a warning; a chosen W&B or MLflow missing is an error."""
    if isinstance(targets, str):
        return targets
    ready = []
    for target in targets:
        if target == "tensorboard":
            if not _installed("tensorboardX", "tensorboard"):
                warn("TensorBoard logging is off: neither tensorboardX nor tensorboard is installed "
                     "(pip install tensorboardX)")
                continue
            os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TENSORBOARD_DIR)
        elif target == "wandb":
            if not _installed("wandb"):
                raise UserError("report_to names wandb, which is not installed",
                                "pip install wandb, or take wandb out of report_to", kind="config")
            os.environ.setdefault("WANDB_DIR", str(run_dir))
            os.environ.setdefault("WANDB_PROJECT", "ffui")
            if not os.environ.get("WANDB_API_KEY"):  # never a login prompt in a detached job
                os.environ.setdefault("WANDB_MODE", "offline")
                warn(f"no wandb.api_key setting: W&B logs offline to {run_dir / 'wandb'} (wandb sync uploads it)")
        elif target == "mlflow":
            if not _installed("mlflow"):
                raise UserError("report_to names mlflow, which is not installed",
                                "pip install mlflow, or take mlflow out of report_to", kind="config")
            os.environ.setdefault("MLFLOW_TRACKING_URI", (run_dir / "mlruns").as_uri())
            os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", "ffui")
        ready.append(target)
    return ready or "none"


def destinations(report_to, run_dir: str | Path) -> list[str]:
    """Where a run's metrics also go, one short phrase each, for the run screen."""
    targets = [report_to] if isinstance(report_to, str) else list(report_to or [])
    names = {"tensorboard": f"TensorBoard ({Path(run_dir) / TENSORBOARD_DIR})", "wandb": "W&B",
             "mlflow": "MLflow"}
    return [names[t] for t in (str(t).strip().lower() for t in targets) if t in names]
