"""What this machine can train with, found out in a minute instead of an hour (`ffui doctor`).

Every check returns a :class:`Check` (a yes, a no, or "not checked", with the reason in words)
and never raises: a doctor that crashes on the broken machine it was asked about is no help.
Imports of the training libraries happen in a child process (``python -m ffui.train.probe``):
this process stays light, and an import that kills its interpreter (a CUDA library that
segfaults) costs only that package's line, not the report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# The training stack in the order the trainer imports it (unsloth before transformers: it patches it).
PACKAGES = ("torch", "unsloth", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "flash_attn",
            "deepspeed")
PROBE_TIMEOUT_S = 300.0  # unsloth and bitsandbytes compile or load kernels on their first import
NETWORK_TIMEOUT_S = 10.0
LOW_DISK_BYTES = 30 << 30  # a 7B base in the hub cache, its checkpoints and an adapter


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not checked, or not applicable here
    detail: str


@dataclass
class Probe:
    """What the child process found: each module's import, and CUDA as torch sees it."""

    modules: dict[str, dict] = field(default_factory=dict)  # module -> {version, ok, error}
    cuda: dict = field(default_factory=dict)

    def imports(self, module: str) -> bool:
        return bool(self.modules.get(module, {}).get("ok"))

    def why_not(self, module: str) -> str:
        return self.modules.get(module, {}).get("error") or "not probed"


def probe(modules: tuple[str, ...] = PACKAGES, timeout: float = PROBE_TIMEOUT_S) -> Probe:
    """Import each module in a child; a child that dies or hangs on one goes on in a new child."""
    found = Probe()
    left = list(modules)
    while left:
        lines, status = _run_probe(left, timeout)
        importing = None
        for obj in lines:
            if "cuda" in obj:
                found.cuda = obj["cuda"]
            elif obj.get("importing"):
                importing = obj["module"]
            elif "module" in obj:
                found.modules[obj["module"]] = obj
                importing = None
        if status == 0 or importing is None:
            break
        found.modules[importing] = {"module": importing, "version": None, "ok": False,
                                    "error": _death(status)}
        left = left[left.index(importing) + 1:]
    for module in modules:  # a child that died before it began says so for what it never reached
        found.modules.setdefault(module, {"module": module, "version": None, "ok": False,
                                          "error": "not probed (the probe process failed)"})
    if not found.cuda and "torch" in modules:
        reason = (f"torch: {found.why_not('torch')}" if not found.imports("torch")
                  else "asking torch about CUDA ended the probe process (a broken driver or CUDA install?)")
        found.cuda = {"available": False, "reason": reason, "devices": []}
    return found


def _run_probe(modules: list[str], timeout: float) -> tuple[list[dict], int | None]:
    """The probe's JSON lines and its exit status (None: it hung and was killed)."""
    cmd = [sys.executable, "-m", "ffui.train.probe", *modules]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1"))
        out, status = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out, status = e.stdout or b"", None
    lines = []
    for raw in out.decode("utf-8", "replace").splitlines():
        try:
            obj = json.loads(raw)
        except ValueError:
            continue  # a library printing on import
        if isinstance(obj, dict):
            lines.append(obj)
    return lines, status


def _death(status: int | None) -> str:
    if status is None:
        return "its import hung (killed after the probe's time limit)"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"its import crashed the interpreter ({name})"
    return f"its import ended the interpreter (exit status {status})"


# ---- the machine -----------------------------------------------------------------------------


def cuda_check(found: Probe) -> Check:
    cuda = found.cuda
    driver = cuda.get("driver")
    if not cuda.get("available"):
        reason = cuda.get("reason") or "no CUDA"
        return Check("CUDA", False, f"unavailable: {reason}" + (f"; NVIDIA driver {driver}" if driver else ""))
    n = len(cuda.get("devices") or [])
    return Check("CUDA", True, f"CUDA {cuda.get('torch_cuda')} in torch, driver {driver or 'unknown'}, "
                               f"{n} GPU{'s' if n != 1 else ''} usable")


def gpu_checks(found: Probe) -> list[Check]:
    """Each GPU with its memory: NVML's view (used/total now), else torch's (total)."""
    from ffui.gpu import probe_gpus

    state = probe_gpus()
    if state.gpus:
        return [Check(f"GPU {g.index}", True, f"{g.name}, {_gb(g.mem_total_mb)} GB"
                      + (f" ({_gb(g.mem_used_mb)} GB in use)" if g.mem_used_mb is not None else ""))
                for g in state.gpus]
    devices = found.cuda.get("devices") or []
    if devices:
        return [Check(f"GPU {i}", True, f"{d['name']}, {_gb(d['memory_mb'])} GB") for i, d in enumerate(devices)]
    return [Check("GPUs", None, f"none found ({state.reason})")]


def _gb(mb: int | None) -> str:
    return "?" if mb is None else f"{mb / 1024:.1f}"


