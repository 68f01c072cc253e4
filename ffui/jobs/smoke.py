"""`ffui doctor --smoke`: train the tiny model a few steps with each backend usable here.

Each backend that the probe (ffui.jobs.doctor) says can work is trained for real, by the real
trainer command (``python -m ffui.train``, or its ``accelerate launch`` for several GPUs), in a
temporary run directory; its events say whether it ran, its tokens/s and its peak memory. A
backend that cannot work here gets its row too, with the reason. Nothing touches the network
(the tiny model is built locally; HF_HUB_OFFLINE is set) or the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ffui.jobs.doctor import Probe
from ffui.train.launch import build_trainer_command

STEPS = 6
RUN_TIMEOUT_S = 600.0
FACTS = [("What is the capital of France?", "Paris."), ("What colour is the sky?", "Blue."),
         ("How many legs does a cat have?", "Four."), ("What do bees make?", "Honey.")]
CONFIG = {"max_steps": STEPS, "learning_rate": 1e-3, "lora_r": 8, "lora_alpha": 16, "per_device_train_batch_size": 2,
          "max_seq_len": 64, "logging_steps": 1, "save_steps": 10_000, "seed": 1}


@dataclass
class Backend:
    name: str
    config: dict  # on top of CONFIG
    processes: int = 1


@dataclass
class SmokeRow:
    backend: str
    ran: bool
    reason: str = ""  # why it did not run, or how it failed
    tokens_per_s: float | None = None
    peak_mem_mb: float | None = None


BACKENDS = (
    Backend("cpu", {"backend": "cpu", "num_gpu": 0}),
    Backend("peft on CUDA", {"backend": "peft", "num_gpu": 1}),
    Backend("4-bit QLoRA", {"backend": "peft", "method": "qlora", "num_gpu": 1}),
    Backend("unsloth", {"backend": "unsloth", "num_gpu": 1}),
    Backend("several GPUs (DDP)", {"backend": "peft", "num_gpu": 2}, processes=2),
)


def unavailable_reason(backend: Backend, found: Probe) -> str:
    """Why ``backend`` cannot run here ('' when it can), from what the probe found."""
    for module in ("torch", "transformers", "peft"):
        if not found.imports(module):
            return f"{module}: {found.why_not(module)}"
    if backend.config.get("num_gpu", 0) == 0:
        return ""
    if not found.cuda.get("available"):
        return f"no CUDA: {found.cuda.get('reason') or 'torch sees no GPU'}"
    if backend.config.get("method") == "qlora" and not found.imports("bitsandbytes"):
        return f"bitsandbytes: {found.why_not('bitsandbytes')}"
    if backend.config.get("backend") == "unsloth" and not found.imports("unsloth"):
        return f"unsloth: {found.why_not('unsloth')}"
    if backend.processes > 1:
        gpus = len(found.cuda.get("devices") or [])
        if gpus < backend.processes:
            return f"needs {backend.processes} GPUs, {gpus} visible"
        if not found.imports("accelerate"):
            return f"accelerate: {found.why_not('accelerate')}"
    return ""


def smoke(found: Probe, report=lambda row: None) -> list[SmokeRow]:
    """One row per backend, in BACKENDS order; ``report`` hears each row as soon as it is known."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="ffui-smoke-") as tmp:
        model, failure = None, ""
        for backend in BACKENDS:
            reason = unavailable_reason(backend, found)
            if reason:
                row = SmokeRow(backend.name, False, f"unavailable: {reason}")
            else:
                if model is None and not failure:
                    model, failure = _tiny_model(Path(tmp))
                row = _train(Path(tmp), backend, model) if model else SmokeRow(backend.name, False, failure)
            rows.append(row)
            report(row)
    return rows


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}  # nothing here needs a token
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}


def _tiny_model(tmp: Path) -> tuple[Path | None, str]:
    """The tiny model built here (no hub), or None and why it could not be built."""
    target = tmp / "tiny-model"
    try:
        proc = subprocess.run([sys.executable, "-m", "ffui.train.tiny", str(target)], capture_output=True,
                              text=True, env=_env(), timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "failed: building the tiny model took too long"
    if proc.returncode != 0:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["?"]
        return None, f"failed: building the tiny model: {last[0][:160]}"
    return target, ""


def _train(tmp: Path, backend: Backend, model: Path) -> SmokeRow:
    run_dir = tmp / backend.name.split()[0]
    run_dir.mkdir()
    config = {**CONFIG, **backend.config, "base_model": str(model)}
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "dataset.jsonl").write_text("".join(json.dumps({"input": q, "output": a}) + "\n"
                                                   for _ in range(4) for q, a in FACTS))
    command = build_trainer_command(run_dir, config["num_gpu"], num_processes=backend.processes
                                    if backend.processes > 1 else 0)
    env = _env()
    if backend.processes == 1 and config["num_gpu"] == 1:  # one GPU's numbers, not DataParallel over all
        env["CUDA_VISIBLE_DEVICES"] = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0]
    with open(run_dir / "train.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            return SmokeRow(backend.name, False, f"failed: no result in {RUN_TIMEOUT_S:.0f} s")
    return _row(backend.name, run_dir, proc.returncode)


def _row(name: str, run_dir: Path, status: int) -> SmokeRow:
    events = []
    for line in (run_dir / "events.jsonl").read_text().splitlines() if (run_dir / "events.jsonl").exists() else []:
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    steps = [e for e in events if e.get("type") == "step"]
    rates = [e["tokens_per_s"] for e in steps if isinstance(e.get("tokens_per_s"), (int, float))]
    mems = [e["mem_mb"] for e in steps if isinstance(e.get("mem_mb"), (int, float))]
    if any(e.get("type") == "done" for e in events):
        return SmokeRow(name, True, "", rates[-1] if rates else None, max(mems) if mems else None)
    error = next((e for e in reversed(events) if e.get("type") == "error"), None)
    if error:
        return SmokeRow(name, False, f"failed: {error.get('message')}")
    tail = (run_dir / "train.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return SmokeRow(name, False, f"failed (exit status {status}): {tail[0][:160]}")
