"""What ffui says about a run beyond its row: its dataset by name, and why a queued run waits.

Shared by ``ffui runs show`` and the Runs and run screens, so they say the same thing.
"""

from __future__ import annotations

from ffui.db import Database, get_scrape_session


async def dataset_label(db: Database, run: dict) -> str:
    """``chat (#2)`` for a run trained on dataset 2; says so when that dataset was deleted."""
    dataset_id = str(run.get("dataset_id") or "")
    if not dataset_id:
        return ""
    if run.get("dataset_source") not in (None, "database") or not dataset_id.isdigit():
        return dataset_id  # a file or hub id, stored as its name
    session = await get_scrape_session(db, int(dataset_id))
    if session is None:
        return f"#{dataset_id} (deleted since)"
    return f"{session['name']} (#{dataset_id})" if session.get("name") else f"#{dataset_id}"


def scrape_progress(run: dict) -> str | None:
    """A scrape's progress in its own words (pairs, not steps; no loss); None for other runs."""
    if (run.get("metadata") or {}).get("kind") != "scrape":
        return None
    last = (run.get("metrics") or {}).get("last") or {}
    return (f"{last.get('pairs', 0)} pairs from {last.get('items', 0)} items, {last.get('requests', 0)} "
            f"requests, {last.get('waited_s', 0)} s waiting for rate limits")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


async def queue_places(db: Database) -> dict[int, tuple[int, str]]:
    """For each pending run: its place in the queue (1 starts next) and why it waits, in words."""
    from ffui.jobs.manager import concurrency_rule

    pending = [r["id"] for r in await db.fetchall("SELECT id FROM training_runs WHERE status = 'pending' ORDER BY id")]
    if not pending:
        return {}
    limit, rule = await concurrency_rule(db)
    running = await db.scalar("SELECT COUNT(*) FROM training_runs WHERE status = 'running'")
    if running < limit:
        why = f"a slot is free ({rule}); it starts at the next ffui command or when a run ends"
    else:
        slots = "the only slot" if limit == 1 else f"all {limit} slots"
        why = f"{running} run{' uses' if running == 1 else 's use'} {slots} ({rule})"
    return {run_id: (place, f"waiting: {ordinal(place)} in the queue; {why}")
            for place, run_id in enumerate(pending, start=1)}


def pod_text(run: dict, short: bool = False) -> str:
    """A RunPod run's pod in words: 'pod abc on NVIDIA A40, $0.39/hr, $0.12 so far: training'
    (``short``: 'pod training, $0.12', for a line that has more to say)."""
    if not run.get("pod_id") and not run.get("pod_stage"):
        return ""
    if short:
        cost = f", ${float(run['pod_cost']):.2f}" if run.get("pod_cost") is not None else ""
        return f"pod {run.get('pod_stage') or 'creating'}{cost}"
    words = f"pod {run.get('pod_id') or '(being made)'}"
    if run.get("pod_gpu"):
        words += f" on {run['pod_gpu']}"
    if run.get("pod_cost_per_hr") is not None:
        words += f", ${float(run['pod_cost_per_hr']):.2f}/hr"
    if run.get("pod_cost") is not None:
        words += f", ${float(run['pod_cost']):.2f} so far" if run.get("pod_stage") != "terminated" \
            else f", cost ${float(run['pod_cost']):.2f}"
    return words + (f": {run['pod_stage']}" if run.get("pod_stage") else "")
