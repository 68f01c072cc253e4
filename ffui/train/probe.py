"""`python -m ffui.train.probe MODULE...`: import each module and say how it went, for `ffui doctor`.

It runs as a child of the CLI so that the CLI stays light (no torch in its process) and an
import that crashes the interpreter (a CUDA library that segfaults, a kernel build that aborts)
takes down only this child. Output: one JSON object per line, flushed as it goes, so the parent
knows which import was under way when a crash came and can go on with the rest in a new child:

    {"module": "torch", "importing": true}
    {"module": "torch", "version": "2.5.1", "ok": true}
    {"module": "unsloth", "version": null, "ok": false, "error": "not installed"}
    {"cuda": {"available": false, "reason": "...", "torch_cuda": null, "driver": null, "devices": []}}

The last line (CUDA as torch sees it) comes only when torch was among the modules.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import sys
import warnings

# module -> its distribution on PyPI (the name pip and importlib.metadata know it by)
DISTRIBUTIONS = {"flash_attn": "flash-attn", "pynvml": "nvidia-ml-py"}


def _say(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def _version(module: str) -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTIONS.get(module, module))
    except importlib.metadata.PackageNotFoundError:
        return None


def probe_import(module: str) -> dict:
    """Import ``module``; what happened, in a line the doctor can print."""
    version = _version(module)
    if importlib.util.find_spec(module) is None:
        return {"module": module, "version": version, "ok": False, "error": "not installed"}
    _say({"module": module, "importing": True})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(module)
    except BaseException as e:  # unsloth raises NotImplementedError without a GPU; some raise SystemExit
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        return {"module": module, "version": version, "ok": False, "error": f"{type(e).__name__}: {first}".rstrip(": ")}
    return {"module": module, "version": version, "ok": True}


def cuda_facts() -> dict:
    """CUDA as torch sees it (the trainer's view), with the driver version from NVML if it answers."""
    import torch

    facts = {"available": False, "reason": "", "torch_cuda": torch.version.cuda, "driver": _driver(), "devices": []}
    if torch.version.cuda is None:
        facts["reason"] = f"this torch ({torch.__version__}) is a CPU-only build"
    elif not torch.cuda.is_available():
        facts["reason"] = "torch finds no usable CUDA device (no NVIDIA driver or GPU, or CUDA_VISIBLE_DEVICES hides them)"
    else:
        facts["available"] = True
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            facts["devices"].append({"name": props.name, "memory_mb": props.total_memory // 2**20,
                                     "bf16": bool(torch.cuda.is_bf16_supported())})
    return facts


def _driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # no package, no driver: the doctor says "unknown"
        return None


def main(argv: list[str]) -> int:
    for module in argv:
        _say(probe_import(module))
    if "torch" in argv and importlib.util.find_spec("torch") is not None:
        try:
            _say({"cuda": cuda_facts()})
        except Exception as e:
            _say({"cuda": {"available": False, "reason": f"{type(e).__name__}: {e}"[:200], "devices": []}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
