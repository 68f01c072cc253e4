"""How quickly the UI starts and how well it keeps up, each against a baseline in the same run.

1. First frame, from process start (interpreter included) to the first frame drawn, of ffui's
   app on a home with runs, against a bare Textual app with one Static (the floor Textual
   itself sets). Best of N starts each.
2. Event-loop lag while a run's log grows at 1,000 lines/s (written by another process, the
   run's screen open and following), against the same screen with an idle log. Lag is how
   late a 10 ms timer fires: what a user feels as a frozen screen.

    python bench/tui_latency.py [--starts 5]
Not a test: these are timings on a shared machine. Record results in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from test_tui_runs import WRITER, run_app_under_load  # noqa: E402
from test_tui_shell import startup_probe  # noqa: E402
from tui_support import seed_fixed_home  # noqa: E402

BARE_APP = textwrap.dedent("""
    import json, time
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")

    app = Bare()
    orig = App._display
    def display(self, screen, renderable):
        if renderable is not None and not hasattr(self, "_first_frame_s"):
            self._first_frame_s = time.time()
        return orig(self, screen, renderable)
    App._display = display

    async def stop(pilot):
        while not hasattr(app, "_first_frame_s"):
            await pilot.pause(0.005)
        app.exit()

    app.run(headless=True, size=(80, 24), auto_pilot=stop)
    print(json.dumps({"first_frame_s": app._first_frame_s}))
""")


def bare_first_frame() -> float:
    started = time.time()
    r = subprocess.run([sys.executable, "-c", BARE_APP], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])["first_frame_s"] - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = seed_fixed_home(Path(tmp) / "home")
        bare = min(bare_first_frame() for _ in range(args.starts))
        ours = min(startup_probe(home, visit=False)["first_frame_s"] for _ in range(args.starts))
        print(f"first frame (best of {args.starts} starts, from process start)")
        print(f"  bare Textual app:   {bare:6.3f} s")
        print(f"  ffui:               {ours:6.3f} s   ratio {ours / bare:4.2f}   (goal: under 0.6 s)")

        log = next((home / "training_outputs").glob("llama-chat-qlora_*")) / "train.log"
        with open(log, "a") as fh:  # a long history: opening must not read it all into the view
            fh.writelines(f"old line {i}\n" for i in range(100_000))
        idle = run_app_under_load(home, log, WRITER.replace("range(50)", "range(0)"))
        busy = run_app_under_load(home, log)
    print("event-loop lag with a run's screen open (10 ms timer, 3 s)")
    print(f"  idle log:              p99 {idle['p99'] * 1000:6.1f} ms  max {idle['max_lag'] * 1000:6.1f} ms")
    print(f"  1,000 lines/s written: p99 {busy['p99'] * 1000:6.1f} ms  max {busy['max_lag'] * 1000:6.1f} ms"
          f"   ({busy['written']:,} lines; {busy['held']:,} held of {busy['max_lines']:,})")
    print(f"  ratio p99 busy/idle:   {busy['p99'] / max(idle['p99'], 1e-4):6.2f}")
    print(f"  opening a 100,000-line log at its end: {busy['open_s']:.3f} s")


if __name__ == "__main__":
    main()
