"""RUN_DIR/worker.lock: at most one worker (trainer) per run directory, for the worker's life.

The supervisor takes the flock BEFORE it starts the worker and hands the locked descriptor
down (env ``FFUI_WORKER_LOCK_FD``), so there is no instant at which a started worker is
unlocked: a supervisor killed right after the fork leaves a worker that still holds the lock,
and the next supervisor finds it instead of starting a second one. The worker's first act is
``hold()``: it keeps the inherited lock (or takes it itself when started by hand) and writes
its own pid, process group and start time into the file, so a new supervisor can adopt it.

Lock held = a worker of this run is alive; no pid reuse can fool that test.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

LOCK_NAME = "worker.lock"
FD_ENV = "FFUI_WORKER_LOCK_FD"
EXIT_LOCKED = 5  # another worker holds this run directory: this one did nothing


def lock_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / LOCK_NAME


def _open(run_dir: str | Path) -> int:
    return os.open(lock_path(run_dir), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def try_lock(run_dir: str | Path) -> int | None:
    """A descriptor holding the run's lock, or None when a live worker holds it."""
    fd = _open(run_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def held(run_dir: str | Path) -> bool:
    """Does a live process hold the run's lock? (A missing lock file: nobody.)"""
    if not lock_path(run_dir).exists():
        return False
    fd = try_lock(run_dir)
    if fd is None:
        return True
    os.close(fd)
    return False


def read_owner(run_dir: str | Path) -> dict:
    """What the worker wrote about itself ({} until it has: it does so first thing)."""
    try:
        return json.loads(lock_path(run_dir).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def clear_owner(fd: int) -> None:
    """Forget the previous attempt's worker (the caller holds the lock)."""
    os.ftruncate(fd, 0)


def _inherited_fd(run_dir: str | Path) -> int | None:
    """The locked descriptor the supervisor handed down, if it is really this run's lock file."""
    raw = os.environ.pop(FD_ENV, None)
    if not raw or not raw.isdigit():
        return None
    try:
        mine, want = os.fstat(int(raw)), os.stat(lock_path(run_dir))
    except OSError:
        return None
    return int(raw) if (mine.st_dev, mine.st_ino) == (want.st_dev, want.st_ino) else None


def hold(run_dir: str | Path) -> int | None:
    """The worker's first act: keep (or take) the lock and say who holds it.

    Returns a descriptor to keep open until exit, or None when another worker already
    runs in ``run_dir`` (the caller then leaves without touching anything). Under a
    multi-GPU launcher the launcher holds the lock (it got the supervisor's descriptor; the
    supervisor emptied the file) and is the one to follow: rank 0 writes the launcher's
    identity, the other ranks write nothing (-1). Launched by hand, rank 0 takes the lock
    itself, and leaves (None) when another worker's name is in the held file. The launcher starts each rank in a session of its own, so "the worker's process
    group" is the launcher's, not the rank's (ffui.train.distributed ties the ranks to it).
    """
    from ffui.train import distributed

    if distributed.under_launcher():
        os.environ.pop(FD_ENV, None)  # the number was the launcher's; it did not come down to the ranks
        if not distributed.is_main_rank():
            return -1
        leader = os.getppid()
        fd = try_lock(run_dir)  # free: launched by hand, not by a supervisor; rank 0 holds it
        if fd is None:
            owner = read_owner(run_dir).get("pid")
            if owner and owner != leader:  # held by another run's worker, not our launcher
                return None
            fd = _open(run_dir)
        try:
            pgid = os.getpgid(leader)
        except ProcessLookupError:  # the launcher is gone (this rank dies with it): say our own group
            pgid = os.getpgrp()
    else:
        fd = _inherited_fd(run_dir)
        if fd is not None:
            os.set_inheritable(fd, False)  # our own children (dataloader workers) need not hold it
        else:
            fd = try_lock(run_dir)
            if fd is None:
                return None
        # the supervisor started us as the leader of our own group; started by hand or by a test,
        # our group's leader may have exited already (os.getpgid of it would fail): name the group
        leader = pgid = os.getpgrp()
    from ffui.procs import identity

    # The process group leader is what the supervisor follows and kills (the launcher, or us).
    owner = dict(identity(leader), pgid=pgid)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode("utf-8"), 0)
    return fd
