"""Training: ffui's real job (`ffui train --wait`) against TRL's SFTTrainer and a padded Trainer.

Same data (generated here: input/output pairs with heavy-tailed answer lengths), same model,
LoRA r16 on all linear layers, batch 8, same epochs, seed and hyperparameters. Contenders:

  ffui             `ffui data import` + `ffui train --wait` through the real CLI in a temp home
  ffui random      the same with group_by_length=false (random batches: the quality reference)
  trl default      SFTTrainer, prompt-completion data, its defaults (random batches, per-batch padding)
  trl grouped      ... with train_sampling_strategy="group_by_length"
  trl packing      ... with packing=True (best-fit decreasing; padding-free rows)
  trl padding-free ... with padding_free=True
  padded Trainer   transformers.Trainer, random batches padded to max_seq_len

Each run is its own process; contenders alternate round by round so a noisy neighbour hurts
all alike; each contender's best round (by tokens/s) is kept and the spread over rounds shown.
tokens/s = the training set's tokens x epochs / training seconds (the same numerator for all);
"job s" is the whole job as its user waits for it (start-up, tokenizing, loading, training,
saving), without the import into ffui's database and without the evaluation below. Eval loss
is computed the same way for every contender after its job: the saved adapter on held-out rows,
the mean over all their answer tokens.

    .venv/bin/python bench/train_vs_peers.py [--quick] [--rounds 3] [--rows 400] [--models tiny,h256]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent

HYPER = {"learning_rate": 5e-3, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear",
         "per_device_train_batch_size": 8, "max_seq_len": 1024, "seed": 0, "lr_scheduler_type": "linear",
         "warmup_steps": 0, "weight_decay": 0.0, "max_grad_norm": 1.0, "logging_steps": 1}
CONTENDERS = ["ffui", "ffui random", "trl default", "trl grouped", "trl packing", "trl padding-free",
              "padded Trainer"]
QUICK = ["ffui", "ffui random", "trl default", "trl grouped", "trl packing"]


# ---- data and models ----------------------------------------------------------------------


def heavy_tailed_pairs(n: int, seed: int) -> list[dict]:
    """Answers of log-normal length (median ~35 words, p99 ~300): most short, a long tail."""
    from ffui.train.tiny import SAMPLE_TEXT

    words = SAMPLE_TEXT.read_text().split()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = max(3, min(480, int(math.exp(rng.gauss(math.log(35), 0.9)))))
        start = rng.randrange(len(words))
        answer = " ".join(words[(start + j) % len(words)] for j in range(k))
        out.append({"input": f"Continue the notes, part {i}.", "output": answer})
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def build_models(root: Path, names: list[str]) -> dict[str, Path]:
    from ffui.train.tiny import build_tiny_model

    models = {}
    if "tiny" in names:  # as a user gets it
        subprocess.run([str(BIN / "ffui"), "model", "tiny", str(root / "tiny")], check=True, capture_output=True)
        models["tiny"] = root / "tiny"
    if "h256" in names:
        models["h256"] = build_tiny_model(root / "h256", arch="llama", hidden_size=256, num_layers=4)
    return models


def tokenized(model: Path, path: Path) -> list[dict]:
    """Rows as ffui's trainer sees them (chat template, answer-only labels): the common yardstick."""
    from transformers import AutoTokenizer

    from ffui.train import data

    tok = AutoTokenizer.from_pretrained(model)
    settings = data.DataSettings(max_seq_len=HYPER["max_seq_len"])
    data.prepare_tokenizer(tok, settings, lambda _: None)
    return data.tokenize_records(data.read_records(path), tok, settings)[0]


# ---- contenders (each runs in its own process: `--worker NAME`) ----------------------------


def run_ffui(name: str, model: Path, train: Path, out: Path, epochs: float) -> dict:
    home = out / "home"
    env = {**os.environ, "FFUI_HOME": str(home)}
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "ffui"), "--home", str(home), "data", "import", str(train), "--name", "bench"],
                   check=True, capture_output=True, env=env)
    setup_s = time.perf_counter() - t0
    sets = {**{k: v for k, v in HYPER.items() if k != "target_modules"}, "num_train_epochs": epochs,
            "save_steps": 100000, "group_by_length": name == "ffui"}
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={json.dumps(v) if isinstance(v, bool) else v}")]
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "ffui"), "--home", str(home), "train", "-d", "bench", "-m", str(model),
                           "--name", "bench", *args, "--wait"], capture_output=True, text=True, env=env)
    job_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ffui train failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    events_path = next(home.rglob("events.jsonl"))
    evs = [json.loads(line) for line in events_path.read_text().splitlines()]
    start, done = next(e for e in evs if e["type"] == "start"), evs[-1]
    return {"train_s": done["ts"] - start["ts"], "job_s": job_s, "setup_s": setup_s,
            "losses": [e["loss"] for e in evs if e["type"] == "step"], "steps": done["metrics"]["steps"],
            "adapter": done["adapter_path"]}


