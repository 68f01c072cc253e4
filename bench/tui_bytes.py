"""Bytes per second each screen writes to a real terminal (tmux, 80x24): what a slow SSH link pays.

For every screen, idle and with a live run, the real ``ffui`` runs in a private tmux server;
once it has settled, ``tmux pipe-pane`` copies everything it writes to the terminal into a
file for a few seconds. The baseline is a bare Textual app showing the same text (the
screen captured from tmux, in one Static), measured the same way: a screen where nothing
changes should write what the baseline writes, nothing. The live run is a stand-in
supervisor in this process: once a second it moves run 2 on by a step (its row, its loss
history, a line of train.log), as a real supervisor does.

    python bench/tui_bytes.py [--seconds 6] [--only 'run screen']
Not a test: record the results in docs/benchmarks.md. Needs tmux.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from tui_support import seed_fixed_home  # noqa: E402

FFUI = Path(sys.executable).parent / "ffui"
SOCKET = f"ffui-bench-bytes-{os.getpid()}"
LIVE_RUN = 2
# name, keys from the Runs list, live run?  (the list is newest first: 5 4 3 2 1)
SCENARIOS = [
    ("Runs list", [], False),
    ("Runs list, live run", [], True),
    ("run screen, completed", ["Down"] * 4 + ["Enter"], False),
    ("run screen, completed, live run elsewhere", ["Down"] * 4 + ["Enter"], True),
    ("run screen, live run", ["Down"] * 3 + ["Enter"], True),
    ("Data", ["2"], False),
    ("Train", ["3"], False),
    ("Logs", ["5"], False),
    ("Logs, live run", ["5"], True),
    ("Settings", ["6"], False),
]

BARE_APP = textwrap.dedent("""
    import sys
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        CSS = "Static { width: 100%; height: 100%; }"
        def compose(self):
            self.text = open(sys.argv[1]).read()
            yield Static(self.text, markup=False)
        def on_mount(self):
            if len(sys.argv) > 2:  # redraw the whole screen once a second (a naive live screen)
                self.flip = False
                self.set_interval(1.0, self.redraw)
        def redraw(self):
            self.flip = not self.flip
            self.query_one(Static).update(self.text + (" " if self.flip else ""))

    Bare().run()
""")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, timeout=10).stdout


class LiveRun:
    """Moves run LIVE_RUN on by one step a second, as its supervisor would."""

    def __init__(self, home: Path):
        self.home, self.stop = home, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "LiveRun":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _loop(self) -> None:
        conn = sqlite3.connect(self.home / "ffui.db", timeout=30)
        step = 17
        try:
            while not self.stop.wait(1.0):
                step = step + 1 if step < 39 else 17
                self._advance(conn, step)
        finally:
            conn.close()

    def _advance(self, conn: sqlite3.Connection, step: int) -> None:
        storage, metrics = conn.execute(
            "SELECT storage_path, metrics_json FROM training_runs WHERE id = ?", (LIVE_RUN,)).fetchone()
        metrics = json.loads(metrics)
        loss = round(2.4 * 0.95 ** step + 0.5, 4)
        metrics["history"] = [p for p in metrics["history"] if p[0] < step] + [[step, loss]]
        metrics["last"] = {**metrics["last"], "step": step, "loss": loss}
        conn.execute(
            "UPDATE training_runs SET current_step = ?, progress = ?, last_loss = ?, eta_s = ?, metrics_json = ?, "
            "updated_at = datetime('now') WHERE id = ?",
            (step, step / 40, loss, (40 - step) * 2.0, json.dumps(metrics), LIVE_RUN))
        conn.execute("INSERT INTO app_logs(timestamp, level, logger, message, run_id, source) "
                     "VALUES (datetime('now'), 'INFO', 'ffui.train', ?, ?, 'train')",
                     (f"step {step}/40 loss {loss:.4f}", LIVE_RUN))
        conn.commit()
        with open(Path(storage) / "train.log", "a") as log:
            log.write(f"step {step}/40 loss {loss:.4f} tok/s 4380\n")


def measure(command: str, keys: list[str], seconds: float, out: Path, env: dict) -> tuple[float, str]:
    """Start ``command`` at 80x24, press ``keys``, let it settle; bytes/s it writes, and its screen."""
    tmux("kill-session", "-t", "bench")
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    tmux("new-session", "-d", "-s", "bench", "-x", "80", "-y", "24", f"env -u FFUI_DB {exports} {command}")
    time.sleep(4.0)  # first frame, the database, the first polls
    for key in keys:
        tmux("send-keys", "-t", "bench", key)
        time.sleep(0.5)
    time.sleep(3.0)  # the screen's first polls and its log tail
    out.unlink(missing_ok=True)
    tmux("pipe-pane", "-o", "-t", "bench", f"cat >> {out}")
    time.sleep(seconds)
    tmux("pipe-pane", "-t", "bench")  # (no command: stop piping)
    written = out.stat().st_size if out.exists() else 0
    if os.environ.get("TUI_BYTES_KEEP"):  # to see what was written: TUI_BYTES_KEEP=DIR
        shutil.copy(out, Path(os.environ["TUI_BYTES_KEEP"]) / f"{command.split()[-1].replace('/', '_')}-{len(keys)}.raw")
    screen = tmux("capture-pane", "-p", "-t", "bench")
    tmux("kill-session", "-t", "bench")
    return written / seconds, screen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="how long each screen is measured")
    parser.add_argument("--only", default="", help="measure only the screens whose name contains this")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tui_bytes: tmux is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="ffui-bench-bytes-"))
    bare = tmp / "bare.py"
    bare.write_text(BARE_APP)
    print(f"bytes/s written to an 80x24 tmux terminal, measured over {args.seconds:g} s after settling")
    print(f"{'screen':<42} {'ffui B/s':>9} {'bare B/s':>9} {'ratio':>7}   (bare: the same text, static; for a live run also")
    print(f"{'':<42} {'':>9} {'':>9} {'':>7}    redrawn whole once a second, the naive way)")
    try:
        for name, keys, live in [s for s in SCENARIOS if args.only.lower() in s[0].lower()]:
            home = seed_fixed_home(tmp / "home", fresh=True)
            env = {"FFUI_HOME": str(home)}
            if live:
                with LiveRun(home):
                    rate, screen = measure(str(FFUI), keys, args.seconds, tmp / "out", env)
            else:
                rate, screen = measure(str(FFUI), keys, args.seconds, tmp / "out", env)
            (tmp / "screen.txt").write_text(screen)
            base, _ = measure(f"{sys.executable} {bare} {tmp / 'screen.txt'}" + (" redraw" if live else ""), [],
                              args.seconds, tmp / "out", {})
            ratio = f"{rate / base:.2f}x" if base else ("same" if not rate else "-")
            print(f"{name:<42} {rate:>9,.0f} {base:>9,.0f} {ratio:>7}", flush=True)
    finally:
        tmux("kill-server")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
