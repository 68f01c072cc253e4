"""A stand-in trainer for tests and benchmarks: ``python -m ffui.jobs.fake_worker RUN_DIR``.

It speaks the trainer protocol (docs/events.md: events.jsonl, train.log on stdout, exit
codes), takes the run's worker lock first like the real trainer, and honours stop and
checkpoint requests (control files and signals), without torch, so the job machinery
(queue, cancel, resume, reconcile, kill -9 at any point) is tested in seconds.

What it does comes from the ``fake`` mapping in RUN_DIR/config.json:

  steps        steps to run (default 10)
  step_s       seconds per step (default 0.05)
  lines_per_s  train.log lines a second (default: one line per step)
  save_steps   save checkpoints/checkpoint-N every N steps (default 0: only when asked)
  fail_at      at this step write an `error` event and exit with ``fail_code`` (default 2)
  hang_at      at this step stop making progress for good, deaf to stop requests (a wedged trainer)
  exit_s       seconds its exit takes after the last event, with default signal handling, as
               Python's shutdown of a big trainer does (default 0)

A run uses it when it is of the ``fake`` job kind (``metadata.kind``, ffui/jobs/kinds/fake.py);
only tests and bench/ make such runs.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from ffui.events import CHECKPOINT, DONE, START, STEP, STOPPED
from ffui.train import worker_lock
from ffui.train.control import Control
from ffui.train.events import EventWriter

MODULE = "ffui.jobs.fake_worker"


class FakeTrainer:
    def __init__(self, run_dir: Path, options: dict, resume_from: str | None):
        self.run_dir = run_dir
        self.steps = int(options.get("steps", 10))
        self.step_s = float(options.get("step_s", 0.05))
        rate = float(options.get("lines_per_s") or 0)
        self.lines_per_step = max(1, round(rate * self.step_s)) if rate else 1
        self.save_steps = int(options.get("save_steps") or 0)
        self.fail_at = options.get("fail_at")
        self.fail_code = int(options.get("fail_code", 2))
        self.hang_at = options.get("hang_at")
        self.exit_s = float(options.get("exit_s") or 0)
        self.first_step = int(Path(resume_from).name.rsplit("-", 1)[-1]) + 1 if resume_from else 1
        self.events = EventWriter(run_dir / "events.jsonl")
        self.control = Control(run_dir)
        self.line_no = 0

    def log(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def checkpoint(self, step: int) -> str:
        path = self.run_dir / "checkpoints" / f"checkpoint-{step}"
        path.mkdir(parents=True, exist_ok=True)
        (path / "state.json").write_text(json.dumps({"step": step}))
        self.log(f"checkpoint saved: {path}")
        self.events.emit(CHECKPOINT, step=step, path=str(path))
        return str(path)

    def run(self) -> int:
        resumed = self.first_step - 1 or None
        self.events.emit(START, backend="fake", device="cpu", precision="fp32", config={},
                         total_steps=self.steps, resumed_from_step=resumed, data={})
        step = self.first_step - 1
        for step in range(self.first_step, self.steps + 1):
            if self.hang_at is not None and step >= int(self.hang_at):
                self.log(f"hanging at step {step}")
                while True:
                    time.sleep(3600)
            time.sleep(self.step_s)
            for _ in range(self.lines_per_step):
                self.line_no += 1
                self.log(f"step {step}/{self.steps} line {self.line_no} loss {1 / step:.4f}")
            self.events.emit(STEP, step=step, total=self.steps, epoch=step / self.steps, loss=1 / step,
                             eta_s=(self.steps - step) * self.step_s if step > 2 else None)
            if self.fail_at is not None and step >= int(self.fail_at):
                self.log(f"error: told to fail at step {step}")
                self.events.error(f"the fake worker was told to fail at step {step}", "nothing to do: a test asked",
                                  kind="internal", exit_code=self.fail_code)
                return self.fail_code
            self.control.poll()
            if self.control.stop_requested:
                path = self.checkpoint(step)
                self.control.stop_handled()
                self.events.emit(STOPPED, step=step, checkpoint=path)
                return 0
            if self.control.checkpoint_requested or (self.save_steps and step % self.save_steps == 0):
                self.checkpoint(step)
                self.control.checkpoint_handled()
        adapter = self.run_dir / "adapter"
        adapter.mkdir(exist_ok=True)
        (adapter / "adapter_config.json").write_text("{}")
        self.events.emit(DONE, adapter_path=str(adapter),
                         metrics={"first_loss": 1.0, "final_loss": 1 / max(step, 1), "steps": step})
        return 0


async def create_fake_run(db, name: str = "fake", **options) -> dict:
    """A pending run whose worker is this fake (for tests and bench/): ``options`` as above."""
    from ffui.db import create_training_run

    run = await create_training_run(db, name, base_model="fake", hp={"save_steps": options.get("save_steps", 0)},
                                    metadata={"kind": "fake"})
    (Path(run["storage_path"]) / "config.json").write_text(json.dumps({"fake": options}), encoding="utf-8")
    return run


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run_dir = Path(args[0]).resolve()
    if worker_lock.hold(run_dir) is None:  # first thing, as the real trainer does
        print(f"error: another worker already runs in {run_dir}; this one did nothing", flush=True)
        return worker_lock.EXIT_LOCKED
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    trainer = FakeTrainer(run_dir, config.get("fake") or {}, config.get("resume_from_checkpoint"))
    trainer.control.install_signal_handlers()
    try:
        code = trainer.run()
    finally:
        trainer.events.close()
    if trainer.exit_s:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        time.sleep(trainer.exit_s)
    return code


if __name__ == "__main__":
    sys.exit(main())
