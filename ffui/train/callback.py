"""The Trainer callback that turns training progress into events and honours control requests."""

from __future__ import annotations

import math
import os
import time
from collections import deque
from pathlib import Path

from transformers import TrainerCallback

from ffui.fmt import fmt_eta
from ffui.train.control import Control
from ffui.train.events import EventWriter

WARMUP_STEPS = 2  # steps excluded from the ETA: the first ones pay for allocation and caching
RATE_WINDOW = 20  # steps that tokens/s and samples/s average over: one step's rate swings 40x
# What the preference objectives (TRL's trainers) log beside the loss, forwarded under TRL's names
OBJECTIVE_METRIC_PREFIXES = ("rewards/", "logps/")
OBJECTIVE_METRICS = ("kl", "nll_loss", "log_odds_ratio", "log_odds_chosen")


class EventCallback(TrainerCallback):
    def __init__(self, events: EventWriter, control: Control, start_fields: dict, stop_on_nan: bool):
        self.events = events
        self.ctl = control
        self.start_fields = start_fields
        self.stop_on_nan = stop_on_nan
        self.stopping = False
        self.nan_step: int | None = None
        self.last_checkpoint: str | None = None
        self.losses: list[float] = []
        self.last_eval: dict | None = None
        self._warm: tuple[float, int] | None = None  # (time, step) when warm-up ended
        # (compute seconds of a step, tokens seen when it ended); the first entry only marks
        # where the window's tokens start
        self._rates: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW + 1)
        self._step_t0 = 0.0
        self._first_step = 0

    # ---- lifecycle -----------------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kw):
        self._first_step = state.global_step
        if state.global_step:  # resumed: the losses before the checkpoint count toward first/final loss
            self.losses = [float(h["loss"]) for h in state.log_history
                           if "loss" in h and math.isfinite(float(h["loss"]))]
        self._rates.append((0.0, state.num_input_tokens_seen or 0))
        self.events.emit("start", total_steps=state.max_steps, resumed_from_step=state.global_step or None,
                         **self.start_fields)
        self.events.say(f"start: {state.max_steps} steps, backend {self.start_fields['backend']} "
                        f"on {self.start_fields['device']}")

    def on_step_begin(self, args, state, control, **kw):
        self._step_t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        now = time.perf_counter()
        if state.global_step - self._first_step == 2 and len(self._rates) == 2:
            self._rates.popleft()  # the first step paid for allocation: once there is another, drop it
            self._rates[0] = (0.0, self._rates[0][1])
        self._rates.append((now - self._step_t0, state.num_input_tokens_seen or 0))
        if self._warm is None and state.global_step - self._first_step >= WARMUP_STEPS:
            self._warm = (now, state.global_step)
        self.ctl.poll()
        if args.world_size > 1:
            _agree_across_ranks(self.ctl, args.device)
        if self.ctl.stop_requested and not self.stopping:
            self.stopping = True
            control.should_save = True
            control.should_training_stop = True
            self.events.say(f"stop requested: saving a checkpoint at step {state.global_step}")
        elif self.ctl.checkpoint_requested:
            control.should_save = True
        return control

    # ---- reporting -----------------------------------------------------------------------

    def on_log(self, args, state, control, logs=None, **kw):
        if not logs or "loss" not in logs:
            return control
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            return self._non_finite(state, control, loss)
        self.losses.append(loss)
        event = self._step_event(args, state, logs)
        self.events.emit("step", **event)
        self.events.say(_step_line(event))
        return control

    def _non_finite(self, state, control, loss: float):
        self.events.warning(f"loss is {loss} at step {state.global_step}")
        self.events.say(f"warning: loss is {loss} at step {state.global_step}")
        if self.stop_on_nan:
            self.nan_step = state.global_step
            control.should_training_stop = True
            control.should_save = False  # a checkpoint of diverged weights helps nobody
        return control

    def _step_event(self, args, state, logs: dict) -> dict:
        now = time.perf_counter()
        steps = len(self._rates) - 1
        compute = max(sum(dt for dt, _ in list(self._rates)[1:]), 1e-9)
        tokens = self._rates[-1][1] - self._rates[0][1] if steps else 0
        samples_per_step = args.train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
        event = {
            "step": state.global_step,
            "total": state.max_steps,
            "epoch": round(state.epoch or 0.0, 4),
            "loss": round(float(logs["loss"]), 6),
            "grad_norm": _round(logs.get("grad_norm")),
            "lr": logs.get("learning_rate"),
            "tokens_per_s": round(tokens / compute, 1) if steps and tokens else None,  # 0: not counted
            "samples_per_s": round(steps * samples_per_step / compute, 2) if steps else None,
            "eta_s": self._eta(now, state),
            "mem_mb": _mem_mb(),
        }
        event.update(objective_metrics(logs))
        return event

    def _eta(self, now: float, state) -> float | None:
        if self._warm is None or state.global_step <= self._warm[1]:
            return None
        t0, s0 = self._warm
        per_step = (now - t0) / (state.global_step - s0)  # wall clock: includes evals and saves
        return round(per_step * max(0, state.max_steps - state.global_step), 1)

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        metrics = {k: _round(v) for k, v in (metrics or {}).items()}
        self.last_eval = metrics
        self.events.emit("eval", step=state.global_step, **metrics)
        self.events.say(f"eval step {state.global_step}: eval_loss {metrics.get('eval_loss')}")
        return control

    def on_save(self, args, state, control, **kw):
        path = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
        self.last_checkpoint = path
        self.events.emit("checkpoint", step=state.global_step, path=path)
        self.events.say(f"checkpoint saved: {path}")
        if self.ctl.checkpoint_requested:
            self.ctl.checkpoint_handled()
        return control


