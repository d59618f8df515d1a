"""How the recipe trains: `TrainingArguments` with its defaults, made fast where speed costs no accuracy
(bench/bench_speed.py), and `GlueTrainer`: length-grouped training, longest-first evaluation, predictions in order."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import torch
from datasets import Dataset
from torch.utils.data import Sampler, SequentialSampler
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import PredictionOutput

from .errors import GlueHelpersError
from .recipe import PRECISIONS, Recipe
from .tasks import GlueTask

EVAL_BATCH_FACTOR = 4


def auto_precision() -> str:
    """The fastest precision measured: fp32 (TF32) on Ampere+ GPUs, fp16 on older ones, bf16 on CPUs that have it."""
    if torch.cuda.is_available():
        # With the Trainer, bf16 autocast ran at 0.6x of fp32 + TF32 on an H200 at batch 16, 64 and 256
        # (bench/README.md, "GPU check"); GPUs without TF32 keep fp16.
        return "fp32" if cuda_tf32() else "fp16"
    return "bf16" if cpu_native_bf16() else "fp32"


def resolve_precision(precision: str = "auto") -> str:
    """"fp32", "bf16" or "fp16" for a requested precision ("auto": `auto_precision()`), if this machine can run it."""
    if precision not in PRECISIONS:
        raise GlueHelpersError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}; got {precision!r}.")
    chosen = auto_precision() if precision == "auto" else precision
    if chosen == "fp16" and not torch.cuda.is_available():
        raise GlueHelpersError("precision='fp16' needs a CUDA GPU; on this machine use 'auto', 'bf16' or 'fp32'.")
    return chosen


def precision_flags(precision: str = "auto") -> dict[str, bool]:
    """The `bf16`/`fp16` training-argument flags for `precision` ("auto", "fp32", "bf16" or "fp16")."""
    chosen = resolve_precision(precision)
    return {"bf16": chosen == "bf16", "fp16": chosen == "fp16"}


def precision_name(args: TrainingArguments) -> str:
    """"bf16", "fp16" or "fp32": the precision a set of training arguments trains in."""
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"


def default_eval_batch_size(batch_size: int) -> int:
    """4x the training batch on GPUs (evaluation keeps no activations for backward); the training batch on CPU."""
    # on CPU a bigger batch measured no faster: longest-first order already removes the padding
    return EVAL_BATCH_FACTOR * batch_size if torch.cuda.is_available() else batch_size


def cpu_native_bf16() -> bool:
    """True on CPUs that compute bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 autocast would be slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_tf32() -> bool:
    """True on Ampere or newer GPUs (compute capability 8+), which run fp32 matmuls as TF32."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability(0)[0] >= 8


def device_flags(precision: str = "auto") -> dict[str, bool]:
    """Every device-dependent setting: precision, TF32 where the GPU has it, pinned memory, `use_cpu`."""
    # pinned memory only with a GPU to copy to: on CPU it only earns a warning
    flags = {**precision_flags(precision), "dataloader_pin_memory": torch.cuda.is_available()}
    if cuda_tf32():
        flags["tf32"] = True
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        flags["use_cpu"] = True  # under torchrun, Accelerate then starts multi-CPU DDP (gloo), not N lone processes
    return flags


def device_name() -> str:
    """A short description of the device training will run on."""
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}) x{torch.cuda.device_count()}"
    return "mps" if torch.backends.mps.is_available() else f"cpu ({torch.get_num_threads()} threads)"


def speed_flags(precision: str = "auto", batch_size: int = Recipe.batch_size) -> dict:
    """The training arguments that make the recipe fast without changing what it computes."""
    return dict(per_device_eval_batch_size=default_eval_batch_size(batch_size), save_total_limit=2,
                save_only_model=True,  # override it with False to resume from a checkpoint
                average_tokens_across_devices=False,  # one label per example: True makes DDP multiply loss by ranks
                **device_flags(precision))


def training_arguments(task: GlueTask, output_dir, recipe: Recipe | None = None, **overrides) -> TrainingArguments:
    """The recipe's `TrainingArguments`: evaluate and save every epoch, keep the best model, plus `speed_flags`."""
    recipe = recipe or Recipe()
    kwargs = dict(output_dir=str(output_dir), eval_strategy="epoch", save_strategy="epoch", logging_strategy="epoch",
                  learning_rate=recipe.learning_rate, per_device_train_batch_size=recipe.batch_size,
                  num_train_epochs=recipe.num_train_epochs, weight_decay=recipe.weight_decay,
                  warmup_steps=float(recipe.warmup_ratio),  # transformers 5: a float below 1 is a share of the steps
                  load_best_model_at_end=True, metric_for_best_model=task.primary_metric, seed=recipe.seed,
                  report_to=recipe.report_to,  # with its offline folder set by rundir.start_tracking
                  **speed_flags(recipe.precision, recipe.batch_size))
    return TrainingArguments(**{**kwargs, **overrides})


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
    """Batches of similar-length rows, shuffled: the longest first (memory errors show at once), a short one last."""
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
    """Training order for length-grouped batches, new each epoch from a seeded generator all DDP ranks share."""

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
    # Not a plain Trainer with train_sampling_strategy="group_by_length": its evaluation sampler then shuffles too, so
    # predict() rows would no longer line up with the dataset.

    def __init__(self, *args, group_by_length: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.group_by_length = group_by_length
        # Classification heads return a per-batch mean loss but accept **kwargs, so the Trainer would treat it as
        # token-normalized: multiply it by the world size under DDP, skip the division under gradient accumulation.
        self.model_accepts_loss_kwargs = False

    def _get_train_sampler(self, train_dataset=None):
        """Length-grouped batches from Arrow lengths, seeded by `data_seed` (else `seed`, the same on every rank)."""
        dataset = self.train_dataset if train_dataset is None else train_dataset
        grouped = self.group_by_length or self.args.train_sampling_strategy == "group_by_length"
        if not grouped or not _groupable(dataset):
            return super()._get_train_sampler(train_dataset)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        batch_size = self.args.train_batch_size * self.args.gradient_accumulation_steps
        return LengthGroupedShuffledSampler(sequence_lengths(dataset), batch_size, torch.Generator().manual_seed(seed))

    def _get_eval_sampler(self, eval_dataset):
        """Longest-first order for token datasets; sequential (or Accelerate's sharding under DDP) otherwise."""
        if _groupable(eval_dataset):
            return LongestFirstSampler(sequence_lengths(eval_dataset))
        return None if eval_dataset is None or self.args.world_size > 1 else SequentialSampler(eval_dataset)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test") -> PredictionOutput:
        """Predictions and labels in the dataset's own row order, whatever order evaluation ran in."""
        out = super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        if not _groupable(test_dataset):
            return out
        order = longest_first_order(sequence_lengths(test_dataset))
        return PredictionOutput(restore_order(out.predictions, order), restore_order(out.label_ids, order),
                                out.metrics)
