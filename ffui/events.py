"""The event protocol between a worker and its supervisor, in one place (docs/events.md).

A worker (``python -m ffui.train``, the fake worker) appends one JSON object a line to
RUN_DIR/events.jsonl (ffui.train.events.EventWriter) and exits with one of the codes below.
Its supervisor reads the lines back, folds each into the job's row with ``apply_event``, keeps
the terminal events of the latest attempt in an ``Attempt``, and when the worker has ended
turns its exit status and those events into the job's final status with ``outcome``.

A shared leaf: standard library only, so the worker side may import it too (the import-linter
contracts in pyproject.toml); the names here are the protocol, and both sides read them here.
"""

from __future__ import annotations

import json
import signal
from typing import Any, Callable

# -- event types ----------------------------------------------------------------------------
START = "start"            # a new attempt begins (a resume appends a new one)
STEP = "step"
EVAL = "eval"
CHECKPOINT = "checkpoint"
WARNING = "warning"
STOPPED = "stopped"        # stopped on request, with the checkpoint to resume from
CANCELLED = "cancelled"    # an older name of `stopped`, still read
DONE = "done"
ERROR = "error"
POD = "pod"                # the RunPod executor's own: the pod's stage, GPU and cost (ffui/jobs/executors/runpod.py)
TYPES = (START, STEP, EVAL, CHECKPOINT, WARNING, STOPPED, CANCELLED, DONE, ERROR, POD)
POD_FIELDS = ("id", "gpu", "cost_per_hr", "cost", "stage")  # pod event key -> training_runs column pod_<key>
# the events that decide an outcome, under the name the outcome reads them by
TERMINAL = {DONE: DONE, ERROR: ERROR, STOPPED: STOPPED, CANCELLED: STOPPED}

# -- exit codes of a worker -------------------------------------------------------------------
EXIT_OK = 0          # done, or stopped on request (see the last event's type)
EXIT_INTERNAL = 1    # a bug: an `error` event with kind=internal, traceback in train.log
EXIT_USER = 2        # config, dataset, model or backend problem the user can fix
EXIT_OOM = 3         # out of memory
EXIT_NAN = 4         # loss became NaN/inf and stop_on_nan is set
EXIT_INTERRUPTED = 130  # a second Ctrl-C at a terminal: stopped at once, without a checkpoint

HISTORY_MAX = 2000  # loss points kept for charts; older ones are thinned
OOM_HINT = "lower per_device_train_batch_size or max_seq_len, enable gradient_checkpointing, or use method=qlora"


def parse(line: str) -> dict | None:
    """One event, or None for a torn or foreign line (train.log has the full story)."""
    try:
        event = json.loads(line)
        event["type"]
    except (ValueError, KeyError, TypeError):
        return None
    return event


class Attempt:
    """What a supervisor remembers of the latest attempt: its terminal events (a resume starts a
    new attempt, which forgets them) and whether a step came yet (the model has loaded)."""

    def __init__(self) -> None:
        self.terminal: dict[str, dict] = {}
        self.saw_step = False

    def remember(self, event: dict) -> None:
        kind = event["type"]
        if kind in (START, STEP):
            self.saw_step = kind == STEP
        if kind == START:
            self.terminal.clear()
        elif kind in TERMINAL:
            self.terminal[TERMINAL[kind]] = event

    def recall(self, data: bytes) -> None:
        """Learn the events a predecessor already ingested (``data``: events.jsonl up to its offset)."""
        for raw in data.splitlines():
            event = parse(raw)
            if event is not None:
                self.remember(event)


def apply_event(run: dict, event: dict, fields: dict[str, Any]) -> list[tuple[str, str]]:
    """Fold one event into the row: ``fields`` gets the columns to write, ``run["metrics"]`` is
    updated in place. Returns the (level, message) log lines the event is worth."""
    kind = event["type"]
    metrics = run.setdefault("metrics", {}) or {}
    run["metrics"] = metrics
    notes: list[tuple[str, str]] = []
    if kind == START:
        fields["backend"] = event.get("backend")
        if event.get("total_steps"):
            fields["total_steps"] = event["total_steps"]
    elif kind == STEP:
        _apply_step(run, event, fields, metrics)
    elif kind == EVAL:
        metrics["eval"] = {k: v for k, v in event.items() if k != "type"}
        metrics.setdefault("eval_history", []).append([event.get("step"), event.get("eval_loss")])
    elif kind == CHECKPOINT:
        fields["checkpoint_path"] = event.get("path")
        notes.append(("INFO", f"checkpoint saved at step {event.get('step')}: {event.get('path')}"))
    elif kind == WARNING:
        notes.append(("WARNING", f"warning: {event.get('message')}"))
    elif kind == ERROR:
        # no log line of its own: the worker printed this error to train.log, whose lines become
        # log lines too (the Logs screen showed it twice)
        fields["error_message"] = error_text(event)
    elif kind == DONE:
        fields["adapter_path"] = event.get("adapter_path")
        metrics["final"] = event.get("metrics") or {}
        fields["progress"] = 1.0
    elif kind in (STOPPED, CANCELLED):
        if event.get("checkpoint"):
            fields["checkpoint_path"] = event["checkpoint"]
    elif kind == POD:
        fields.update({f"pod_{key}": event[key] for key in POD_FIELDS if key in event})
        if event.get("message"):
            notes.append((event.get("level") or "INFO", event["message"]))
    fields["metrics"] = metrics
    return notes


