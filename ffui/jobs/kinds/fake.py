"""The ``fake`` kind: a training run whose worker is the torch-free fake worker (tests, bench/).

The whole of a new kind that reuses a table: a name, the command its worker runs, and one line
in ffui.jobs.kinds.KINDS. Its row, events and end are training's (it registers its "adapter").
"""

from __future__ import annotations

import sys

from ffui.jobs.fake_worker import MODULE
from ffui.jobs.kinds.training import TrainingKind


class FakeKind(TrainingKind):
    name = "fake"
    module = MODULE

    def command(self, run: dict) -> list[str]:
        return [sys.executable, "-m", self.module, str(run["storage_path"])]