def package_checks(found: Probe) -> list[Check]:
    from ffui.train.probe import DISTRIBUTIONS

    checks = []
    for module, info in found.modules.items():
        name = DISTRIBUTIONS.get(module, module)
        version = info.get("version") or "-"
        if info.get("ok"):
            checks.append(Check(name, True, f"{version}, imports"))
        elif info.get("error") == "not installed":
            checks.append(Check(name, None, "not installed"))
        else:
            checks.append(Check(name, False, f"{version}, does not import: {info.get('error')}"))
    return checks


def disk_check(home: Path) -> Check:
    where = Path(home).absolute()
    while not where.exists() and where != where.parent:  # a home not made yet: the disk it will be on
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError as e:
        return Check("disk", None, f"cannot tell the free space in {where}: {e.strerror or e}")
    detail = f"{free / 2**30:.1f} GB free in {where}"
    if free < LOW_DISK_BYTES:
        return Check("disk", False, detail + f" (a 7B base model with its checkpoints needs about "
                                              f"{LOW_DISK_BYTES >> 30} GB: free some space)")
    return Check("disk", True, detail)


# ---- services --------------------------------------------------------------------------------


def _in_thread(fn: Callable[[], Any], timeout: float) -> Any:
    """fn()'s result, or the exception it raised, or TimeoutError: a hung socket must not hang the doctor."""
    box: list[Any] = []

    def go() -> None:
        try:
            box.append(fn())
        except BaseException as e:  # handed to the caller, who words it
            box.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else TimeoutError(f"no answer in {timeout:.0f} s")


def hub_checks(token: str | None, timeout: float = NETWORK_TIMEOUT_S) -> list[Check]:
    """Is the Hugging Face hub (HF_ENDPOINT) reachable, and is the token valid there?"""
    from ffui.train.backends import hub_reachable

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return [Check("hub", None, f"{endpoint}: not checked (HF_HUB_OFFLINE is set): only local and "
                                   "already downloaded models can be trained")]
    if not hub_reachable(timeout=timeout / 2):
        return [Check("hub", False, f"{endpoint} is unreachable: only local and already downloaded models can "
                                    "be trained"),
                Check("hub token", None, "not checked (no hub)" if token else "none set")]
    checks = [Check("hub", True, f"{endpoint} reachable")]
    if not token:
        return checks + [Check("hub token", None, "none set: public models only "
                                                  "(gated ones: ffui settings set huggingface.token)")]
    from huggingface_hub import HfApi

    answer = _in_thread(lambda: HfApi(endpoint=endpoint).whoami(token=token), timeout)
    if isinstance(answer, dict):
        return checks + [Check("hub token", True, f"valid (user {answer.get('name') or '?'})")]
    status = getattr(getattr(answer, "response", None), "status_code", None)
    if status in (401, 403):
        return checks + [Check("hub token", False, f"invalid: the hub refused it ({status}); set a valid one with: "
                                                   "ffui settings set huggingface.token")]
    return checks + [Check("hub token", None, f"not checked: {_first_line(answer)}")]


def runpod_check(key: str | None, timeout: float = NETWORK_TIMEOUT_S) -> Check:
    """Does RunPod accept the key? Asked only when a key is set."""
    import importlib.util

    if not key:
        return Check("runpod", None, "no key set (to train on RunPod: ffui settings set runpod.api_key)")
    try:
        from ffui.runpod.api import check_key  # the one module that talks to RunPod, where it exists
    except ImportError:
        check_key = None
    if check_key is not None:
        answer = _in_thread(lambda: check_key(key), timeout)
        if isinstance(answer, BaseException):
            return Check("runpod", None, f"key not checked: {_first_line(answer)}")
        ok, detail = answer
        return Check("runpod", ok, detail)
    if importlib.util.find_spec("runpod") is None:
        return Check("runpod", None, "key set, not checked: the runpod package is not installed "
                                     "(pip install 'ffui[runpod]')")
    return _runpod_sdk_check(key, timeout)


def _runpod_sdk_check(key: str, timeout: float) -> Check:
    """The SDK posts GraphQL to RUNPOD_API_BASE_URL (default https://api.runpod.io) with the key
    in a header; listing GPU types is the cheapest call that needs a valid key."""
    import runpod

    runpod.api_key = key
    answer = _in_thread(runpod.get_gpus, timeout)
    if isinstance(answer, list):
        return Check("runpod", True, f"key valid ({len(answer)} GPU types offered)")
    if type(answer).__name__ == "AuthenticationError" or "unauthorized" in str(answer).lower():
        return Check("runpod", False, "key invalid: RunPod refused it; set a valid one with: "
                                      "ffui settings set runpod.api_key")
    return Check("runpod", None, f"key not checked: {_first_line(answer)}")


def _first_line(e: Any) -> str:
    text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
