"""Importing a file, a ``save_to_disk`` folder or a hub id as a new dataset, with progress.

The reading and normalising is ``ffui.data.importer`` (no database); the writing is the one
fill path, ``ffui.data.fill``.
"""

from __future__ import annotations

import asyncio
import os
import time

from ffui.db import get_setting

from .datasets import check_new_name
from .fill import Progress, fill_dataset
from .importer import ImportPlan, plan_import


def plan_state(plan: ImportPlan) -> dict:
    """What a progress callback gets while ``plan`` is read: rows, bad, done, total, unit."""
    s = plan.source
    return {"rows": plan.good, "bad": plan.bad, "done": s.done, "total": s.total,
            "unit": s.progress_unit}


async def import_dataset(db, spec: str | os.PathLike, *, name: str, fmt: str = "auto",
                         mapping: dict | list | None = None, split: str | None = None,
                         skip_bad: bool = False, description: str | None = None,
                         progress: Progress | None = None) -> dict:
    """Import a file, a ``save_to_disk`` folder or a hub id as a new dataset ``name``.

    Returns ``{"id", "name", "format", "kind", "rows", "bad", "bad_examples", "seconds"}``.
    Raises DataError (nothing written) on bad input unless ``skip_bad`` (bad rows counted and
    left out). ``progress(state)`` is called on the event loop about 5 times a second with
    ``{"rows", "bad", "done", "total", "unit"}`` (``unit``: bytes or rows; total may be None).
    """
    t0 = time.perf_counter()
    name = await check_new_name(db, name)
    token = await get_setting(db, "huggingface.token")  # gated/private hub datasets
    plan = await asyncio.to_thread(plan_import, spec, fmt=fmt, mapping=mapping, split=split,
                                   skip_bad=skip_bad, token=token)
    src = plan.source
    hub = src.kind == "hub"
    origin = {"kind": src.kind, "path": src.path if hub else os.path.abspath(src.path),
              "split": src.split}
    details = f"{'hub' if hub else src.kind}:{src.path}" + (f" split={src.split}" if src.split
                                                           else "")

    def report(_n: int) -> dict:
        if plan.good == 0:
            raise src.error(None, "no valid rows to import" + (
                f" ({plan.bad} bad rows, the first: {plan.bad_examples[0]})"
                if plan.bad_examples else ""))
        return {"rows": plan.good, "bad": plan.bad,
                "bad_examples": [str(b) for b in plan.bad_examples]}

    filled = await fill_dataset(
        db, name=name, layout=plan.layout, source="import", source_details=details,
        meta={"origin": origin},
        registry={"type": "huggingface" if hub else "local",
                  "huggingface_name": src.path if hub else None,
                  "location": None if hub else origin["path"], "description": description},
        rows=plan.rows_pipelined(depth=24),  # (parses on through the pauses between chunks)
        report=report, progress=progress, progress_state=lambda: plan_state(plan))
    return {"id": filled["id"], "name": name, "format": plan.layout.format, "kind": src.kind,
            "rows": plan.good, "bad": plan.bad,
            "bad_examples": [str(b) for b in plan.bad_examples],
            "seconds": round(time.perf_counter() - t0, 3)}
