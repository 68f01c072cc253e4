"""What a run on RunPod asks for (GPU types, count, cloud, cost limit, image), and the settings
the RunPod executor reads, each checked once with one line per problem.

A run's choices are resolved when it is created (``ffui train --on runpod``, the Train form) and
kept in its row as ``metadata.runpod``, so a resume asks for the same pod.
"""

from __future__ import annotations

import re
from typing import Any

from ffui.errors import FfuiError

DEFAULT_GPU = "NVIDIA A40"
DEFAULT_IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
DEFAULT_PROXY_URL = "https://{pod_id}-{port}.proxy.runpod.net"
CLOUDS = {"all": "ALL", "secure": "SECURE", "community": "COMMUNITY"}
GPU_NAME = re.compile(r"[A-Za-z0-9 ._-]{2,60}")
IMAGE_NAME = re.compile(r"[A-Za-z0-9._/:@-]{1,200}")

# setting -> (default, meaning); each a number of seconds unless said otherwise
RUNTIME_SETTINGS: dict[str, tuple[Any, str]] = {
    "runpod.proxy_url": (DEFAULT_PROXY_URL, "how the pod's agent port is reached"),
    "runpod.start_deadline_s": (1200.0, "a pod whose image has not started by then is ended"),
    "runpod.unreachable_s": (300.0, "an agent silent (or answering 5xx) this long fails the run"),
    "runpod.capacity_backoff_s": (20.0, "wait before asking again when no GPU type has capacity"),
    "runpod.capacity_rounds": (3, "rounds through the GPU list before giving up"),
    "runpod.cost_poll_s": (15.0, "how often the pod's cost so far is asked for"),
    "runpod.agent_silence_s": (3600.0, "the pod ends itself after its supervisor is silent this long"),
    "runpod.max_hours": (72.0, "the pod ends itself after running this long"),
    "runpod.disk_gb": (40, "the pod's container disk, in GB"),
}


class OptionError(FfuiError):
    pass


def gpu_list(gpu: str | None, fallback: str | None, default: str | None) -> list[str]:
    names = [gpu or default or DEFAULT_GPU] + [g.strip() for g in (fallback or "").split(",") if g.strip()]
    for name in names:
        if not GPU_NAME.fullmatch(name):
            raise OptionError(f"GPU type {name[:40]!r} is not a RunPod GPU name like 'NVIDIA A40' "
                              "(see: ffui pods gpus)")
    return list(dict.fromkeys(names))


async def resolve(db, *, gpu: str | None = None, fallback: str | None = None, gpu_count: int | None = None,
                  cloud: str | None = None, max_cost: float | None = None, image: str | None = None) -> dict:
    """The run's pod choices (``metadata.runpod``), with defaults from the runpod.* settings."""
    from ffui.db import get_setting

    gpus = gpu_list(gpu, fallback, await get_setting(db, "runpod.gpu"))
    count = int(gpu_count or 1)
    if not 1 <= count <= 8:
        raise OptionError(f"--gpu-count must be 1 to 8, got {count}")
    cloud_word = (cloud or await get_setting(db, "runpod.cloud") or "all").lower()
    if cloud_word not in CLOUDS:
        raise OptionError(f"--cloud must be secure, community or all, got {cloud_word!r}")
    if max_cost is None and await get_setting(db, "runpod.max_cost"):
        max_cost = float(await get_setting(db, "runpod.max_cost"))
    if max_cost is not None and max_cost <= 0:
        raise OptionError(f"--max-cost must be a positive number of dollars, got {max_cost}")
    image = image or await get_setting(db, "runpod.image") or DEFAULT_IMAGE
    if not IMAGE_NAME.fullmatch(image):
        raise OptionError(f"--image {image[:40]!r} is not a container image name like {DEFAULT_IMAGE}")
    return {"gpus": gpus, "gpu_count": count, "cloud": CLOUDS[cloud_word], "max_cost": max_cost, "image": image}


async def runtime_settings(db) -> dict[str, Any]:
    """The executor's settings (RUNTIME_SETTINGS), a bad stored value read as its default."""
    from ffui.db import get_setting

    out: dict[str, Any] = {}
    for key, (default, _) in RUNTIME_SETTINGS.items():
        raw = await get_setting(db, key)
        try:
            out[key] = type(default)(raw) if raw not in (None, "") else default
        except (TypeError, ValueError):
            out[key] = default
    return out


async def run_metadata(db, **choices: Any) -> dict:
    """A RunPod run's ``metadata``: the executor and its pod choices (``resolve``), the key
    checked with RunPod first, so a run that cannot start is one line now, not a failed run later."""
    import asyncio

    from ffui.runpod.api import account

    resolved = await resolve(db, **choices)
    await asyncio.to_thread((await account(db)).pods)  # (off the UI's event loop: the SDK blocks)
    return {"executor": "runpod", "runpod": resolved}