#: step-event metrics whose history the run keeps for its charts (TRL's names)
CHARTED_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


def _apply_step(run: dict, event: dict, fields: dict[str, Any], metrics: dict) -> None:
    step, total = event.get("step") or 0, event.get("total") or run.get("total_steps")
    fields.update(current_step=step, eta_s=event.get("eta_s"))
    if total:
        fields.update(total_steps=total, progress=min(1.0, step / total))
    loss = event.get("loss")
    if isinstance(loss, (int, float)):
        fields["last_loss"] = loss
    metrics["last"] = {k: v for k, v in event.items() if k != "type"}
    if loss is not None:
        history = metrics.setdefault("history", [])
        history.append([step, loss])
        if len(history) > HISTORY_MAX:
            metrics["history"] = history[::2]
    for key in CHARTED_METRICS:  # the preference objectives' rewards, charted beside the loss
        if isinstance(event.get(key), (int, float)):
            series = metrics.setdefault("charts", {}).setdefault(key, [])
            series.append([step, event[key]])
            if len(series) > HISTORY_MAX:
                metrics["charts"][key] = series[::2]


def error_text(event: dict, worker: str = "trainer") -> str:
    message = event.get("message", f"the {worker} failed")
    return message + (f" ({event['hint']})" if event.get("hint") else "")


def outcome(returncode: int | None, terminal: dict[str, dict], *, job_id: int, cancel: bool,
            stall_failure: str | None = None, disk_full: Callable[[], bool] = lambda: False,
            storage: str = "", worker: str = "trainer") -> dict[str, Any]:
    """The final status, error message and exit code/signal of an ended worker.

    ``returncode``: its exit status, None when unknown (it ended while nobody watched);
    ``terminal``: Attempt.terminal; ``cancel``: a cancel was asked; ``stall_failure``: the
    supervisor killed it for stalling; ``disk_full``: asked only for a failure without an error event.
    """
    done, error, stopped = terminal.get(DONE), terminal.get(ERROR), terminal.get(STOPPED)
    out: dict[str, Any] = {}
    if returncode is not None:
        if returncode == -signal.SIGTERM and cancel:
            pass  # the cancel's own SIGTERM (landing as the worker exits): it is the cancel
        elif returncode < 0:
            out["exit_signal"] = -returncode
        else:
            out["exit_code"] = returncode
    # A cancel that lands after the worker wrote `done` may signal it while it exits: the
    # adapter is saved, so the run is complete, whatever that late signal did to the exit code.
    if done and (returncode in (0, None) or (cancel and returncode in (-signal.SIGTERM, -signal.SIGKILL))):
        out["status"] = "completed"
    elif stall_failure:
        out.update(status="failed", error_message=stall_failure)
    elif cancel or (stopped and returncode in (0, None)):
        out.update(status="cancelled", error_message=None if cancel else "stopped by a signal from outside ffui")
    elif error:
        out.update(status="failed", error_message=error_text(error, worker))
    else:
        out.update(status="failed", error_message=_death(returncode, job_id, worker))
    if out["status"] == "failed" and not error and disk_full():
        # A full disk also swallows the worker's own error event and log lines: say it here.
        out["error_message"] = f"the disk holding {storage} is full: free some space, then ffui runs resume {job_id}"
    return out


def _death(returncode: int | None, job_id: int, worker: str) -> str:
    """Why a worker that left no error event failed, from its exit status alone."""
    if returncode is None:
        return (f"the {worker} ended while no supervisor was watching (killed, or the machine "
                "restarted); the end of its log may say why")
    if returncode in (-signal.SIGKILL, 137):
        return f"the {worker} was killed (SIGKILL); if nobody killed it, the system ran out of memory: {OOM_HINT}"
    if returncode < 0:
        return f"the {worker} was killed by {signal_name(-returncode)}"
    if returncode == EXIT_OOM:
        return f"out of memory: {OOM_HINT}"
    return f"the {worker} exited with code {returncode}; see: ffui runs logs {job_id}"


def outcome_line(out: dict, terminal: dict[str, dict], worker: str = "trainer") -> str:
    """'run failed: why', unless the worker's own error line (in train.log) said why already."""
    reason = out.get("error_message")
    error = terminal.get(ERROR)
    if reason and error and reason.startswith(error.get("message", f"the {worker} failed")):
        return f"run {out['status']} (the {worker}'s error line above says why)"
    return f"run {out['status']}" + (f": {reason}" if reason else "")


def signal_name(sig: int) -> str:
    """SIGKILL, or 'signal 99' for a number Python has no name for."""
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
