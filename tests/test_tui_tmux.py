"""The real `ffui` in a real terminal: tmux at 80x24, keys sent, the screen read back.

A private tmux server (``-L``) keeps these sessions away from the user's own. Each check
reads ``capture-pane`` as a user would see it; no traceback may ever appear.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from procs_support import until
from tui_support import seed_fixed_home

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it)")
FFUI = Path(sys.executable).parent / "ffui"


class Terminal:
    def __init__(self, name: str, command: str, env: dict[str, str]):
        self.socket = f"ffui-test-{os.getpid()}"
        self.name = name
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # After ffui exits the pane stays, so the exit status can be read.
        script = f"env -u FFUI_DB {exports} {command}; echo ffui-exited-$?; sleep 60"
        self.started = time.monotonic()
        self.tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", script)

    def tmux(self, *args: str) -> str:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout

    def screen(self, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name)

    def keys(self, *keys: str, pause: float = 0.3) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.name, key)
            # an escape followed too soon by a key reads as alt+key: give each key its own moment
            time.sleep(0.6 if key == "Escape" else pause)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        def shown() -> str | None:
            screen = self.screen()
            assert "Traceback" not in screen, screen
            return screen if text in screen else None
        return until(shown, timeout, lambda: f"{text!r}; the screen shows:\n{self.screen()}", interval=0.02)

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-session", "-t", self.name], capture_output=True, timeout=10)


@pytest.fixture
def terminal(tmp_path):
    home = seed_fixed_home(tmp_path / "home", fresh=True)
    opened: list[Terminal] = []

    def open_(name: str, **env: str) -> Terminal:
        term = Terminal(name, str(FFUI), {"FFUI_HOME": str(home), **env})
        opened.append(term)
        return term

    yield open_
    for term in opened:
        term.close()
    subprocess.run([TMUX, "-L", f"ffui-test-{os.getpid()}", "kill-server"], capture_output=True, timeout=10)


def test_a_user_walks_every_mode_by_keyboard_and_quits(terminal):
    term = terminal("walk")
    screen = term.wait_for("llama-chat-qlora")
    first_frame = time.monotonic() - term.started
    assert "1 Runs" in screen.splitlines()[0]
    term.wait_for("no GPU (")  # the GPU panel says why there is none
    screen = term.wait_for("c Cancel")  # the footer's keys follow the highlighted run (queued: c cancels it)
    assert "running" in screen and "completed" in screen
    print(f"runs visible {first_frame:.2f}s after tmux started ffui")  # measured: bench/tui_latency.py

    term.keys("Down", "Down", "Down", "Enter")
    screen = term.wait_for("step 17/40 epoch")  # the last line of its train.log, followed
    assert "ETA 1:35" in screen and "eval loss" in screen and "run 2 llama-chat-qlora  running" in screen

    term.keys("i")
    term.wait_for("checkpoints")
    term.keys("Escape", "5")
    screen = term.wait_for("line 60:")  # the newest log line, followed
    assert "60 matching lines" in screen and "5 Logs" in screen.splitlines()[0]

    term.keys("6")
    screen = term.wait_for("Hugging Face token")
    assert "http://proxy.example:3128" in screen

    term.keys("Escape")  # Settings opens in its token field, where a digit is text: escape leaves it
    for key, label in (("2", "2 Data"), ("3", "3 Train"), ("4", "4 Play")):
        term.keys(key)
        term.wait_for(label)

    # The Playground's chat input has the focus, so "1" would be typed there: the palette
    # (ctrl+p) switches modes from anywhere.
    term.keys("C-p")
    term.wait_for("Search for commands")
    term.keys(*"switch to runs", pause=0.05)
    term.wait_for("Switch to runs")
    term.keys("Enter")
    screen = term.wait_for("1 Runs")
    assert "llama-chat-qlora" in screen

    term.keys("F1")
    term.wait_for("Help: Runs")
    term.keys("Escape", "q")
    term.wait_for("ffui-exited-0")


def test_sixteen_colours_still_read_well(terminal):
    term = terminal("ansi", TERM="xterm-16color")
    term.wait_for("llama-chat-qlora")
    colours = term.screen(escapes=True)
    assert "38;5;" not in colours and "38;2;" not in colours, "only the 16 ANSI colours are used"
    term.keys("Down", "Down", "Down", "Enter")
    screen = term.wait_for("step 17/40 epoch")
    assert "███" in screen, "bars are drawn with characters, so they read without colour"
    term.keys("q")
    term.wait_for("ffui-exited-0")


def _step(home: Path, step: int) -> None:
    """A supervisor moves run 2 on by a step: its row, its loss history and a train.log line."""
    import json
    import sqlite3

    conn = sqlite3.connect(home / "ffui.db", timeout=30)
    try:
        storage, metrics = conn.execute("SELECT storage_path, metrics_json FROM training_runs WHERE id = 2").fetchone()
        metrics = json.loads(metrics)
        loss = round(1.1 - 0.01 * step, 4)
        metrics["history"].append([step, loss])
        conn.execute("UPDATE training_runs SET current_step = ?, progress = ?, last_loss = ?, metrics_json = ?, "
                     "updated_at = datetime('now') WHERE id = 2", (step, step / 40, loss, json.dumps(metrics)))
        conn.commit()
    finally:
        conn.close()
    with open(Path(storage) / "train.log", "a") as log:
        log.write(f"step {step}/40 loss {loss:.4f} tok/s 4380\n")


def test_a_live_run_written_cell_by_cell_looks_as_a_fresh_ffui_draws_it(terminal, tmp_path):
    """Frames carry only the cells that changed: the terminal must still show what a whole draw shows."""
    term = terminal("cells")
    term.wait_for("llama-chat-qlora")
    term.keys("Down", "Down", "Down", "Enter")
    term.wait_for("step 17/40 epoch")
    for step in range(18, 23):
        _step(tmp_path / "home", step)
        term.wait_for(f"step {step}/40 loss")
    term.wait_for("step 22/40  ")  # (the progress line too)
    fresh = terminal("fresh")  # the same run, drawn whole by a second ffui
    fresh.wait_for("llama-chat-qlora")
    fresh.keys("Down", "Down", "Down", "Enter")
    fresh.wait_for("step 22/40  ")
    fresh.wait_for("step 22/40 loss")

    def differences() -> str:
        drawn, whole = term.screen(escapes=True), fresh.screen(escapes=True)
        return "\n".join(f"{a!r}\n{b!r}" for a, b in zip(drawn.splitlines(), whole.splitlines()) if a != b)
    until(lambda: term.screen(escapes=True) == fresh.screen(escapes=True), 30,
          lambda: f"both terminals to show the same; the lines that differ:\n{differences()}")
