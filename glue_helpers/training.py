"""How the recipe trains: `TrainingArguments` with the recipe's defaults, made fast where speed costs no accuracy
(bench/bench_speed.py), and `GlueTrainer`, a `Trainer` that groups training batches by length, evaluates
longest-first and returns predictions in dataset order.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import torch
from datasets import Dataset
from torch.utils.data import Sampler, SequentialSampler
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import PredictionOutput

from .errors import GlueHelpersError
from .recipe import (
    BATCH_SIZE,
    LEARNING_RATE,
    NUM_TRAIN_EPOCHS,
    PRECISION,
    PRECISIONS,
    REPORT_TO,
    SEED,
    WEIGHT_DECAY,
    Recipe,
    check_choice,
    check_positive,
)
from .tasks import GlueTask

EVAL_BATCH_FACTOR = 4


def auto_precision() -> str:
    """The fastest precision measured: fp32 (TF32) on Ampere+ GPUs, fp16 on older ones, bf16 on CPUs that have it."""
    if torch.cuda.is_available():
        # With the Trainer, bf16 autocast ran at 0.6x of fp32 + TF32 on an H200 at batch 16, 64 and 256
        # (bench/README.md, "GPU check"); GPUs without TF32 keep fp16.
        return "fp32" if cuda_tf32() else "fp16"
    return "bf16" if cpu_native_bf16() else "fp32"


def resolve_precision(precision: str = PRECISION) -> str:
    """"fp32", "bf16" or "fp16" for a requested precision ("auto": `auto_precision()`), if this machine can run it."""
    check_choice(PRECISIONS)("precision", precision)
    chosen = auto_precision() if precision == "auto" else precision
    if chosen == "fp16" and not torch.cuda.is_available():
        raise GlueHelpersError("precision='fp16' needs a CUDA GPU; on this machine use 'auto', 'bf16' or 'fp32'.")
    return chosen


def precision_flags(precision: str = PRECISION) -> dict[str, bool]:
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


def tf32_flags() -> dict[str, bool]:
    """TF32 matmuls where the GPU has them; nothing elsewhere."""
    return {"tf32": True} if cuda_tf32() else {}


def loader_flags() -> dict[str, bool]:
    """Pinned host memory only when there is a GPU to copy to (on CPU it only earns a warning)."""
    return {"dataloader_pin_memory": torch.cuda.is_available()}


def cpu_flags() -> dict[str, bool]:
    """`use_cpu` on machines with neither CUDA nor MPS."""
    # under torchrun, that makes Accelerate start multi-CPU DDP (gloo) instead of N unrelated single processes
    mps = getattr(torch.backends, "mps", None)
    if torch.cuda.is_available() or (mps is not None and mps.is_available()):
        return {}
    return {"use_cpu": True}


def device_flags(precision: str = PRECISION) -> dict[str, bool]:
    """Every device-dependent setting: precision, TF32, data loading and CPU-only DDP."""
    return {**precision_flags(precision), **tf32_flags(), **loader_flags(), **cpu_flags()}


def device_name() -> str:
    """A short description of the device training will run on."""
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}) x{torch.cuda.device_count()}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return f"cpu ({torch.get_num_threads()} threads)"


def check_training_parameters(**knobs) -> str:
    """Check the recipe's knobs before any data or model loads; return the precision this machine will use."""
    recipe = Recipe(**knobs)
    recipe.warn_if_odd()
    return resolve_precision(recipe.precision)


def speed_flags(precision: str = PRECISION, batch_size: int = BATCH_SIZE) -> dict:
    """The training arguments that make the recipe fast without changing what it computes."""
    return dict(
        per_device_eval_batch_size=default_eval_batch_size(batch_size),
        save_total_limit=2,
        save_only_model=True,
        average_tokens_across_devices=False,  # one label per example: True makes DDP multiply the loss by world size
        **device_flags(precision),
    )


def training_arguments(
    task: GlueTask,
    output_dir: str,
    *,
    learning_rate: float = LEARNING_RATE,
    batch_size: int = BATCH_SIZE,
    num_train_epochs: float = NUM_TRAIN_EPOCHS,
    weight_decay: float = WEIGHT_DECAY,
    seed: int = SEED,
    precision: str = PRECISION,
    **overrides,
) -> TrainingArguments:
    """The recipe's `TrainingArguments`: evaluate and save every epoch, keep the best model, plus `speed_flags`."""
    # save_only_model=True (speed_flags): override it with False to resume from a checkpoint
    check_training_parameters(learning_rate=learning_rate, batch_size=batch_size, num_train_epochs=num_train_epochs,
                              seed=seed, precision=precision)
    if overrides.get("per_device_eval_batch_size") is not None:
        check_positive("per_device_eval_batch_size", overrides["per_device_eval_batch_size"])
    kwargs = dict(
        output_dir=output_dir,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        num_train_epochs=num_train_epochs,
        weight_decay=weight_decay,
        load_best_model_at_end=True,
        metric_for_best_model=task.primary_metric,
        seed=seed,
        report_to=REPORT_TO,  # "none"; train, search and notebook 01 pass report_to (tracking.start_tracking)
        **speed_flags(precision, batch_size),
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


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
