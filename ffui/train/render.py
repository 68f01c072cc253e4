"""What the model sees: records rendered exactly as the trainer feeds them, trained spans marked.

    python -m ffui.train.render DIR

DIR holds ``config.json`` (a resolved training config, as a run's), ``dataset.jsonl`` (the
trainer's lines, as a run's) and ``rows.json`` (the dataset row id of each line). The worker
loads the tokenizer the trainer loads and takes the trainer's own path (ffui.train.data:
chat template, tool fallbacks, truncation, labels, packing), then writes one JSON object a line
on stdout::

    {"type": "warning", "message": ...}          what the trainer would warn about
    {"type": "example", "row": ID, "text": ..., "trained": [...], "tokens": N,
     "trained_tokens": M, "truncated": bool, "dropped": reason | null}
    {"type": "summary", ...DataStats...}         last, when every record rendered

For a preference objective (dpo, orpo, simpo, kto) an example is the row's sides as the trainer
takes them (ffui.train.preference.render_sides): ``{"type": "example", "row": ID, "prompt": ...,
"chosen": ..., "rejected": ...}`` (kto: ``"completion"`` and ``"label"``), each a string or a
list of turns; TRL's trainer applies the chat template to them itself.
    {"type": "error", "message": ..., "hint": ...}  instead, for a problem the user can fix

``text`` is the decoded input_ids (bos, template markers and eos included); ``trained`` are
the decoded runs of tokens the loss is computed on. The CLI (``ffui data render``) and the
Datasets screen start this worker (ffui.jobs.render): they never import torch or transformers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from pathlib import Path
from typing import Iterator

from ffui.train import data
from ffui.train.events import TrainerError


def trained_runs(ex: data.TokenizedExample) -> list[list[int]]:
    """The runs of consecutive token ids the loss is computed on (never the first token)."""
    runs: list[list[int]] = []
    previous_trained = False
    for i, (tok, label) in enumerate(zip(ex.input_ids, ex.labels)):
        trained = i > 0 and label != data.IGNORE
        if trained and previous_trained:
            runs[-1].append(tok)
        elif trained:
            runs.append([tok])
        previous_trained = trained
    return runs


def example_view(ex: data.TokenizedExample, tokenizer) -> dict:
    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    return {"row": ex.record.row, "text": decode(ex.input_ids),
            "trained": [decode(run) for run in trained_runs(ex)],
            "tokens": len(ex.input_ids), "trained_tokens": ex.trained_tokens,
            "truncated": ex.truncated, "dropped": ex.dropped}


def render(records: list[data.Record], tokenizer, s: data.DataSettings) -> Iterator[dict]:
    """Example views, then the summary the trainer would log for these records."""
    examples, stats = [], data.DataStats()
    for ex in data.tokenize_each(records, tokenizer, s):
        yield {"type": "example", **example_view(ex, tokenizer)}
        if stats.add(ex):
            examples.append({"input_ids": ex.input_ids, "labels": ex.labels})
    rows = data.pack_examples(examples, s.max_seq_len) if s.packing else examples
    stats.rows = len(rows)
    yield {"type": "summary", **dataclasses.asdict(stats), "records": len(records),
           "max_seq_len": s.max_seq_len, "packing": s.packing,
           "line": data.summary_line("rendered", len(records), stats, s.max_seq_len, s.packing)}


def preference_views(records: list[data.Record], objective: str) -> Iterator[dict]:
    """Each record's sides as a preference trainer takes them, then a summary line."""
    from ffui.train import preference

    for rec in records:
        yield {"type": "example", "row": rec.row, **preference.render_sides(rec.data)}
    n = len(records)
    yield {"type": "summary", "records": n, "examples": n,
           "line": f"rendered data: {n} preference example{'' if n == 1 else 's'} for objective={objective} "
                   "(the prompt and the sides its trainer compares)"}


def read_render_dir(render_dir: Path):
    """(config, data settings, records each knowing its dataset row)."""
    from ffui.train.plan import build_training_arguments
    from ffui.train.runner import load_config

    cfg = load_config(render_dir)
    records = data.read_records(render_dir / "dataset.jsonl")
    try:
        row_ids = json.loads((render_dir / "rows.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        row_ids = []
    for rec, row in zip(records, row_ids):
        rec.row = row
    settings = data.DataSettings(**build_training_arguments(cfg, backend="cpu")["data"])
    return cfg, settings, records


def run(render_dir: Path, emit) -> None:
    from ffui.train import backends, objectives
    from ffui.train.runner import check_records

    cfg, settings, records = read_render_dir(render_dir)
    check_records(cfg, records)  # the trainer's checks of each record for its objective, before the tokenizer loads
    model_name = backends.check_base_model(cfg)
    if cfg.objective in objectives.TRAINERS:
        for item in preference_views(records, cfg.objective):
            emit(item)
        return

    def warn(message: str) -> None:
        emit({"type": "warning", "message": message})

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = backends.load_tokenizer(model_name)
    data.prepare_tokenizer(tokenizer, settings, warn)
    data.warn_tool_fallbacks(records, settings, warn)
    for item in render(records, tokenizer, settings):
        emit(item)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffui.train.render", description=__doc__.splitlines()[0])
    p.add_argument("render_dir", help="directory holding config.json, dataset.jsonl and rows.json")
    args = p.parse_args(argv)

    def emit(item: dict) -> None:
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")

    try:
        run(Path(args.render_dir), emit)
    except TrainerError as e:
        emit({"type": "error", "message": e.message, "hint": e.hint})
        return e.exit_code
    except Exception as e:  # a bug: one line for the user, the traceback on stderr (the log)
        traceback.print_exc()
        emit({"type": "error", "message": f"internal error: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
              "hint": "this is a bug in ffui"})
        return 1
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
