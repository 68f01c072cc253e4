"""The ``local`` executor: the worker is a child process of the supervisor, on this machine.

It runs in a process group of its own (a cancel kills the whole group: an accelerate launcher
and its ranks), with stdout and stderr appended to RUN_DIR/train.log. The worker holds
RUN_DIR/worker.lock for its life (ffui.train.worker_lock): the executor takes the lock before
it forks and hands the locked descriptor down, so a supervisor killed at any instant leaves a
worker the next one adopts instead of starting a second. "Running" is "the lock is held",
which no reused pid can fool. Stop and checkpoint requests are files in RUN_DIR/control/
plus SIGTERM (ffui.train.control). Capacity: one worker per GPU, or one on the CPU.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ffui import procs
from ffui.jobs import health
from ffui.jobs.executors.base import Executor, Launch, WorkerSpec
from ffui.runfiles import open_run_file
from ffui.train import worker_lock
from ffui.train.control import CHECKPOINT_FILE, STOP_FILE

OWNER_WAIT_S = 60.0  # a worker writes who it is first thing; this long covers a loaded machine
DISK_FULL_BYTES = 8 << 20  # less than this free: a checkpoint or a log line cannot be written


class LocalExecutor(Executor):
    name = "local"

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None  # the worker this executor started, if any

    def capacity(self) -> tuple[int, str]:
        gpus = gpu_count()
        if gpus:
            return gpus, f"one run per GPU, {gpus} GPU{'s' if gpus > 1 else ''}; the setting jobs.max_concurrent changes it"
        return 1, "no GPU: one run at a time; the setting jobs.max_concurrent changes it"

    # -- start or adopt -------------------------------------------------------------------

    async def start(self, run: dict, spec: WorkerSpec) -> Launch:
        """Start this attempt's worker, unless one already holds the run's lock (adopt it) or
        already ran and ended while no supervisor watched (leave it to be finalised)."""
        run_dir = Path(run["storage_path"])
        deadline = time.monotonic() + OWNER_WAIT_S
        while True:
            lock_fd = worker_lock.try_lock(run_dir)
            if lock_fd is not None:
                break
            owner = worker_lock.read_owner(run_dir)
            if owner.get("pid") or time.monotonic() > deadline:
                return adopted(owner, spec)
            health.beat(run)
            await asyncio.sleep(0.05)  # the worker is starting: it writes who it is first thing
        try:
            if not spec.wanted:
                return Launch("not-started", note=("INFO", f"cancelled before its {spec.noun} started"))
            if worker_lock.read_owner(run_dir).get("pid"):
                return Launch("ended", note=("WARNING", f"this attempt's {spec.noun} already ran and ended while no "
                                             "supervisor was watching; recording its outcome instead of starting another"))
            return self.spawn(run_dir, spec, lock_fd)
        finally:
            os.close(lock_fd)

    def spawn(self, run_dir: Path, spec: WorkerSpec, lock_fd: int) -> Launch:
        env = dict(os.environ, **spec.env)
        for name in spec.unset_env:
            env.pop(name, None)
        # The worker inherits the locked descriptor: from its first instant it holds the lock.
        worker_lock.clear_owner(lock_fd)
        env[worker_lock.FD_ENV] = str(lock_fd)
        log = os.fdopen(open_run_file(run_dir / "train.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
        try:
            self.proc = subprocess.Popen(
                spec.command, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, close_fds=True, pass_fds=(lock_fd,),
            )
        finally:
            log.close()
        pid = self.proc.pid
        return Launch("started", {"trainer_pid": pid, "trainer_pgid": pid},
                      ("INFO", f"{spec.noun} started (pid {pid}): {' '.join(spec.command[1:])}"))

    # -- watch ----------------------------------------------------------------------------

    def started(self, run: dict) -> bool:
        return run.get("trainer_pid") is not None

    def running(self, run: dict) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        run_dir = Path(str(run.get("storage_path")))
        if worker_lock.lock_path(run_dir).exists():
            return worker_lock.held(run_dir)
        # a run started before the lock existed: its recorded pid still runs on its directory
        return procs.alive(run.get("trainer_pid"), str(run_dir))

    def exit_status(self, run: dict) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def describe(self, run: dict) -> str:
        return f"pid {run.get('trainer_pid')}"

    def leftovers(self, run: dict) -> bool:
        return procs.group_alive(run.get("trainer_pgid"))

    def disk_full(self, run: dict) -> bool:
        path = run.get("storage_path")
        try:
            return bool(path) and shutil.disk_usage(path).free < DISK_FULL_BYTES
        except OSError:
            return False

    # -- requests -------------------------------------------------------------------------

    def request_stop(self, run: dict) -> None:
        touch_control(run, STOP_FILE)
        if self.running(run):  # never a signal to a pid another program now has
            procs.signal_pid(run.get("trainer_pid"), signal.SIGTERM)

    def request_checkpoint(self, run: dict) -> None:
        touch_control(run, CHECKPOINT_FILE)

    def kill(self, run: dict) -> None:
        procs.signal_group(run.get("trainer_pgid"), signal.SIGKILL)

    # -- files and the end ----------------------------------------------------------------

    def fetch(self, run: dict) -> None:
        """Nothing to bring: the worker writes into the run directory itself."""

    def cleanup(self, run: dict) -> None:
        """Nothing is held: the worker's process group has ended."""

    def reset(self, run: dict) -> bool:
        lock_fd = worker_lock.try_lock(run["storage_path"])
        if lock_fd is None:
            return False
        try:
            worker_lock.clear_owner(lock_fd)  # the next attempt starts its own worker
        finally:
            os.close(lock_fd)
        for name in (STOP_FILE, CHECKPOINT_FILE):  # requests to the old attempt
            (Path(run["storage_path"]) / "control" / name).unlink(missing_ok=True)
        return True


def adopted(owner: dict, spec: WorkerSpec) -> Launch:
    pid = owner.get("pid")
    return Launch("adopted", {"trainer_pid": pid, "trainer_pgid": owner.get("pgid") or pid},
                  ("INFO", f"supervisor restarted; {spec.noun} pid {pid} already runs (it holds the run's lock): "
                           "following it"))


def touch_control(run: dict, name: str) -> None:
    control = Path(run["storage_path"]) / "control"
    control.mkdir(exist_ok=True)
    (control / name).touch()


def gpu_count() -> int:
    """GPUs visible to the trainer, without importing torch (nvidia-smi when present)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    exe = shutil.which("nvidia-smi")
    return _nvidia_smi_gpus(exe) if exe else 0


@functools.lru_cache(maxsize=4)
def _nvidia_smi_gpus(exe: str) -> int:
    """Asked once per process: the UI asks each second while runs are queued, and GPUs stay."""
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))