def objective_metrics(logs: dict) -> dict:
    """The objective's own numbers in a log (rewards/chosen, rewards/margins, kl, ...), rounded."""
    return {k: _round(v) for k, v in logs.items() if isinstance(v, (int, float))
            and (k.startswith(OBJECTIVE_METRIC_PREFIXES) or k in OBJECTIVE_METRICS)}


def _agree_across_ranks(ctl: Control, device) -> None:
    """Ranks may see a control file at different steps; acting apart would hang the next
    collective, so every rank adopts any rank's request (one tiny all-reduce per step)."""
    import torch
    import torch.distributed as dist

    flags = torch.tensor([ctl.stop_requested, ctl.checkpoint_requested], dtype=torch.int32, device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    ctl.stop_requested, ctl.checkpoint_requested = bool(flags[0]), bool(flags[1])


def _round(v):
    return round(float(v), 6) if isinstance(v, (int, float)) else v


def _mem_mb() -> float | None:
    """Peak CUDA memory on GPU; resident memory of this process on CPU."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return round(torch.cuda.max_memory_allocated() / 2**20, 1)
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, AttributeError):
        return None


def _step_line(e: dict) -> str:
    eta_s = fmt_eta(e["eta_s"])
    parts = [f"step {e['step']}/{e['total']}", f"epoch {e['epoch']:.2f}", f"loss {e['loss']:.4f}"]
    if e["grad_norm"] is not None:
        parts.append(f"grad {e['grad_norm']:.3f}")
    if e["lr"] is not None:
        parts.append(f"lr {e['lr']:.2e}")
    if e["tokens_per_s"] is not None:
        parts.append(f"tok/s {e['tokens_per_s']:.0f}")
    for key, label in (("rewards/margins", "margin"), ("rewards/accuracies", "acc")):
        if isinstance(e.get(key), (int, float)):
            parts.append(f"{label} {e[key]:.3f}")
    parts += [f"eta {eta_s}", f"mem {e['mem_mb']}MB"]
    return " ".join(parts)
