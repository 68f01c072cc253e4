"""What goes up to a pod: one tar.gz of its work directory, and the start command that brings
the agent to life.

The work directory holds ``run/`` (the run's config.json, its dataset, the checkpoint a resume
starts from), ``pkg/`` (ffui's worker package: ``ffui.train`` is a leaf for this reason, so it
is uploaded rather than pip-installed, with the shared leaves it imports), ``model/`` (a base
model that is a local directory) and ``job.json`` (the command, the packages the worker needs,
its environment). Paths in config.json name ``{pod_workdir}``, which the agent replaces with its
own work directory on arrival.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import sys
import tarfile
from importlib import metadata, resources
from pathlib import Path

POD_DIR = "{pod_workdir}"
LEAVES = ("__init__", "events", "errors", "procs", "paths", "prompt_fill", "bounded", "fmt")
FAKE_WORKER = "ffui.jobs.fake_worker"
SKIP = re.compile(r"(__pycache__|\.pyc$)")


def start_command() -> str:
    """The pod's start command: the agent, gzipped and base64-encoded (the SDK escapes nothing,
    and base64 has no quote, backslash or newline), written into the work directory and run."""
    source = resources.files("ffui.runpod").joinpath("agent.py").read_bytes()
    blob = base64.b64encode(gzip.compress(source, mtime=0)).decode()
    return ("bash -c 'mkdir -p $FFUI_POD_WORKDIR && echo " + blob + " | base64 -d | gunzip > "
            "$FFUI_POD_WORKDIR/agent.py && exec python3 $FFUI_POD_WORKDIR/agent.py'")


def pod_command(command: list[str], run_dir: Path) -> list[str]:
    """The worker's command as the pod runs it: its Python and its run directory."""
    local = str(run_dir)
    return ["{python}" if word == sys.executable else word.replace(local, "{run}") for word in command]


def packages(command: list[str]) -> list[tuple[str, str]]:
    """(import name, pip requirement) of what the worker imports: the ``train`` extra, for the
    trainer; the fake worker needs only PyYAML (ffui.bounded)."""
    wanted = [("yaml", "pyyaml>=6.0")]
    if FAKE_WORKER in command:
        return wanted
    for req in metadata.requires("ffui") or []:
        if "extra == \"train\"" in req or "extra == 'train'" in req:
            spec = req.split(";", 1)[0].strip()
            wanted.append((re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].replace("-", "_"), spec))
    return wanted


def pod_config(run_dir: Path, config: dict) -> tuple[dict, list[tuple[Path, str]]]:
    """config.json for the pod, and the (local path, name in the tar) of what it needs besides."""
    extra: list[tuple[Path, str]] = []
    cfg = dict(config)
    resume = cfg.get("resume_from_checkpoint")
    if resume and Path(resume).is_dir():
        name = Path(resume).name
        extra.append((Path(resume), f"run/checkpoints/{name}"))
        cfg["resume_from_checkpoint"] = f"{POD_DIR}/run/checkpoints/{name}"
    base = cfg.get("base_model") or ""
    if base and Path(base).is_dir():
        extra.append((Path(base), "model"))
        cfg["base_model"] = f"{POD_DIR}/model"
    return cfg, extra


def build(run_dir: Path, command: list[str], env: dict[str, str]) -> bytes:
    """The tar.gz the agent unpacks into its work directory (``command``, ``env``: the worker's)."""
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    cfg, extra = pod_config(run_dir, config)
    command = pod_command(command, run_dir)
    job = {"command": command, "packages": packages(command), "env": env}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        add_bytes(tar, "job.json", json.dumps(job).encode())
        add_bytes(tar, "run/config.json", json.dumps(cfg, indent=2).encode())
        if (run_dir / "dataset.jsonl").is_file():
            tar.add(run_dir / "dataset.jsonl", "run/dataset.jsonl")
        for path, name in extra:
            tar.add(path, name, filter=lambda info: None if SKIP.search(info.name) else info)
        add_package(tar)
    return buf.getvalue()


def add_package(tar: tarfile.TarFile) -> None:
    """ffui's worker side: the ffui.train package, the shared leaves and the fake worker."""
    root = Path(__file__).resolve().parent.parent  # the installed ffui package
    for leaf in LEAVES:
        tar.add(root / f"{leaf}.py", f"pkg/ffui/{leaf}.py")
    tar.add(root / "train", "pkg/ffui/train", filter=lambda info: None if SKIP.search(info.name) else info)
    add_bytes(tar, "pkg/ffui/jobs/__init__.py", b"")
    tar.add(root / "jobs" / "fake_worker.py", "pkg/ffui/jobs/fake_worker.py")


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))
