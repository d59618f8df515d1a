"""`TrainingArguments` with the recipe's defaults on today's argument names, made fast where speed costs no accuracy.

Kept from the recipe: lr 2e-5, batch 16, 5 epochs, weight decay 0.01, evaluate and save every epoch, keep the best
model by the task's primary metric. Added for speed (measured in bench/bench_speed.py): batches of similar-length
examples, checkpoints without optimizer state, bf16 mixed precision wherever the hardware computes it natively
(recent GPUs, and CPUs with AVX512-BF16 or AMX), fp16 on older GPUs, and on GPUs only TF32, pinned memory and a 4x
evaluation batch.
"""

from __future__ import annotations

from numbers import Integral, Real

import torch
from transformers import TrainingArguments

from .errors import GlueHelpersError
from .recipe import PRECISIONS, RECIPE
from .tasks import GlueTask, get_task

EVAL_BATCH_FACTOR = 4


def auto_precision() -> str:
    """The fastest precision this machine runs natively: bf16 on GPUs and CPUs that support it, fp16 on older GPUs
    (e.g. Colab's T4), else fp32."""
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_native_bf16() else "fp32"


def resolve_precision(precision: str = "auto") -> str:
    """"fp32", "bf16" or "fp16" for a requested precision ("auto" = `auto_precision()`); a clear error when the
    name is unknown or the machine can't run it."""
    if precision not in PRECISIONS:
        raise GlueHelpersError(f"Unknown precision {precision!r}; use one of: {', '.join(PRECISIONS)} "
                               "(auto picks bf16 or fp16 where the hardware supports it, else fp32).")
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
    """4x the training batch on GPUs (evaluation keeps no activations for backward); the training batch on CPU,
    where longest-first order already removes the padding and a bigger batch measured no faster."""
    return EVAL_BATCH_FACTOR * batch_size if torch.cuda.is_available() else batch_size


def cpu_native_bf16() -> bool:
    """True on CPUs that compute bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 autocast would be slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def tf32_flags() -> dict[str, bool]:
    """TF32 matmuls on Ampere or newer GPUs (compute capability 8+); nothing elsewhere, where TF32 does not exist."""
    if torch.cuda.is_available() and torch.cuda.get_device_capability(0)[0] >= 8:
        return {"tf32": True}
    return {}


def loader_flags() -> dict[str, bool]:
    """Pinned host memory only when there is a GPU to copy to (on CPU it only earns a warning)."""
    return {"dataloader_pin_memory": torch.cuda.is_available()}


def cpu_flags() -> dict[str, bool]:
    """`use_cpu` on machines with neither CUDA nor MPS: under torchrun, that is what makes Accelerate start
    multi-CPU DDP (gloo) instead of N unrelated single processes."""
    mps = getattr(torch.backends, "mps", None)
    if torch.cuda.is_available() or (mps is not None and mps.is_available()):
        return {}
    return {"use_cpu": True}


def device_flags(precision: str = "auto") -> dict[str, bool]:
    """Every device-dependent setting: precision, TF32, data loading and CPU-only DDP."""
    return {**precision_flags(precision), **tf32_flags(), **loader_flags(), **cpu_flags()}


def device_name() -> str:
    """A short description of the device training will run on."""
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}) x{torch.cuda.device_count()}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return f"cpu ({torch.get_num_threads()} threads)"


def _check_positive(name: str, value, kind: type = Integral) -> None:
    """Raise a GlueHelpersError unless `value` is a positive integer (or real number, with kind=Real)."""
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        what = "integer" if kind is Integral else "number"
        raise GlueHelpersError(f"{name} must be a positive {what}, got {value!r}.")


def check_training_parameters(*, learning_rate, batch_size, num_train_epochs, seed=RECIPE["seed"],
                              precision="auto") -> str:
    """Check the recipe's knobs before any data or model loads; return the precision this machine will use."""
    _check_positive("batch_size", batch_size)
    _check_positive("learning_rate", learning_rate, Real)
    _check_positive("num_train_epochs", num_train_epochs, Real)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise GlueHelpersError(f"seed must be a non-negative integer, got {seed!r}.")
    return resolve_precision(precision)


def speed_flags(precision: str = "auto", batch_size: int = RECIPE["per_device_train_batch_size"]) -> dict:
    """The training arguments that make the recipe fast without changing what it computes (bench/ measures them):
    a larger evaluation batch on GPUs, two model-only checkpoints on disk, and the device flags (mixed precision,
    TF32, pinned memory, CPU-only DDP). Length-grouped batches are `GlueTrainer`'s part."""
    return dict(
        per_device_eval_batch_size=default_eval_batch_size(batch_size),
        save_total_limit=2,
        save_only_model=True,
        average_tokens_across_devices=False,  # one label per example: True makes DDP multiply the loss by world size
        **device_flags(precision),
    )


def training_arguments(
    task: str | GlueTask,
    output_dir: str,
    *,
    learning_rate: float = RECIPE["learning_rate"],
    batch_size: int = RECIPE["per_device_train_batch_size"],
    num_train_epochs: float = RECIPE["num_train_epochs"],
    weight_decay: float = RECIPE["weight_decay"],
    seed: int = RECIPE["seed"],
    precision: str = "auto",
    **overrides,
) -> TrainingArguments:
    """Notebook 01's `TrainingArguments`, for `train`, the search and the tests: evaluate and save every epoch,
    keep the best model by the task's primary metric, plus `speed_flags`; any field can be overridden.

    `precision` "auto" trains in bf16 where the GPU or CPU computes it natively, fp16 on older GPUs,
    fp32 elsewhere; "fp32" gives the same numbers on every machine. Set `save_only_model=False` to resume a run
    with `trainer.train(resume_from_checkpoint=True)`.
    """
    t = get_task(task)
    check_training_parameters(learning_rate=learning_rate, batch_size=batch_size, num_train_epochs=num_train_epochs,
                              seed=seed, precision=precision)
    if overrides.get("per_device_eval_batch_size") is not None:
        _check_positive("per_device_eval_batch_size", overrides["per_device_eval_batch_size"])
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
        metric_for_best_model=t.primary_metric,
        seed=seed,
        report_to="none",
        **speed_flags(precision, batch_size),
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)
