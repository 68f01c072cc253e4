import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from procs_support import kill_runs  # noqa: F401  (its old home: some tests import it from here)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh ffui home; FFUI_* from the caller's environment must not leak in."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.delenv("FFUI_DB", raising=False)
    monkeypatch.setenv("FFUI_HOME", str(h))
    return h


@pytest.fixture
async def db(home):
    from ffui.db import connect

    async with connect(home / "ffui.db", home) as d:
        yield d


def run_ffui(*args, home=None, input=None, env=None, timeout=120):
    """Run the real `ffui` console script, as a user would."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    if home is not None:
        e["FFUI_HOME"] = str(home)
    e.update(env or {})
    exe = BIN / "ffui"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ffui"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, input=input, env=e, timeout=timeout)


@pytest.fixture
def ffui():
    return run_ffui


@contextlib.contextmanager
def mounted_tmpfs(tmp_path: Path, size: str, purpose: str):
    """A small tmpfs under tmp_path (to fill, or to remount read-only); skips, naming what is
    missing, where mounting is not allowed (it needs root's CAP_SYS_ADMIN)."""
    mnt = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs {purpose} needs root (CAP_SYS_ADMIN): {r.stderr.strip()[:120]}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# ---- the tiny model, built once per session; homes for job tests ---------------------------

_tiny_models: dict[str, Path] = {}


def tiny_model_dir(factory, arch: str = "llama") -> Path:
    """The tiny model of ``arch`` (ffui.train.tiny), built the first time it is asked for in this
    session; for helpers that are not fixtures (the ``tiny_model`` fixture is this)."""
    if arch not in _tiny_models:
        pytest.importorskip("torch", reason="the tiny model and training need the [train] extras (torch)")
        pytest.importorskip("peft", reason="training needs the [train] extras (peft)")
        from ffui.train.tiny import build_tiny_model

        _tiny_models[arch] = build_tiny_model(factory.mktemp(f"tiny-{arch}") / arch, arch=arch)
    return _tiny_models[arch]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The 2-layer llama model with its tokenizer, shared by every test of the session."""
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """The qwen2 build of the tiny model: its builder and packing are checked on a second architecture."""
    return tiny_model_dir(tmp_path_factory, "qwen2")


@pytest.fixture
def job_home(home):
    """A home for tests that start runs: every worker and supervisor they started is killed after."""
    from job_support import kill_everything

    yield home
    kill_everything(home)
