"""The worker side of several ranks: the launcher, which rank this is, and tying each rank's life
to its launcher.

``python -m ffui.train.distributed ACCELERATE-LAUNCH-ARGS`` is ``accelerate launch`` with its
ends worded for a run's log: a stop request (SIGTERM, passed on to the ranks, which save a
checkpoint and stop) ends it quietly with status 0, as it ends one trainer; a failed rank ends it
with that rank's own exit status (2 a user error, 3 out of memory, or the signal that killed it),
in one line instead of torch's traceback, so the run's outcome reads as for one process.

``accelerate launch`` runs torch.distributed's launcher, which starts every rank in a session of
its own (``start_new_session``), outside the launcher's process group. A SIGKILL to that group
(the supervisor's kill after a cancel's grace, or after a stall) would end the launcher and leave
the ranks training, unseen, on the GPUs, and the run's lock (held by the launcher) free. So each
rank asks the kernel to SIGKILL it when its parent, the launcher, dies (``PR_SET_PDEATHSIG``):
the launcher's group going is then every rank going. A launcher that ends normally has already
stopped its ranks (SIGTERM, then SIGKILL after 30 s), so the signal only ever meets orphans.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from ffui.events import signal_name

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def under_launcher() -> bool:
    """Started as one rank of several (torch.distributed's launcher sets LOCAL_RANK)."""
    return os.environ.get("LOCAL_RANK") is not None


def is_main_rank() -> bool:
    """The rank that writes events, logs and files (every rank of a single-process run is it)."""
    return os.environ.get("RANK", "0") == "0"


def die_with_launcher() -> None:
    """Under a launcher: be killed when it dies. Called first thing in the rank (before torch)."""
    if not under_launcher() or not sys.platform.startswith("linux"):
        return
    launcher = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # no prctl (a container that forbids it): the old behaviour, nothing worse
    if os.getppid() != launcher or launcher == 1:  # it died before the request took effect
        os._exit(128 + signal.SIGKILL)


def launch(argv: list[str]) -> int:
    """accelerate launch ``argv``; the exit status of the run's worker (see the module's doc)."""
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = launch_command_parser().parse_args(argv)
    try:
        launch_command(args)
    except SignalException as e:
        print(f"launcher: {signal_name(int(e.sigval))} received; the ranks were asked to stop and have ended",
              flush=True)
        return 0
    except ChildFailedError as e:
        return _end_as(_first_failure(e.failures))
    return 0


def _first_failure(failures: dict) -> tuple[int, int]:
    """(rank, exit status) of rank 0's failure if it failed, else of the lowest failed rank."""
    rank = 0 if 0 in failures else min(failures)
    return rank, int(failures[rank].exitcode)


def _end_as(failure: tuple[int, int]) -> int:
    rank, status = failure
    if status < 0:  # killed by a signal: die by it too, so the supervisor reads the same
        print(f"launcher: rank {rank} was killed by {signal_name(-status)}", flush=True)
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    print(f"launcher: rank {rank} ended with exit status {status}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
