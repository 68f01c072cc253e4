"""The transformers Trainer with ffui's length-bucketed batch order.

Loss normalisation is transformers' own: for models that take loss kwargs (every causal LM
in transformers, also under peft) the Trainer counts the trained tokens of all micro-batches
of an optimizer step (and of all ranks, average_tokens_across_devices) and divides the summed
token losses by that count, so a step's loss is the mean over all its trained tokens.
tests/test_train_speed.py checks that on the tiny model.
"""

from __future__ import annotations

from transformers import Trainer

from ffui.train.sampler import BucketShuffledSampler


class FfuiTrainer(Trainer):
    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or self.args.world_size > 1:
            return super()._get_train_sampler(train_dataset)  # several ranks: transformers' distributed one
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return BucketShuffledSampler([len(row["input_ids"]) for row in dataset], self.args.train_batch_size, seed)
