"""`GlueTrainer`: a `Trainer` that groups training batches by length, evaluates longest-first, predicts in order.

Why not `train_sampling_strategy="group_by_length"` on a plain transformers 5 `Trainer`? Its evaluation sampler is
then a shuffled `LengthGroupedSampler` too, so `trainer.predict(test)` rows no longer line up with the dataset.
`GlueTrainer` groups training batches itself (`group_by_length=True`, its default), so the arguments stay plain
`TrainingArguments` that a plain `Trainer` reads the same way; it evaluates in a fixed longest-first order (little
padding) and returns predictions in dataset order. Unlike
transformers' `LengthGroupedSampler`, which walks each mega-batch from its longest batch to its shortest, it shuffles
the order of the grouped batches, so padding falls just as much but the model doesn't see a length sweep. It reads
lengths straight from Arrow (the stock Trainer drops a precomputed `length` column before building its sampler, then
decodes every row to measure it) and seeds the sampler so DDP ranks agree on the order.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import torch
from datasets import Dataset
from torch.utils.data import Sampler, SequentialSampler
from transformers import Trainer
from transformers.trainer_utils import PredictionOutput

LENGTH_SOURCE = "input_ids"


def sequence_lengths(dataset: Dataset, column: str = LENGTH_SOURCE) -> list[int]:
    """Token count of every row, read from Arrow without decoding rows (fast even for QQP or MNLI)."""
    return pc.list_value_length(dataset.with_format("arrow")[column]).to_pylist()


def longest_first_order(lengths: list[int]) -> list[int]:
    """Row indices from the longest to the shortest row (ties keep dataset order)."""
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable").tolist()


class LongestFirstSampler(Sampler[int]):
    """A fixed evaluation order, longest rows first: batches carry almost no padding and the biggest comes first."""

    def __init__(self, lengths: list[int]):
        self.order = longest_first_order(lengths)

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def mega_batch_size(n_rows: int, batch_size: int) -> int:
    """Rows sorted together: 50 batches, or fewer so that there are at least four mega-batches (as transformers)."""
    return max(1, min(n_rows // (batch_size * 4), 50)) * batch_size


def grouped_batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Batches of similar-length rows in random order: shuffle, sort each mega-batch by length, cut it into
    batches, shuffle the batches. The batch holding the longest row goes first (memory errors show up at once),
    and a short last batch stays last."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    mega = mega_batch_size(len(lengths), batch_size)
    batches = []
    for start in range(0, len(order), mega):
        rows = sorted(order[start:start + mega], key=lambda i: lengths[i], reverse=True)
        batches += [rows[k:k + batch_size] for k in range(0, len(rows), batch_size)]
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    if batches:
        longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
        batches.insert(0, batches.pop(longest))
    return batches + tail


class LengthGroupedShuffledSampler(Sampler[int]):
    """Training order for length-grouped batches (`grouped_batches`), new each epoch from a seeded generator that
    every DDP rank shares; the DataLoader cuts it into batches of `batch_size` again."""

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator):
        self.lengths, self.batch_size, self.generator = lengths, batch_size, generator

    def __iter__(self):
        return iter([i for batch in grouped_batches(self.lengths, self.batch_size, self.generator) for i in batch])

    def __len__(self) -> int:
        return len(self.lengths)


def restore_order(values, order: list[int]):
    """Undo a reordering: row k of `values` belongs to dataset row order[k] (tuples and lists handled row-wise)."""
    if isinstance(values, (tuple, list)):
        return type(values)(restore_order(v, order) for v in values)
    if isinstance(values, np.ndarray) and values.ndim and len(values) == len(order):
        out = np.empty_like(values)
        out[np.asarray(order)] = values
        return out
    return values


def _groupable(dataset) -> bool:
    """True for an Arrow dataset with token ids, whose lengths can be read cheaply."""
    return isinstance(dataset, Dataset) and LENGTH_SOURCE in dataset.column_names


class GlueTrainer(Trainer):
    """A drop-in `Trainer`: length-grouped training when asked, longest-first evaluation, predictions in order."""

    def __init__(self, *args, group_by_length: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.group_by_length = group_by_length
        # Sequence-classification heads return a per-batch mean loss but accept **kwargs, which makes the Trainer
        # treat the loss as token-normalized: under DDP it multiplies it by the world size, and with gradient
        # accumulation it skips the division by the number of steps. Declaring the loss a plain mean fixes both.
        self.model_accepts_loss_kwargs = False

    @property
    def groups_by_length(self) -> bool:
        """True when training batches are grouped by length (`group_by_length`, or that sampling strategy)."""
        return self.group_by_length or self.args.train_sampling_strategy == "group_by_length"

    def _sampler_seed(self) -> int:
        """The seed of the training order: `data_seed`, else `seed` (the same on every DDP rank)."""
        return self.args.data_seed if self.args.data_seed is not None else self.args.seed

    def _get_train_sampler(self, train_dataset=None):
        """Length-grouped batches from Arrow lengths with a seeded generator; the stock sampler otherwise."""
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if not self.groups_by_length or not _groupable(dataset):
            return super()._get_train_sampler(train_dataset)
        return LengthGroupedShuffledSampler(
            sequence_lengths(dataset),
            self.args.train_batch_size * self.args.gradient_accumulation_steps,
            torch.Generator().manual_seed(self._sampler_seed()),
        )

    def _get_eval_sampler(self, eval_dataset):
        """Longest-first order for token datasets; sequential (or Accelerate's sharding under DDP) otherwise."""
        if _groupable(eval_dataset):
            return LongestFirstSampler(sequence_lengths(eval_dataset))
        if eval_dataset is None or self.args.world_size > 1:
            return None
        return SequentialSampler(eval_dataset)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test") -> PredictionOutput:
        """Predictions and labels in the dataset's own row order, whatever order evaluation ran in."""
        out = super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        if not _groupable(test_dataset):
            return out
        order = longest_first_order(sequence_lengths(test_dataset))
        return PredictionOutput(restore_order(out.predictions, order), restore_order(out.label_ids, order),
                                out.metrics)
