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


# ---- where to run, in a saved config --------------------------------------------------------
# A config may carry where its runs train, under the names of `ffui train`'s flags (``on: runpod``,
# ``gpu``, ``gpu_fallback``, ``gpu_count``, ``cloud``, ``max_cost``, ``image``), beside the training
# settings. They are split off where a run is made (``split_placement``): they become the run's
# ``metadata`` (``run_metadata``), and the worker's config.json never holds them.

PLACEMENT_HELP = {  # key -> what it means, as `ffui configs keys` lists it
    "on": "where it trains: local (this machine) or runpod (a RunPod pod); ffui train --on overrides",
    "gpu": "RunPod GPU type, e.g. 'NVIDIA A40' (default: setting runpod.gpu; see ffui pods gpus)",
    "gpu_fallback": "RunPod GPU types to try, in order, when gpu has no capacity ('A,B' or a list)",
    "gpu_count": "GPUs in the pod, 1 to 8 (several: accelerate launch)",
    "cloud": "RunPod cloud: secure, community or all",
    "max_cost": "dollars: the run stops with a checkpoint once its pod has cost this much",
    "image": "the pod's container image (default: setting runpod.image)",
}
PLACEMENT_KEYS = tuple(PLACEMENT_HELP)
POD_KEYS = PLACEMENT_KEYS[1:]
_CHOICE_NAMES = {"gpu_fallback": "fallback"}  # the config's key -> resolve()'s argument


def split_placement(cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the training settings, where to run) of a config; the second checked, its values typed
    (``--set gpu_count=2`` arrives as text). Raises OptionError naming every bad value."""
    settings = {k: v for k, v in cfg.items() if k not in PLACEMENT_KEYS}
    placement, problems = {}, []
    for key in PLACEMENT_KEYS:
        if cfg.get(key) is None:
            continue
        try:
            placement[key] = _placement_value(key, cfg[key])
        except ValueError as e:
            problems.append(f"{key} {e}")
    if problems:
        raise OptionError("; ".join(problems))
    return settings, placement


def unused_pod_keys(placement: dict[str, Any]) -> str | None:
    """What is wrong with pod choices in a config that does not say on: runpod (they would do
    nothing); None when there is nothing to say."""
    keys = [k for k in POD_KEYS if k in placement]
    if not keys or placement.get("on") == "runpod":
        return None
    return (f"{', '.join(keys)} {'is a RunPod choice' if len(keys) == 1 else 'are RunPod choices'}, "
            "for runs with on=runpod")


def pod_choices(placement: dict[str, Any]) -> dict[str, Any]:
    """A placement's pod keys as ``resolve``'s (and ``run_metadata``'s) arguments."""
    return {_CHOICE_NAMES.get(k, k): placement[k] for k in POD_KEYS if k in placement}


def _placement_value(key: str, value: Any) -> Any:
    if key == "gpu_count":
        count = _number(value, int, "a whole number of GPUs, 1 to 8")
        if not 1 <= count <= 8:
            raise ValueError(f"must be 1 to 8, got {count}")
        return count
    if key == "max_cost":
        cost = _number(value, float, "a number of dollars, e.g. 5.00")
        if not cost > 0:
            raise ValueError(f"must be a positive number of dollars, got {cost}")
        return cost
    if key == "gpu_fallback" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ",".join(value)  # YAML's list of GPU types, as the flag's TYPE,TYPE
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a text value, got {value!r}"[:120])
    value = value.strip()
    if key == "on" and value.lower() not in ("local", "runpod"):
        raise ValueError(f"must be local or runpod, got {value[:40]!r}")
    if key == "cloud" and value.lower() not in CLOUDS:
        raise ValueError(f"must be secure, community or all, got {value[:40]!r}")
    return value.lower() if key in ("on", "cloud") else value


def _number(value: Any, kind: type, what: str) -> Any:
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")) or (kind is int and not number.is_integer()):
        raise ValueError(f"must be {what}, got {str(value)[:40]!r}")
    return kind(number)