def _lora():
    from peft import LoraConfig

    return LoraConfig(r=HYPER["lora_r"], lora_alpha=HYPER["lora_alpha"], lora_dropout=HYPER["lora_dropout"],
                      target_modules="all-linear", bias="none", task_type="CAUSAL_LM")


def _common_args(out: Path, epochs: float) -> dict:
    return {"output_dir": str(out / "checkpoints"), "num_train_epochs": epochs, "learning_rate": HYPER["learning_rate"],
            "lr_scheduler_type": HYPER["lr_scheduler_type"], "warmup_steps": HYPER["warmup_steps"],
            "weight_decay": HYPER["weight_decay"], "max_grad_norm": HYPER["max_grad_norm"],
            "per_device_train_batch_size": HYPER["per_device_train_batch_size"], "seed": HYPER["seed"],
            "data_seed": HYPER["seed"], "logging_steps": HYPER["logging_steps"], "save_strategy": "no",
            "report_to": "none", "disable_tqdm": True, "use_cpu": True, "dataloader_num_workers": 0}


def run_trl(name: str, model: Path, train: Path, out: Path, epochs: float) -> dict:
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    pairs = [json.loads(line) for line in train.read_text().splitlines()]
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": p["input"]}],
                             "completion": [{"role": "assistant", "content": p["output"]}]} for p in pairs])
    extra = {"trl grouped": {"train_sampling_strategy": "group_by_length"}, "trl packing": {"packing": True},
             "trl padding-free": {"padding_free": True}}.get(name, {})
    # padding-free without packing refuses max_length: the generated rows are shorter than it anyway
    max_length = None if name == "trl padding-free" else HYPER["max_seq_len"]
    cfg = SFTConfig(**_common_args(out, epochs), max_length=max_length, **extra)
    tok = AutoTokenizer.from_pretrained(model)
    trainer = SFTTrainer(model=str(model), args=cfg, train_dataset=ds, processing_class=tok, peft_config=_lora())
    return _train_and_save(trainer, out)


def run_padded(name: str, model: Path, train: Path, out: Path, epochs: float) -> dict:
    from train_throughput import pad_to_max
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

    tok = AutoTokenizer.from_pretrained(model)
    rows = tokenized(model, train)
    set_seed(HYPER["seed"])
    lm = get_peft_model(AutoModelForCausalLM.from_pretrained(model), _lora())
    trainer = Trainer(model=lm, args=TrainingArguments(**_common_args(out, epochs), remove_unused_columns=False),
                      data_collator=pad_to_max(tok, HYPER["max_seq_len"]), train_dataset=rows, processing_class=tok)
    return _train_and_save(trainer, out)


def _train_and_save(trainer, out: Path) -> dict:
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    trainer.save_model(str(out / "adapter"))
    return {"train_s": train_s, "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
            "steps": trainer.state.global_step, "adapter": str(out / "adapter")}


def eval_loss(model: Path, adapter: str, held: Path) -> float:
    """Mean loss over every answer token of the held-out rows, batch by batch without padding."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    lm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model), adapter).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in tokenized(model, held):
            logits = lm(input_ids=torch.tensor([row["input_ids"]])).logits[0, :-1]
            labels = torch.tensor(row["labels"][1:])
            total += float(torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="sum"))
            count += int((labels != -100).sum())
    return total / count


def worker(a) -> int:
    """One contender's job, then its evaluation; the result as JSON on stdout's last line."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    run = run_ffui if a.worker.startswith("ffui") else run_padded if a.worker == "padded Trainer" else run_trl
    out = Path(a.out)
    result = run(a.worker, Path(a.model), Path(a.train), out, a.epochs)
    t0 = time.perf_counter()
    result["eval_loss"] = eval_loss(Path(a.model), result.pop("adapter"), Path(a.held_path))
    result["eval_s"] = time.perf_counter() - t0
    print(json.dumps(result))
    return 0


# ---- the comparison -----------------------------------------------------------------------


def run_contender(name: str, model: Path, train: Path, held: Path, out: Path, epochs: float) -> dict:
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", name, "--model", str(model), "--train", str(train),
                           "--held-path", str(held), "--out", str(out), "--epochs", str(epochs)],
                          capture_output=True, text=True, cwd=out)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    # the whole job as its user waits: the process, less the import into ffui's db and our eval
    r.setdefault("job_s", wall - r["eval_s"])
    return r


