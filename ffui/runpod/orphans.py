"""The account's ffui pods against this home's runs: which pod is whose, and which belongs to no
running run (an orphan: it bills, and nothing will end it).

A pod is named ``ffui-<run uuid>``. Its run's supervisor owns it while the run is running (it
terminates a namesake it did not record before making its own), so only pods whose run has
ended, or whose run this home does not have, are orphans. ``ffui pods list`` shows them and
every ``ffui`` start warns about them (``reconcile``); ``ffui pods terminate --orphans`` ends them.
"""

from __future__ import annotations

import time

from ffui.runpod.api import NAME_PREFIX, RunPod, RunPodError, account

CHECK_EVERY_S = 600  # reconcile asks RunPod at most this often (a network call at every start costs)
CHECKED_KEY = "runpod.orphans_checked_at"


async def pods_with_runs(db, rp: RunPod) -> list[dict]:
    """Each ffui pod on the account with ``run`` (its run's id, name and status, or None) and
    ``orphan``."""
    out = []
    for pod in rp.ffui_pods():
        uuid = str(pod["name"])[len(NAME_PREFIX):]
        run = await db.fetchone("SELECT id, name, status, pod_id FROM training_runs WHERE job_uuid = ?", (uuid,))
        orphan = run is None or run["status"] != "running"
        out.append({**pod, "run": run, "orphan": orphan})
    return out


async def reconcile_orphans(db) -> list[dict]:
    """The orphans, asked of RunPod at most every CHECK_EVERY_S and only for a home that has run
    on RunPod; [] when there is no key or RunPod does not answer (a start is never held up)."""
    from ffui.db import get_state, set_state

    used = await db.scalar("SELECT 1 FROM training_runs WHERE json_extract(metadata_json, '$.executor') = 'runpod' "
                           "LIMIT 1")
    if not used:
        return []
    checked = float(await get_state(db, CHECKED_KEY) or 0)
    unfinished = await db.scalar("SELECT 1 FROM training_runs WHERE pod_id IS NOT NULL AND status != 'running' "
                                 "AND COALESCE(pod_stage, '') != 'terminated' LIMIT 1")
    if time.time() - checked < CHECK_EVERY_S and not unfinished:
        return []
    try:
        rp = await account(db)
        found = [p for p in await pods_with_runs(db, rp) if p["orphan"]]
    except RunPodError:
        return []
    await set_state(db, CHECKED_KEY, str(time.time()))
    return found
