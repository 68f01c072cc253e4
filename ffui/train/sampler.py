"""Length-bucketed batches in random order: little padding, no length trend within an epoch.

transformers' LengthGroupedSampler sorts each mega-batch longest first, so every mega-batch
runs its batches from long to short. Here each mega-batch (a random draw of many batches'
worth of examples) is sorted and cut into batches, and then the order of all batches is
shuffled: a batch holds examples of similar length, but which bucket comes next is random.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

MEGA_BATCH_MULT = 50  # batches per mega-batch; larger buckets, less padding


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int,
                     mega_batch_mult: int = MEGA_BATCH_MULT) -> list[list[int]]:
    """Index batches: examples of similar length together, the batches in a seeded random order.

    Only the last batch may be short, so a DataLoader that cuts the flattened indices into
    `batch_size` chunks gets exactly these batches back.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = max(1, mega_batch_mult) * batch_size
    batches = []
    for start in range(0, len(order), mega):
        bucket = sorted(order[start:start + mega], key=lambda i: lengths[i])
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    rng.shuffle(full)
    return full + [b for b in batches if len(b) < batch_size]


class BucketShuffledSampler:
    """A torch Sampler (duck-typed: it needs only __iter__/__len__) over `bucketed_batches`,
    reshuffled each epoch from (seed, epoch) so a resumed run sees the same order."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls this before each epoch
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        for batch in bucketed_batches(self.lengths, self.batch_size, self.seed * 1_000_003 + self.epoch):
            yield from batch

    def __len__(self) -> int:
        return len(self.lengths)
