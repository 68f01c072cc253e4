"""The job machinery's settings, each read and checked in one place (a bad value: its default)."""

from __future__ import annotations

from typing import Any

from ffui.db import Database, get_setting
from ffui.jobs import health

CANCEL_GRACE_S = 30.0


async def _seconds(db: Database, key: str, default: float) -> float:
    try:
        value = float(await get_setting(db, key) or 0)
    except ValueError:
        return default
    return value if value > 0 else default


async def cancel_grace_s(db: Database) -> float:
    """jobs.cancel_grace_s: how long a cancelled worker gets to save a checkpoint before it is killed."""
    return await _seconds(db, "jobs.cancel_grace_s", CANCEL_GRACE_S)


async def supervisor_stale_s(db: Database) -> float:
    """jobs.supervisor_stale_s: a live supervisor silent this long is stopped or wedged."""
    return await _seconds(db, "jobs.supervisor_stale_s", health.SUPERVISOR_STALE_S)


async def stall_settings(db: Database) -> dict[str, Any]:
    """jobs.stall_s, jobs.stall_slow_s (model load, checkpoint save) and jobs.stall_action (warn|fail)."""
    action = str(await get_setting(db, "jobs.stall_action") or "warn").strip().lower()
    return {"stall_s": await _seconds(db, "jobs.stall_s", health.STALL_S),
            "slow_s": await _seconds(db, "jobs.stall_slow_s", health.STALL_SLOW_S),
            "action": action if action in health.STALL_ACTIONS else "warn"}
