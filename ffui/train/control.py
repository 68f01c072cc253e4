"""Requests from outside a running trainer: signals and files in RUN_DIR/control/.

SIGTERM / SIGINT or the file control/stop  -> stop at the next step with a checkpoint.
SIGUSR1 or the file control/checkpoint     -> save a checkpoint at the next step, go on.
Signal handlers only set flags; the training loop polls `poll()` once per step (two
stat() calls), so nothing heavy runs inside a signal handler.
"""

from __future__ import annotations

import signal
from pathlib import Path

STOP_FILE = "stop"
CHECKPOINT_FILE = "checkpoint"


class Control:
    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir) / "control"
        self.stop_requested = False
        self.checkpoint_requested = False
        self._interrupts = 0

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, self._on_checkpoint_signal)

    def _on_stop_signal(self, signum, frame) -> None:
        self._interrupts += signum == signal.SIGINT
        if self._interrupts >= 2:  # a second Ctrl-C at the terminal means "now"
            raise KeyboardInterrupt
        self.stop_requested = True

    def _on_checkpoint_signal(self, signum, frame) -> None:
        self.checkpoint_requested = True

    def poll(self) -> None:
        """Fold control files into the flags (called once per step)."""
        if not self.stop_requested and (self.dir / STOP_FILE).exists():
            self.stop_requested = True
        if not self.checkpoint_requested and (self.dir / CHECKPOINT_FILE).exists():
            self.checkpoint_requested = True

    def checkpoint_handled(self) -> None:
        self.checkpoint_requested = False
        (self.dir / CHECKPOINT_FILE).unlink(missing_ok=True)

    def stop_handled(self) -> None:
        # removed once honoured, so resuming in the same run directory does not stop at once
        (self.dir / STOP_FILE).unlink(missing_ok=True)
