"""What makes ffui's training fast must not change what it learns: the loss of an optimizer
step weighs every trained token alike, length buckets come in a random (seeded) order, and
packing keeps the tokens per optimizer step. On the tiny model, on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _plan(base: Path, out: Path, **overrides) -> dict:
    from ffui.train.config import TrainConfig
    from ffui.train.plan import build_training_arguments

    cfg = TrainConfig.from_dict({"base_model": str(base), "lora_dropout": 0.0, "seed": 0, "logging_steps": 1,
                                 "save_steps": 10_000, **overrides})
    return build_training_arguments(cfg, output_dir=out / "checkpoints", backend="cpu", has_eval=False)


def _ffui_trainer(base: Path, out: Path, rows: list[dict], **overrides):
    """The runner's own trainer (collator, sampler, callbacks) on the tiny model with LoRA."""
    from transformers import AutoTokenizer, set_seed

    from ffui.train import backends, runner
    from ffui.train.control import Control
    from ffui.train.events import EventWriter

    plan = _plan(base, out, **overrides)
    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = backends.load_model(str(base), plan)
    events = EventWriter(out / "events.jsonl", enabled=True)
    start_fields = {"backend": "cpu", "device": "cpu"}
    trainer, _ = runner._build_trainer(model, tokenizer, plan, rows, [], events, Control(out), start_fields)
    return trainer, events


def _row(n_prompt: int, n_answer: int, offset: int) -> dict:
    ids = [(offset + 7 * i) % 900 + 50 for i in range(n_prompt + n_answer)]
    return {"input_ids": ids, "labels": [-100] * n_prompt + ids[n_prompt:]}


def test_a_step_with_gradient_accumulation_weighs_every_trained_token_alike(tiny_model, tmp_path):
    import torch

    short, long = _row(4, 6, 1), _row(10, 150, 2)
    trainer, events = _ffui_trainer(tiny_model, tmp_path, [short, long], per_device_train_batch_size=1,
                                    gradient_accumulation_steps=2, max_steps=1, learning_rate=0.0,
                                    group_by_length=False, max_grad_norm=0.0)
    grads = {}

    class KeepGrads(__import__("transformers").TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kw):
            grads.update({n: p.grad.detach().clone() for n, p in kw["model"].named_parameters() if p.grad is not None})

    trainer.add_callback(KeepGrads())
    trainer.train()
    events.close()
    step = next(json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()
                if json.loads(line)["type"] == "step")

    # the same two rows, computed directly: summed token losses over all trained tokens
    model = trainer.model
    model.zero_grad()
    total, count, per_row = 0.0, 0, []
    for row in (short, long):
        logits = model(input_ids=torch.tensor([row["input_ids"]])).logits[0, :-1]
        labels = torch.tensor(row["labels"][1:])
        loss_sum = torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="sum")
        total, count = total + loss_sum, count + int((labels != -100).sum())
        per_row.append(loss_sum.item() / int((labels != -100).sum()))
    token_mean = total / count
    token_mean.backward()

    assert step["loss"] == pytest.approx(token_mean.item(), rel=1e-4)
    assert abs(step["loss"] - sum(per_row) / 2) > 1e-3  # a mean of the two rows' means would differ
    assert grads
    for name, p in model.named_parameters():
        if name in grads:
            torch.testing.assert_close(grads[name], p.grad, rtol=1e-3, atol=1e-6)


def _keep_grads(trainer) -> list[dict]:
    from transformers import TrainerCallback

    steps: list[dict] = []

    class KeepGrads(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kw):
            steps.append({n: p.grad.detach().clone() for n, p in kw["model"].named_parameters()
                          if p.grad is not None})

    trainer.add_callback(KeepGrads())
    return steps


def _token_loss(model, row: dict):
    """(summed loss over the row's trained tokens, their count), computed directly."""
    import torch

    logits = model(input_ids=torch.tensor([row["input_ids"]])).logits[0, :-1]
    labels = torch.tensor(row["labels"][1:])
    return (torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="sum"),
            int((labels != -100).sum()))


