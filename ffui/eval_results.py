"""Reading an evaluation's results, for the CLI and the TUI alike: the compare table (each
metric, each model, the difference from the base), the plain warning when an adapter answers
as its base, and the predictions file paged by row without reading it whole.

The stored metrics (evaluation_models) are filled when the job ends; while it runs, the
worker's metrics.json in the job's directory has the running ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

METRIC_ORDER = ("loss", "perplexity", "exact_match", "rouge_l", "judge")
LOWER_IS_BETTER = {"loss", "perplexity"}
SAME_AS_BASE = 0.9  # the share of rows on which equal answers mean "behaves like the base"


def model_results(evaluation: dict) -> list[dict]:
    """Each model compared: name, adapter_path, metrics (by METRIC_ORDER names), same_as_base."""
    stored = [{"name": m["name"], "adapter_path": m.get("adapter_path"),
               "metrics": {k: v for k, v in (m.get("metrics") or {}).items() if k in METRIC_ORDER},
               "same_as_base": (m.get("metrics") or {}).get("same_as_base")} for m in evaluation.get("models") or []]
    if any(m["metrics"] for m in stored) or not evaluation.get("storage_path"):
        return stored
    live = running_summary(evaluation)
    return [{"name": m["name"], "adapter_path": m.get("adapter_path"), "metrics": m.get("metrics") or {},
             "same_as_base": m.get("same_as_base")} for m in live.get("models") or []] or stored


def running_summary(evaluation: dict) -> dict:
    try:
        return json.loads((Path(evaluation["storage_path"]) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def compare_table(models: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): a row per metric, a column per model, then the difference of each
    adapter from the base (the first model when no base is compared)."""
    if not models:
        return ["metric"], []
    ref = next((m for m in models if not m.get("adapter_path")), models[0])
    others = [m for m in models if m is not ref]
    header = ["metric"] + [m["name"] for m in models] + [f"Δ {m['name']}" for m in others]
    metrics = [k for k in METRIC_ORDER if any(k in m["metrics"] for m in models)]
    rows = []
    for k in metrics:
        base = ref["metrics"].get(k)
        rows.append([k] + [fmt(m["metrics"].get(k), k) for m in models]
                    + [fmt_diff(m["metrics"].get(k), base, k) for m in others])
    return header, rows


def fmt(value, metric: str = "") -> str:
    if not isinstance(value, (int, float)):
        return "--"
    if value == float("inf"):
        return "inf"
    return f"{value:.2f}" if metric == "perplexity" and value >= 100 else f"{value:.4f}"


def fmt_diff(value, base, metric: str) -> str:
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)):
        return "--"
    diff = value - base
    if diff != diff or abs(diff) == float("inf"):
        return "--"
    better = diff < 0 if metric in LOWER_IS_BETTER else diff > 0
    mark = "" if abs(diff) < 1e-12 else (" better" if better else " worse")
    return f"{diff:+.4f}{mark}"


def same_as_base_warnings(models: list[dict]) -> list[str]:
    """One plain line per adapter whose answers equal the base's on nearly every row."""
    return [f"{m['name']} answered exactly as the base on {m['same_as_base']:.0%} of rows: the adapter may not "
            "have loaded, or it did not learn (check its run's loss and learning rate)"
            for m in models if isinstance(m.get("same_as_base"), (int, float)) and m["same_as_base"] >= SAME_AS_BASE]


def text_report(evaluation: dict) -> list[str]:
    """The compare table as the CLI prints it."""
    models = model_results(evaluation)
    summary = running_summary(evaluation)
    done = evaluation.get("rows_done") or summary.get("rows") or 0
    where = evaluation.get("dataset_name") or "?"
    lines = [f"evaluation {evaluation.get('job_run_id')} ({evaluation['id'][:8]}) on {where}: "
             f"{evaluation.get('status') or 'gone'}, {done} row{'s' if done != 1 else ''} evaluated"]
    header, rows = compare_table(models)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    lines += same_as_base_warnings(models)
    if evaluation.get("error_message"):
        lines.append(f"reason: {evaluation['error_message']}")
    if evaluation.get("storage_path"):
        lines.append(f"rows: {Path(evaluation['storage_path']) / 'predictions.csv'} (and .jsonl)")
    return lines


class PredictionRows:
    """predictions.jsonl read by row number: the offsets of its lines are indexed once (and
    extended as the file grows), and a page reads only its own lines."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.offsets: list[int] = []
        self.end = 0  # bytes indexed so far (whole lines only)

    def refresh(self) -> int:
        """Index what was appended since; returns the number of rows."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.end)
                pos = self.end
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # a line being written: indexed next time
                    self.offsets.append(pos)
                    pos += len(line)
                self.end = pos
        except FileNotFoundError:
            pass
        return len(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets)

    def page(self, start: int, count: int) -> list[dict]:
        rows = []
        with self.path.open("rb") as f:
            for offset in self.offsets[max(0, start):start + count]:
                f.seek(offset)
                try:
                    rows.append(json.loads(f.readline()))
                except ValueError:
                    rows.append({"row": None, "prompt": "(damaged line)", "reference": None, "models": {}})
        return rows