def summarize(name: str, rounds: list[dict], tokens: int) -> dict:
    speeds = [tokens / r["train_s"] for r in rounds]
    best = rounds[speeds.index(max(speeds))]
    losses = best["losses"]
    tail = losses[-max(1, len(losses) // 5):]
    return {"name": name, "tok_s": max(speeds), "spread": (max(speeds) - min(speeds)) / max(speeds),
            "job_s": min(r["job_s"] for r in rounds), "train_s": best["train_s"], "steps": best["steps"],
            "train_loss": sum(tail) / len(tail), "eval_loss": best["eval_loss"]}


def compare(model_name: str, model: Path, root: Path, a) -> list[dict]:
    records = heavy_tailed_pairs(a.rows + a.held, seed=1)
    train = write_jsonl(root / f"{model_name}-train.jsonl", records[:a.rows])
    held = write_jsonl(root / f"{model_name}-held.jsonl", records[a.rows:])
    lengths = sorted(len(r["input_ids"]) for r in tokenized(model, train))
    tokens = int(sum(lengths) * a.epochs)
    print(f"\n== {model_name}: {a.rows} rows (median {statistics.median(lengths):.0f} tokens, "
          f"p99 {lengths[int(0.99 * (len(lengths) - 1))]}, longest {lengths[-1]}), {a.held} held out, "
          f"{a.epochs:g} epochs, batch {HYPER['per_device_train_batch_size']}, best of {a.rounds}", flush=True)
    rounds: dict[str, list[dict]] = {c: [] for c in a.contenders}
    for i in range(a.rounds):
        order = a.contenders if i % 2 == 0 else a.contenders[::-1]
        for c in order:
            r = run_contender(c, model, train, held, root / f"{model_name}-{c.replace(' ', '_')}-{i}", a.epochs)
            rounds[c].append(r)
            print(f"  round {i + 1} {c:<17} {tokens / r['train_s']:>8.0f} tok/s  job {r['job_s']:6.1f} s  "
                  f"eval {r['eval_loss']:.4f}", flush=True)
    return [summarize(c, rs, tokens) for c, rs in rounds.items()]


def report(model_name: str, rows: list[dict]) -> None:
    by = {r["name"]: r for r in rows}
    trl = [r for r in rows if r["name"].startswith("trl")]
    fastest = max(trl, key=lambda r: r["tok_s"]) if trl else None
    ref = by.get("ffui random")
    print(f"\n{model_name}: {'contender':<17} {'steps':>5} {'tok/s':>8} {'spread':>6} {'job s':>6} "
          f"{'train loss':>10} {'eval loss':>9} {'ffui/this':>9}")
    for r in rows:
        ratio = by["ffui"]["tok_s"] / r["tok_s"] if "ffui" in by else float("nan")
        print(f"{'':<{len(model_name) + 2}}{r['name']:<17} {r['steps']:>5} {r['tok_s']:>8.0f} {r['spread']:>6.0%} "
              f"{r['job_s']:>6.1f} {r['train_loss']:>10.4f} {r['eval_loss']:>9.4f} {ratio:>8.2f}x")
    if fastest and "ffui" in by:
        f = by["ffui"]
        print(f"  ffui / fastest TRL ({fastest['name']}): {f['tok_s'] / fastest['tok_s']:.2f}x tokens/s (goal >= 1.5x), "
              f"{fastest['job_s'] / f['job_s']:.2f}x job wall time")
    if ref and "ffui" in by:
        gap = (by["ffui"]["eval_loss"] - ref["eval_loss"]) / ref["eval_loss"]
        print(f"  ffui eval loss vs random batches (ffui random): {gap:+.2%} (goal within 1%)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="160 rows, 1 round, the tiny model, five contenders")
    p.add_argument("--rows", type=int, default=400)
    p.add_argument("--held", type=int, default=48)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--models", default="tiny,h256", help="comma-separated: tiny, h256 (hidden 256, 4 layers)")
    p.add_argument("--contenders", help="comma-separated, from: " + ", ".join(CONTENDERS) + " (default: all; "
                   "--quick: " + ", ".join(QUICK) + ")")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--train", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--held-path", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    if a.quick:
        a.rows, a.rounds, a.models = 160, 1, "tiny"
    a.contenders = [c.strip() for c in (a.contenders or ",".join(QUICK if a.quick else CONTENDERS)).split(",")]
    unknown = [c for c in a.contenders if c not in CONTENDERS]
    if unknown:
        p.error(f"unknown contender(s) {unknown}; choose from {CONTENDERS}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="ffui-vs-peers-") as tmp:
        root = Path(tmp)
        models = build_models(root, [m.strip() for m in a.models.split(",")])
        results = {name: compare(name, path, root, a) for name, path in models.items()}
    for name, rows in results.items():
        report(name, rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