def test_with_length_buckets_a_short_step_weighs_its_tokens_like_random_batches(tiny_model, tmp_path):
    """A bucket of short examples makes a step with few tokens: its gradient is its summed token
    losses over the average tokens per step, so each token counts as much as in a long step."""
    short, long = _row(4, 6, 1), _row(10, 150, 2)
    trainer, events = _ffui_trainer(tiny_model, tmp_path, [short, long], per_device_train_batch_size=1,
                                    max_steps=2, learning_rate=0.0, group_by_length=True, max_grad_norm=0.0)
    grads = _keep_grads(trainer)
    trainer.train()
    events.close()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "events.jsonl").read_text().splitlines()
              if json.loads(line)["type"] == "step"]
    model = trainer.model
    sums = {}
    for name, row in (("short", short), ("long", long)):
        model.zero_grad()
        loss_sum, count = _token_loss(model, row)
        (loss_sum / ((6 + 150) / 2)).backward()  # over the trained tokens per step, averaged
        sums[name] = (loss_sum.item() / count, {n: p.grad.clone() for n, p in model.named_parameters()
                                                 if p.grad is not None})
    assert len(grads) == 2
    for step_loss, step_grads in zip(losses, grads):
        name = min(sums, key=lambda k: abs(sums[k][0] - step_loss))
        assert step_loss == pytest.approx(sums[name][0], rel=1e-4)  # the shown loss: the step's own mean
        for n, g in step_grads.items():
            torch_close(g, sums[name][1][n])


def torch_close(a, b):
    import torch

    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-7)


def _batch_lengths(trainer, epoch: int) -> list[list[int]]:
    loader = trainer.get_train_dataloader()
    loader.set_epoch(epoch)
    return [[int(n) for n in b["attention_mask"].sum(1)] for b in loader]


def test_length_buckets_come_in_a_seeded_random_order(tiny_model, tmp_path):
    import random

    rng = random.Random(3)
    rows = [_row(2, rng.choice([4, 8, 16, 40, 120]) + rng.randrange(4), i) for i in range(200)]
    trainer, _ = _ffui_trainer(tiny_model, tmp_path, rows, per_device_train_batch_size=4, max_steps=1)
    first = _batch_lengths(trainer, 0)
    again, _ = _ffui_trainer(tiny_model, tmp_path / "again", rows, per_device_train_batch_size=4, max_steps=1)

    assert first == _batch_lengths(again, 0)  # same seed, same order
    assert first != _batch_lengths(trainer, 1)  # a new order each epoch
    assert sorted(n for b in first for n in b) == sorted(len(r["input_ids"]) for r in rows)  # each row once
    # a batch holds rows of similar length: little padding
    padding = sum(max(b) * len(b) - sum(b) for b in first)
    assert padding < 0.05 * sum(sum(b) for b in first)
    # ...but the buckets come in random order: no run of long-to-short or short-to-long batches
    longest = [max(b) for b in first]
    for start in range(0, len(longest) - 12, 12):
        run = longest[start:start + 12]
        assert run != sorted(run) and run != sorted(run, reverse=True)


def test_bucket_order_depends_on_the_seed():
    from ffui.train.sampler import bucketed_batches

    lengths = [(i * 37) % 101 for i in range(160)]
    a, b = bucketed_batches(lengths, 8, seed=1), bucketed_batches(lengths, 8, seed=2)
    assert a == bucketed_batches(lengths, 8, seed=1) and a != b
    assert all(len(batch) == 8 for batch in a)


def test_packing_keeps_the_steps_and_tokens_of_unpacked_training(tiny_model, tmp_path):
    answer = " ".join(["a longer answer that fills about half of a packed row"] * 4)
    records = [{"input": f"Question {i}?", "output": answer} for i in range(48)]
    steps = {}
    for packing in (False, True):
        run = tmp_path / f"packing-{packing}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({
            "base_model": str(tiny_model), "packing": packing, "per_device_train_batch_size": 8,
            "num_train_epochs": 1, "max_seq_len": 256, "save_steps": 10_000, "logging_steps": 1}))
        (run / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        with open(run / "train.log", "wb") as log:
            rc = subprocess.run([sys.executable, "-m", "ffui.train", str(run)], cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, timeout=300).returncode
        text = (run / "train.log").read_text()
        assert rc == 0, text[-3000:]
        evs = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
        start = next(e for e in evs if e["type"] == "start")
        steps[packing] = start["total_steps"]
        if packing:
            assert start["data"]["rows"] < 48
            assert "packing: 48 examples in" in text and "as many tokens as unpacked" in text
    assert steps[True] == pytest.approx(steps[False], abs=1) and steps[False] == 6


def test_packing_says_when_a_row_holds_more_than_a_batch():
    from ffui.train.data import packed_batch_note, packed_batch_size

    assert packed_batch_size(examples=48, rows=4, batch_size=8) == 1
    note = packed_batch_note(examples=48, rows=4, batch_size=8)
    assert "1.5x the tokens" in note and "fewer steps" in note and "lower max_seq_len" in note
