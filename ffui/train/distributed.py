"""The worker side of several ranks: which rank this is, and tying each rank's life to its launcher.

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
