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
