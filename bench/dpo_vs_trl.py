"""DPO: ffui's real job (`ffui train --set objective=dpo --wait`) against TRL's DPOTrainer called directly.

Same tiny model, same preference data (generated here: conversational prompt/chosen/rejected rows
with answers of varied length), LoRA r16 on all linear layers, batch 4, one epoch, seed, beta and
learning rate. Contenders:

  ffui        `ffui data import` + `ffui train --set objective=dpo --wait` through the real CLI
  trl direct  DPOTrainer(model, args=DPOConfig(...), peft_config=LoraConfig(...)) in a script

Each run is its own process; contenders alternate round by round so a noisy neighbour hurts both
alike; each contender's best round (by tokens/s) is kept. tokens/s = non-padding tokens the trainer
saw (transformers' num_input_tokens_seen, counted the same way in both) / seconds from the start of
training to its last logged step; the loss is the DPO loss TRL reports, first and last step.

    .venv/bin/python bench/dpo_vs_trl.py [--rows 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent

HYPER = {"learning_rate": 5e-4, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear",
         "per_device_train_batch_size": 4, "max_seq_len": 512, "seed": 0, "beta": 0.1, "num_train_epochs": 1.0,
         "logging_steps": 1, "num_gpu": 0, "save_steps": 10_000}


def preference_rows(n: int, seed: int) -> list[dict]:
    from ffui.train.tiny import SAMPLE_TEXT

    words = SAMPLE_TEXT.read_text().split()
    rng = random.Random(seed)

    def text(k: int) -> str:
        start = rng.randrange(len(words) - k)
        return " ".join(words[start:start + k])

    return [{"prompt": [{"role": "user", "content": text(rng.randint(5, 20)) + "?"}],
             "chosen": [{"role": "assistant", "content": text(rng.randint(5, 60))}],
             "rejected": [{"role": "assistant", "content": text(rng.randint(5, 60))}]} for _ in range(n)]


# ---- the contenders, each in its own process ---------------------------------------------------


def run_ffui(work: Path, data: Path, model: Path) -> dict:
    home = work / "home"
    env_cmd = [str(BIN / "ffui"), "--home", str(home)]
    subprocess.run(env_cmd + ["data", "import", str(data), "--name", "prefs"], check=True, capture_output=True)
    sets = [a for k, v in HYPER.items() for a in ("--set", f"{k}={v}")]
    r = subprocess.run(env_cmd + ["train", "-d", "prefs", "-m", str(model), "--set", "objective=dpo", *sets, "--wait"],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"ffui train failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    run_dir = next(Path(x.split("artifacts:", 1)[1].strip()) for x in r.stdout.splitlines() if "artifacts:" in x)
    evs = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    start = next(e["ts"] for e in evs if e["type"] == "start")
    steps = [e for e in evs if e["type"] == "step"]
    done = next(e for e in evs if e["type"] == "done")
    return {"seconds": steps[-1]["ts"] - start, "tokens": done["metrics"]["tokens_seen"],
            "first_loss": steps[0]["loss"], "final_loss": steps[-1]["loss"], "steps": len(steps)}


TRL_SCRIPT = r'''
import json, sys, time
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed
from trl import DPOConfig, DPOTrainer

data, model_dir, out, hyper = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
rows = [json.loads(x) for x in open(data)]

class Clock(TrainerCallback):
    def __init__(self): self.start, self.logs = None, []
    def on_train_begin(self, args, state, control, **kw): self.start = time.time()
    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs: self.logs.append((time.time(), logs["loss"]))

set_seed(hyper["seed"])
tok = AutoTokenizer.from_pretrained(model_dir)
tok.pad_token = tok.pad_token or tok.eos_token
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
args = DPOConfig(output_dir=out, per_device_train_batch_size=hyper["per_device_train_batch_size"],
                 learning_rate=hyper["learning_rate"], num_train_epochs=hyper["num_train_epochs"], seed=hyper["seed"],
                 beta=hyper["beta"], max_length=hyper["max_seq_len"], logging_steps=1, save_strategy="no",
                 report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False,
                 include_num_input_tokens_seen="non_padding", disable_tqdm=True)
lora = LoraConfig(r=hyper["lora_r"], lora_alpha=hyper["lora_alpha"], lora_dropout=hyper["lora_dropout"],
                  target_modules=hyper["target_modules"], bias="none", task_type="CAUSAL_LM")
clock = Clock()
trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                     peft_config=lora, callbacks=[clock])
trainer.train()
print(json.dumps({"seconds": clock.logs[-1][0] - clock.start, "tokens": int(trainer.state.num_input_tokens_seen),
                  "first_loss": clock.logs[0][1], "final_loss": clock.logs[-1][1], "steps": len(clock.logs)}))
'''


def run_trl(work: Path, data: Path, model: Path) -> dict:
    hyper = {**HYPER, "target_modules": "all-linear"}
    r = subprocess.run([sys.executable, "-c", TRL_SCRIPT, str(data), str(model), str(work / "out"), json.dumps(hyper)],
                       capture_output=True, text=True, env={"CUDA_VISIBLE_DEVICES": "", "TRL_EXPERIMENTAL_SILENCE": "1",
                                                           "PATH": str(BIN), "HOME": str(work)})
    if r.returncode:
        raise SystemExit(f"trl direct failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


CONTENDERS = {"ffui": run_ffui, "trl direct": run_trl}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    opts = ap.parse_args()
    from ffui.train.tiny import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="ffui-bench-dpo-") as tmp:
        tmp = Path(tmp)
        model = build_tiny_model(tmp / "tiny")
        data = tmp / "prefs.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in preference_rows(opts.rows, 0)))
        best: dict[str, dict] = {}
        for rnd in range(opts.rounds):
            for name, fn in CONTENDERS.items():
                work = tmp / f"{name.replace(' ', '-')}-{rnd}"
                work.mkdir()
                t0 = time.time()
                res = fn(work, data, model)
                res["tokens_per_s"] = res["tokens"] / max(res["seconds"], 1e-9)
                print(f"round {rnd + 1} {name:10s} {res['tokens_per_s']:8.1f} tok/s  loss {res['first_loss']:.4f} -> "
                      f"{res['final_loss']:.4f}  {res['steps']} steps  (job {time.time() - t0:.0f} s)", flush=True)
                if name not in best or res["tokens_per_s"] > best[name]["tokens_per_s"]:
                    best[name] = res
    ours, theirs = best["ffui"], best["trl direct"]
    print(f"\n{'contender':12s} {'tok/s':>9s} {'first loss':>11s} {'final loss':>11s} {'tokens':>8s}")
    for name, res in best.items():
        print(f"{name:12s} {res['tokens_per_s']:9.1f} {res['first_loss']:11.4f} {res['final_loss']:11.4f} "
              f"{res['tokens']:8d}")
    print(f"\nffui / trl direct: tokens/s {ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x, "
          f"final loss {ours['final_loss'] / theirs['final_loss']:.2f}x, tokens {ours['tokens'] / theirs['tokens']:.2f}x")


if __name__ == "__main__":
    main()
