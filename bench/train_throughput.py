"""Training throughput: ffui's trainer vs a plain transformers Trainer padding to max_seq_len.

Same tiny model, same tokenized examples and labels, same hyperparameters (LoRA, lr, batch,
epochs, seed); only the batching differs. The dataset has a heavy-tailed length distribution
(most examples short, a few long), where padding every batch to max_seq_len wastes most of
the compute. ffui pads each batch to its own longest row and groups similar lengths.

    .venv/bin/python bench/train_throughput.py [--examples 320] [--epochs 2] [--packing]

Prints non-padding tokens/s for each, the ratio, and the losses (last-steps train loss and a
held-out eval loss computed the same way for both). Goal: ffui >= 1.5x, eval loss within 5%.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HYPER = {"learning_rate": 5e-3, "lora_r": 16, "lora_alpha": 32, "per_device_train_batch_size": 8,
         "max_seq_len": 512, "seed": 0, "logging_steps": 5, "save_steps": 100000, "eval_steps": 100000,
         "lr_scheduler_type": "linear", "warmup_steps": 0}


def heavy_tailed_dataset(n: int, seed: int) -> list[dict]:
    """~85% short answers (5-40 words), ~12% medium (40-150), ~3% long (250-400)."""
    from ffui.train.tiny import SAMPLE_TEXT

    words = SAMPLE_TEXT.read_text().split()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = rng.random()
        k = rng.randint(5, 40) if r < 0.85 else rng.randint(40, 150) if r < 0.97 else rng.randint(250, 400)
        start = rng.randrange(len(words))
        answer = " ".join(words[(start + j) % len(words)] for j in range(k))
        out.append({"input": f"Continue the notes, part {i}.", "output": answer})
    return out


def write_run(root: Path, name: str, base: Path, train: list[dict], held: list[dict], cfg: dict) -> Path:
    run = root / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"base_model": str(base), **cfg}))
    (run / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (run / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in held))
    return run


def run_ffui(run: Path) -> dict:
    from ffui.train.runner import main

    with open(run / "train.log", "w") as log, contextlib.redirect_stdout(log):
        rc = main(run)
    assert rc == 0, (run / "events.jsonl").read_text()[-2000:]
    evs = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    start = next(e for e in evs if e["type"] == "start")
    done = evs[-1]
    eval_s = sum(e.get("eval_runtime", 0) for e in evs if e["type"] == "eval")
    losses = [e["loss"] for e in evs if e["type"] == "step"]
    return {"seconds": done["ts"] - start["ts"] - eval_s, "tokens": done["metrics"]["tokens_seen"],
            "steps": done["metrics"]["steps"], "train_loss": _tail_mean(losses),
            "eval_loss": done["metrics"]["eval_loss"]}


def run_padded_baseline(run: Path) -> dict:
    """A plain Trainer: random batches, every batch padded to max_seq_len."""
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, PrinterCallback, Trainer, TrainingArguments,
                              set_seed)

    from ffui.train import data
    from ffui.train.config import TrainConfig
    from ffui.train.plan import build_training_arguments

    cfg = TrainConfig.load(run / "config.json")
    plan = build_training_arguments(cfg, output_dir=run / "checkpoints", backend="cpu", has_eval=True)
    settings = data.DataSettings(**plan["data"])
    tok = AutoTokenizer.from_pretrained(cfg.base_model)
    train_rows, _ = data.tokenize_records(data.read_records(run / "dataset.jsonl"), tok, settings)
    eval_rows, _ = data.tokenize_records(data.read_records(run / "eval.jsonl"), tok, settings)
    set_seed(cfg.seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(cfg.base_model), LoraConfig(**plan["lora"]))
    args = dict(plan["training_args"], train_sampling_strategy="random", label_names=["labels"])

    trainer = Trainer(model=model, args=TrainingArguments(**args), data_collator=pad_to_max(tok, cfg.max_seq_len),
                      train_dataset=train_rows, eval_dataset=eval_rows, processing_class=tok)
    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    hist = trainer.state.log_history
    eval_s = sum(h.get("eval_runtime", 0) for h in hist)
    eval_loss = [h["eval_loss"] for h in hist if "eval_loss" in h][-1]
    losses = [h["loss"] for h in hist if "loss" in h]
    return {"seconds": seconds - eval_s, "tokens": trainer.state.num_input_tokens_seen,
            "steps": trainer.state.global_step, "train_loss": _tail_mean(losses), "eval_loss": eval_loss}


def pad_to_max(tok, length: int):
    """The padded baseline's collator: every batch padded to ``length`` (what a Trainer without
    length-aware batching does); bench/train_vs_peers.py uses it too."""
    import torch

    def collate(features):
        n = len(features)
        batch = {"input_ids": torch.full((n, length), tok.pad_token_id or 0), "labels": torch.full((n, length), -100),
                 "attention_mask": torch.zeros((n, length), dtype=torch.long)}
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            batch["input_ids"][i, :k] = torch.tensor(f["input_ids"])
            batch["labels"][i, :k] = torch.tensor(f["labels"])
            batch["attention_mask"][i, :k] = 1
        return batch

    return collate


def _tail_mean(xs: list[float]) -> float:
    tail = xs[-max(1, len(xs) // 5):]
    return sum(tail) / len(tail)


def measure(variants: dict, repeat: int, make_run) -> dict[str, dict]:
    """Each variant's best run by tokens/s; runs alternate so a noisy neighbour hurts all alike."""
    results: dict[str, dict] = {}
    for i in range(repeat):
        for name, (fn, cfg) in variants.items():
            run = make_run(f"{name.replace(' ', '_')}_{i}", cfg)
            r = fn(run)
            r["tok_s"] = r["tokens"] / r["seconds"]
            if name not in results or r["tok_s"] > results[name]["tok_s"]:
                results[name] = r
            shutil.rmtree(run)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=320)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--packing", action="store_true", help="also run ffui with packing=true")
    p.add_argument("--repeat", type=int, default=1, help="alternate the runs N times, keep each one's best")
    a = p.parse_args()
    import torch
    from transformers.utils import logging as hf_logging

    from ffui.train.tiny import build_tiny_model

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = build_tiny_model(root / "tiny", arch="llama")
        records = heavy_tailed_dataset(a.examples + 32, seed=1)
        train, held = records[:-32], records[-32:]
        cfg = {**HYPER, "num_train_epochs": a.epochs}
        variants = {"padded baseline": (run_padded_baseline, cfg), "ffui": (run_ffui, cfg)}
        if a.packing:
            variants["ffui packing"] = (run_ffui, {**cfg, "packing": True})
        results = measure(variants, a.repeat, lambda name, c: write_run(root, name, base, train, held, c))
    print(f"\n{len(train)} examples, {a.epochs:g} epochs, batch {HYPER['per_device_train_batch_size']}, "
          f"max_seq_len {HYPER['max_seq_len']}, torch threads {torch.get_num_threads()}, best of {a.repeat}")
    print(f"{'trainer':<16} {'steps':>5} {'tokens':>8} {'train s':>8} {'tok/s':>8} {'train loss':>10} {'eval loss':>9}")
    for name, r in results.items():
        print(f"{name:<16} {r['steps']:>5} {r['tokens']:>8} {r['seconds']:>8.1f} {r['tok_s']:>8.0f} "
              f"{r['train_loss']:>10.4f} {r['eval_loss']:>9.4f}")
    base_r, ffui_r = results["padded baseline"], results["ffui"]
    ratio = ffui_r["tok_s"] / base_r["tok_s"]
    loss_gap = abs(ffui_r["eval_loss"] - base_r["eval_loss"]) / base_r["eval_loss"]
    print(f"\nffui / padded baseline: {ratio:.2f}x non-padding tokens/s (goal >= 1.5x); "
          f"eval loss differs by {loss_gap:.1%} (goal <= 5%)")
    return 0 if ratio >= 1.5 and loss_gap <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
