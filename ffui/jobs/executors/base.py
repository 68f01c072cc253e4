"""Where a job's worker runs: the interface every executor implements (docs/jobs.md).

The supervisor and the manager speak only to this interface; ``local`` (a child process on
this machine) is the one executor today, and one for RunPod pods comes as its own module and
registry line in ffui.jobs.executors, without touching the supervisor or the manager.

The run directory on this machine stays the job's home either way: the supervisor reads the
worker's ``train.log`` and ``events.jsonl`` there, so an executor that runs the worker elsewhere
brings those files home (appending) in ``fetch`` before each read.

An executor object belongs to one supervisor (or one manager call) and one job: it may keep
what it started (a child process, a pod) between calls. What must outlive the supervisor goes
into the job's row through ``Launch.fields`` (local: ``trainer_pid``, ``trainer_pgid``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass
class WorkerSpec:
    """What the job's kind wants run: the command, the environment it adds or removes, and how
    the log lines name the worker ("trainer")."""

    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    unset_env: tuple[str, ...] = ()
    noun: str = "trainer"
    wanted: bool = True  # False: the job was cancelled before its worker started; start none


@dataclass
class Launch:
    """What ``start`` did: started a worker, adopted a running one, found that this attempt's
    worker ran and ended unseen, or started none (not wanted). ``fields`` go into the job's row;
    ``note`` is the supervisor's log line about it."""

    state: str  # "started" | "adopted" | "ended" | "not-started"
    fields: dict = field(default_factory=dict)
    note: tuple[str, str] = ("INFO", "")


class Executor(ABC):
    """Start, watch and stop one job's worker somewhere. Every method takes the job's row."""

    name = "?"

    async def attach(self, db) -> None:
        """Read what this executor needs from the database (a supervisor's executor, before
        ``start``; e.g. an API key). Nothing by default; the manager's calls come without it."""

    @abstractmethod
    def capacity(self) -> tuple[int, str]:
        """How many workers may run at once, and why, in words (a queued run says why it waits)."""

    @abstractmethod
    async def start(self, run: dict, spec: WorkerSpec) -> Launch:
        """Start the worker, or adopt the one that already runs this attempt (never a second).
        Raises OSError when it cannot start (the run fails with that reason)."""

    @abstractmethod
    def started(self, run: dict) -> bool:
        """Has this attempt's worker been started (and recorded in the row)?"""

    @abstractmethod
    def running(self, run: dict) -> bool:
        """Does the worker still run?"""

    @abstractmethod
    def exit_status(self, run: dict) -> int | None:
        """The ended worker's exit status (negative: killed by that signal); None when unknown
        (it ended while another supervisor, or none, watched)."""

    @abstractmethod
    def describe(self, run: dict) -> str:
        """Where the worker is, for log lines: 'pid 1234', 'pod abc'."""

    @abstractmethod
    def request_stop(self, run: dict) -> None:
        """Ask the worker to save a checkpoint and stop at its next step."""

    @abstractmethod
    def request_checkpoint(self, run: dict) -> None:
        """Ask the worker to save a checkpoint at its next step and go on."""

    @abstractmethod
    def kill(self, run: dict) -> None:
        """End the worker and everything it started, now."""

    @abstractmethod
    def leftovers(self, run: dict) -> bool:
        """Is any process (or machine) of the worker left? A cancel waits until none is."""

    @abstractmethod
    def fetch(self, run: dict) -> None:
        """Bring the worker's files (train.log, events.jsonl, checkpoints, adapter) home."""

    @abstractmethod
    def cleanup(self, run: dict) -> None:
        """Release what the ended job held (a pod, a lease). Called once, after the outcome."""

    @abstractmethod
    def reset(self, run: dict) -> bool:
        """Forget the ended attempt's worker so a resume can start the next one; False while
        that worker is still exiting (try again in a moment)."""

    @abstractmethod
    def disk_full(self, run: dict) -> bool:
        """Is the disk the worker writes to full (it may then have failed without a word)?"""
