"""Executors: where a job's worker runs (docs/jobs.md). One module each, one line in EXECUTORS.

A job's row names its executor in ``metadata.executor`` (absent: ``local``). A RunPod executor
is one more module here and one more line below; the manager and the supervisor only call
``executor_for`` and the methods of ffui.jobs.executors.base.Executor.
"""

from __future__ import annotations

from ffui.jobs.errors import UnknownJob
from ffui.jobs.executors.base import Executor, Launch, WorkerSpec
from ffui.jobs.executors.local import LocalExecutor
from ffui.jobs.executors.runpod import RunPodExecutor

EXECUTORS: dict[str, type[Executor]] = {
    "local": LocalExecutor,
    "runpod": RunPodExecutor,
}
DEFAULT = "local"


def executor_for(run: dict | None = None) -> Executor:
    """A fresh executor for ``run`` (the default one for None): it keeps what it starts."""
    name = ((run or {}).get("metadata") or {}).get("executor") or DEFAULT
    if name not in EXECUTORS:
        raise UnknownJob("executor", name, sorted(EXECUTORS))
    return EXECUTORS[name]()


__all__ = ["EXECUTORS", "Executor", "Launch", "LocalExecutor", "RunPodExecutor", "WorkerSpec", "executor_for"]
