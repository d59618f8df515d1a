"""`TrainingArguments` with the recipe's defaults on today's argument names, and precision chosen for the device."""

from __future__ import annotations

import torch
from transformers import TrainingArguments

from .tasks import GlueTask, get_task

RECIPE = {"learning_rate": 2e-5, "per_device_train_batch_size": 16, "num_train_epochs": 5, "weight_decay": 0.01}


def precision_flags() -> dict[str, bool]:
    """bf16 on GPUs that support it, fp16 on older GPUs (e.g. Colab's T4), full fp32 on CPU."""
    if not torch.cuda.is_available():
        return {"bf16": False, "fp16": False}
    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16}


def device_name() -> str:
    """A short description of the device training will run on."""
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}) x{torch.cuda.device_count()}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return f"cpu ({torch.get_num_threads()} threads)"


def training_arguments(
    task: str | GlueTask,
    output_dir: str,
    *,
    learning_rate: float = RECIPE["learning_rate"],
    batch_size: int = RECIPE["per_device_train_batch_size"],
    num_train_epochs: float = RECIPE["num_train_epochs"],
    weight_decay: float = RECIPE["weight_decay"],
    seed: int = 42,
    save_total_limit: int = 2,
    report_to: str | list[str] = "none",
    **overrides,
) -> TrainingArguments:
    """Evaluate and save each epoch, keep the best model by the task's primary metric, at most
    `save_total_limit` checkpoints on disk; any TrainingArguments field can be overridden."""
    t = get_task(task)
    kwargs = dict(
        output_dir=output_dir,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        num_train_epochs=num_train_epochs,
        weight_decay=weight_decay,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model=t.primary_metric,
        greater_is_better=True,
        save_total_limit=save_total_limit,
        seed=seed,
        report_to=report_to,
        **precision_flags(),
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)
