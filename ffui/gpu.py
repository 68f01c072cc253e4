"""GPU facts for the UI and the CLI: utilisation, memory, temperature and power per GPU.

Read through NVML (the ``pynvml`` module of the nvidia-ml-py package), imported lazily so
that importing ffui never pays for it and a machine without the package, the driver or a
GPU gets an honest "no GPU" state with the reason instead of an exception. Every call
here blocks (NVML talks to the driver): the UI calls ``probe_gpus`` from a thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    util_pct: int | None = None
    mem_used_mb: int | None = None
    mem_total_mb: int | None = None
    temp_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None


@dataclass(frozen=True)
class GpuState:
    gpus: list[GpuInfo] = field(default_factory=list)
    reason: str = ""  # why there is no GPU (empty when there are GPUs)

    @property
    def available(self) -> bool:
        return bool(self.gpus)


_lock = threading.Lock()
_nvml: Any = None  # the pynvml module once nvmlInit succeeded
_failure: str | None = None  # why NVML cannot be used; decided once per process


def _init() -> tuple[Any, str | None]:
    """Initialise NVML once: nvmlInit costs tens of milliseconds and its failure is permanent."""
    global _nvml, _failure
    with _lock:
        if _nvml is not None or _failure is not None:
            return _nvml, _failure
        try:
            import pynvml
        except ImportError:
            _failure = "nvidia-ml-py is not installed"
            return None, _failure
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # NVMLError subclasses; any failure means "no usable GPU"
            text = str(exc) or exc.__class__.__name__
            _failure = "no NVIDIA driver" if "Library Not Found" in text or "Driver Not Loaded" in text else f"NVML: {text}"
            return None, _failure
        _nvml = pynvml
        return _nvml, None


def _read(fn, *args, default=None):
    """One NVML field; a GPU that does not report a field (power on some boards) gives None."""
    try:
        return fn(*args)
    except Exception:
        return default


def _device(nvml: Any, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _read(nvml.nvmlDeviceGetName, handle, default=f"GPU {index}")
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    util = _read(nvml.nvmlDeviceGetUtilizationRates, handle)
    mem = _read(nvml.nvmlDeviceGetMemoryInfo, handle)
    temp = _read(nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
    power = _read(nvml.nvmlDeviceGetPowerUsage, handle)
    limit = _read(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    return GpuInfo(
        index=index,
        name=str(name).replace("NVIDIA ", ""),
        util_pct=getattr(util, "gpu", None),
        mem_used_mb=mem.used // 2**20 if mem is not None else None,
        mem_total_mb=mem.total // 2**20 if mem is not None else None,
        temp_c=temp,
        power_w=power / 1000 if power is not None else None,
        power_limit_w=limit / 1000 if limit is not None else None,
    )


def probe_gpus() -> GpuState:
    """Every GPU NVML sees, or no GPU with the reason. Never raises."""
    nvml, failure = _init()
    if nvml is None:
        return GpuState(reason=failure or "no GPU")
    try:
        count = nvml.nvmlDeviceGetCount()
        gpus = [_device(nvml, i) for i in range(count)]
    except Exception as exc:
        return GpuState(reason=f"NVML: {exc}")
    return GpuState(gpus=gpus, reason="" if gpus else "no GPU")


def summary(state: GpuState) -> str:
    """One short phrase for a header: 'no GPU', '1x A100 37% 20/80G', '4x H100 avg 12%'."""
    if not state.gpus:
        return "no GPU"
    first = state.gpus[0]
    n = len(state.gpus)
    utils = [g.util_pct for g in state.gpus if g.util_pct is not None]
    util = f" {round(sum(utils) / len(utils))}%" if utils else ""
    used = sum(g.mem_used_mb or 0 for g in state.gpus) / 1024
    total = sum(g.mem_total_mb or 0 for g in state.gpus) / 1024
    mem = f" {used:.0f}/{total:.0f}G" if total else ""
    return f"{n}x {first.name}{util}{mem}"


def reset_for_tests() -> None:
    """Forget the cached NVML state (tests swap in a fake pynvml)."""
    global _nvml, _failure
    with _lock:
        _nvml, _failure = None, None
