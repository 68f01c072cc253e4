"""Opening and removing the files of a run directory without following symbolic links.

A run directory, or a file in it, replaced by a link would otherwise send the trainer's
writes outside training_outputs, feed a foreign file's lines into the run's log, or make a
delete act on (or silently skip) something else. ``training_outputs`` itself may be a link
(to a bigger disk): only the run directory and the names inside it are checked.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


class UnsafeRunPath(OSError):
    """A run directory or run file that is a symbolic link (or leads outside the outputs)."""

    def __init__(self, path: Path, why: str):
        super().__init__(errno.ELOOP, f"{path} {why}; ffui does not follow links in run directories", str(path))

    def __str__(self) -> str:
        return self.strerror


def check_run_dir(run_dir: Path, outputs_root: Path) -> None:
    """Raise UnsafeRunPath unless ``run_dir`` is a real directory directly under the outputs root."""
    if run_dir.is_symlink():
        raise UnsafeRunPath(run_dir, f"is a symbolic link (to {os.readlink(run_dir)})")
    real_root = os.path.realpath(outputs_root)
    if os.path.dirname(os.path.realpath(run_dir)) != real_root:
        raise UnsafeRunPath(run_dir, f"is not inside {outputs_root}")
    with os.scandir(run_dir) as entries:  # checkpoints/, adapter/, events.jsonl: the trainer writes there
        for entry in entries:
            if entry.is_symlink():
                raise UnsafeRunPath(Path(entry.path), f"is a symbolic link (to {os.readlink(entry.path)})")


def open_run_file(path: Path, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A file descriptor for ``path`` (RUN_DIR/NAME), refusing a link for RUN_DIR or NAME."""
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and path.parent.is_symlink():
            raise UnsafeRunPath(path.parent, "is a symbolic link") from None
        raise
    try:
        return os.open(path.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeRunPath(path, "is a symbolic link") from None
        raise
    finally:
        os.close(dir_fd)


def remove_run_dir(run_dir: Path, outputs_root: Path) -> str:
    """Delete a run's directory; returns one line saying what was and was not deleted."""
    if run_dir.is_symlink():
        target = os.readlink(run_dir)
        run_dir.unlink()
        return f"removed the link {run_dir}; what it points at ({target}) was left untouched"
    if not run_dir.exists():
        return f"its directory {run_dir} was already gone"
    if os.path.dirname(os.path.realpath(run_dir)) != os.path.realpath(outputs_root):
        return f"its directory {run_dir} is outside {outputs_root}, so it was left untouched"
    failed: list[str] = []
    shutil.rmtree(run_dir, onerror=lambda _fn, p, info: failed.append(f"{p} ({getattr(info[1], 'strerror', None) or info[1]})"))
    if failed:
        return (f"could not delete {len(failed)} entr{'y' if len(failed) == 1 else 'ies'} of {run_dir}, "
                f"e.g. {failed[0]}; the rest was deleted")
    return f"deleted {run_dir} (checkpoints, adapter, logs)"
