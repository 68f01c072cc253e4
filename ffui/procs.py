"""Process facts from /proc, without psutil: is a pid alive, and is it still the process we started?

PIDs are reused, so "alive" always means "alive and running our command line".
A shared leaf (it imports nothing of ffui): the job machinery, the dataset layer (whose
filling marker names the importing process) and the worker's run lock all use it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cmdline(pid: int | None) -> list[str]:
    if not pid:
        return []
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # the state letter follows the parenthesised command name
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def alive(pid: int | None, *needles: str) -> bool:
    """True if ``pid`` runs and its command line contains every one of ``needles``."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if is_zombie(pid):
        return False
    if needles:
        line = " ".join(cmdline(pid))
        return all(n in line for n in needles)
    return True


def _start_ticks(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat: start time since boot


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def identity(pid: int | None = None) -> dict:
    """What tells this process (or ``pid``) apart from any later one with the same pid."""
    pid = pid or os.getpid()
    return {"pid": pid, "start": _start_ticks(pid), "boot": _boot_id(), "host": os.uname().nodename}


def identity_alive(ident: dict | None) -> bool:
    """Is the process ``identity()`` described still running? Unsure (another host): True."""
    if not isinstance(ident, dict) or not ident.get("pid"):
        return False
    if ident.get("host") and ident["host"] != os.uname().nodename:
        return True  # a database on a shared disk: that machine's processes are not ours to judge
    if ident.get("boot") and ident["boot"] != _boot_id():
        return False
    pid = int(ident["pid"])
    return not is_zombie(pid) and _start_ticks(pid) == ident.get("start") and alive(pid)


def signal_group(pgid: int | None, sig: int) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def signal_pid(pid: int | None, sig: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_alive(pgid: int | None) -> bool:
    """Any live (non-zombie) process left in the process group?"""
    if not pgid:
        return False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False

