"""The transformers Trainer with ffui's length-bucketed batch order, at the quality of random batches.

Loss normalisation is transformers' own: for models that take loss kwargs (every causal LM in
transformers, also under peft) the Trainer counts the trained tokens of all micro-batches of an
optimizer step (and of all ranks, average_tokens_across_devices) and divides the summed token
losses by that count (`num_items_in_batch`), so a step's loss is the mean over all its tokens.

Length buckets leave one difference to random batches: a step of short examples has few tokens
but still makes a full step, so short examples weigh more per token. With buckets, the step's
summed token losses are divided by the *average* trained tokens per optimizer step instead of
its own count: every token then weighs the same whatever bucket it came in, as with random
batches. The loss shown (train.log, events) is still the step's own per-token mean.
"""

from __future__ import annotations

import torch
from transformers import Trainer

from ffui.train.sampler import BucketShuffledSampler


class FfuiTrainer(Trainer):
    _tokens_per_step: float | None = None  # set when length buckets are in use
    _report_scale: float = 1.0

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or self.args.world_size > 1:
            self._tokens_per_step = None
            return super()._get_train_sampler(train_dataset)  # several ranks: transformers' distributed one
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        self._tokens_per_step = mean_trained_tokens_per_step(
            dataset, self.args.train_batch_size * self.args.gradient_accumulation_steps)
        return BucketShuffledSampler([len(row["input_ids"]) for row in dataset], self.args.train_batch_size, seed)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batches, counted = super().get_batch_samples(epoch_iterator, num_batches, device)
        self._report_scale = 1.0
        if not self._tokens_per_step or counted is None or not self.model_accepts_loss_kwargs:
            return batches, counted
        self._report_scale = self._tokens_per_step / max(float(counted), 1.0)
        return batches, torch.tensor(self._tokens_per_step, device=device)

    def training_step(self, model, inputs, num_items_in_batch=None):
        # the returned loss only feeds the logs: report the step's own per-token mean
        return super().training_step(model, inputs, num_items_in_batch) * self._report_scale


def mean_trained_tokens_per_step(rows, examples_per_step: int) -> float:
    """Trained (label) tokens per optimizer step, averaged over an epoch; labels shift by one."""
    tokens = sum(sum(1 for x in row["labels"][1:] if x != -100) for row in rows)
    steps = max(1, -(-len(rows) // examples_per_step))
    return tokens / steps
