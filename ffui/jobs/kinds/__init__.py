"""Job kinds: what a job does (docs/jobs.md). One module each, one line in KINDS.

A training_runs row names its kind in ``metadata.kind`` (absent: ``training``); a kind whose
rows live in another table is named to its supervisor with ``--kind``.
"""

from __future__ import annotations

from ffui.jobs.errors import UnknownJob
from ffui.jobs.kinds.base import JobKind
from ffui.jobs.kinds.export import ExportKind
from ffui.jobs.kinds.evaluation import EvaluationKind
from ffui.jobs.kinds.fake import FakeKind
from ffui.jobs.kinds.publish import PublishKind
from ffui.jobs.kinds.scrape import ScrapeKind
from ffui.jobs.kinds.training import TrainingKind

KINDS: dict[str, JobKind] = {
    "training": TrainingKind(),
    "fake": FakeKind(),
    "export": ExportKind(),
    "publish": PublishKind(),
    "scrape": ScrapeKind(),
    "evaluation": EvaluationKind(),
}
DEFAULT = "training"


def kind_for(run: dict) -> JobKind:
    """The kind of a training_runs row (rows of older ffui name the fake worker's module instead);
    UnknownJob for a kind this ffui does not have, never a guess."""
    meta = run.get("metadata") or {}
    if meta.get("worker") == FakeKind.module:
        return KINDS["fake"]
    name = meta.get("kind") or DEFAULT
    if name not in KINDS:
        raise UnknownJob("kind", name, sorted(KINDS))
    return KINDS[name]


__all__ = ["KINDS", "JobKind", "kind_for"]
