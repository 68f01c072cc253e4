"""Evaluation throughput: ffui's evaluation worker vs the naive loops, same model, same rows.

1. Generation: ffui's batched, left-padded greedy generation (ffui.train.evaluate.ModelSet)
   against one prompt at a time (the loop most evaluation scripts write), for the same prompts
   and max_new_tokens. Prints generated tokens/s of each and the ratio, and how many answers
   differ (greedy answers of a batch may differ from single ones only by float rounding).
2. Held-out loss: ffui's batched token loss (ffui.train.eval_scoring.token_losses) against a
   plain transformers loop (one row at a time, model(input_ids, labels=labels).loss weighted
   by its token count). Prints rows/s of each, the ratio, and both perplexities (they must agree).

    .venv/bin/python bench/eval_throughput.py [--rows 64] [--batch 16] [--max-new-tokens 32]

Runs on the tiny model (built in a temporary folder) unless --model names another.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def rows(n: int) -> list[dict]:
    from ffui.train.tiny import SAMPLE_TEXT

    words = SAMPLE_TEXT.read_text().split()
    return [{"input": f"Continue: {' '.join(words[i * 7:i * 7 + 6 + i % 9])}",
             "output": " ".join(words[i * 7 + 6:i * 7 + 14 + i % 17])} for i in range(n)]


def cases(model_set, records, settings):
    from ffui.train import data
    from ffui.train.evaluate import prepare_case

    recs = [data.Record(i + 1, r, "bench") for i, r in enumerate(records)]
    return [prepare_case(i, rec, model_set.tokenizer, settings) for i, rec in enumerate(recs)]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_generation(model_set, prompts, batch: int, max_new: int) -> None:
    batched, t_batched = timed(lambda: [a for i in range(0, len(prompts), batch)
                                        for a in model_set.generate(prompts[i:i + batch], max_new)])
    single, t_single = timed(lambda: [model_set.generate([p], max_new)[0] for p in prompts])
    tok = model_set.tokenizer
    tokens = sum(len(tok(a, add_special_tokens=False)["input_ids"]) for a in batched)
    differ = sum(a != b for a, b in zip(batched, single))
    print(f"generation, {len(prompts)} prompts, max_new_tokens {max_new}:")
    print(f"  one at a time : {tokens / t_single:8.1f} tokens/s ({t_single:.2f} s)")
    print(f"  ffui, batch {batch:<3}: {tokens / t_batched:8.1f} tokens/s ({t_batched:.2f} s)")
    print(f"  ratio         : {t_single / t_batched:.2f}x   answers that differ: {differ} of {len(prompts)}")


def bench_loss(model_set, examples, batch: int) -> None:
    import torch

    from ffui.train.eval_scoring import heldout_metrics, token_losses

    model = model_set.model
    ffui, t_ffui = timed(lambda: heldout_metrics(token_losses(model, examples, model_set.tokenizer.pad_token_id, batch)))

    def plain():
        total, count = 0.0, 0
        with torch.inference_mode():
            for e in examples:
                labels = torch.tensor([e["labels"]])
                n = int((labels[:, 1:] != -100).sum())
                total += float(model(input_ids=torch.tensor([e["input_ids"]]), labels=labels).loss) * n
                count += n
        return math.exp(total / count)

    ppl, t_plain = timed(plain)
    print(f"held-out loss, {len(examples)} rows:")
    print(f"  plain transformers loop: {len(examples) / t_plain:8.1f} rows/s, perplexity {ppl:.4f}")
    print(f"  ffui, batch {batch:<3}        : {len(examples) / t_ffui:8.1f} rows/s, "
          f"perplexity {ffui['heldout_perplexity']:.4f}")
    print(f"  ratio                  : {t_plain / t_ffui:.2f}x")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--model", help="a model directory (default: the tiny model, built now)")
    args = p.parse_args()
    from ffui.train import data
    from ffui.train.evaluate import ModelSet
    from ffui.train.events import EventWriter

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if not model:
            from ffui.train.tiny import build_tiny_model

            model = str(build_tiny_model(Path(tmp) / "tiny"))
        spec = {"base_model": model, "models": [{"name": "base", "adapter_path": None}]}
        model_set = ModelSet(spec, EventWriter(Path(tmp) / "events.jsonl"))
        settings = data.DataSettings()
        found = cases(model_set, rows(args.rows), settings)
        print(f"model {model} on {model_set.device}")
        bench_generation(model_set, [c.prompt_ids for c in found], args.batch, args.max_new_tokens)
        bench_loss(model_set, [c.example for c in found if c.example], args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
