"""Notebook 01's edge: every parameter checked in one call, before any download, and the task resolved once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from .custom_task import resolve_task
from .data import check_data_source, check_max_samples
from .modeling import resolve_checkpoint
from .offline_kit import ensure_kit
from .rundir import RunDir, check_report_to
from .tasks import GlueTask
from .training import check_training_parameters

CUSTOM_DATA = ("train_file", "validation_file", "test_file", "text_columns", "label_column", "label_names",
               "regression", "drop_empty")
RECIPE = ("learning_rate", "batch_size", "num_train_epochs", "seed", "precision", "peft", "lora_r", "lora_alpha",
          "lora_dropout", "lora_target_modules")


class Inputs(NamedTuple):
    """What the checks resolved: the task's record, the model and data to read, and the run's claimed folder."""

    task: GlueTask
    model_checkpoint: str
    data_dir: str | None
    precision: str
    report_to: str
    run_dir: RunDir


def check_inputs(params: Mapping) -> Inputs:
    """Check notebook 01's parameters (its `globals()`), resolve the task and the model, and claim the output folder
    (new, or `overwrite=True`), so that a typo fails here and not after an hour of training."""
    task = resolve_task(params["task"], **{name: params[name] for name in CUSTOM_DATA})
    precision = check_training_parameters(**{name: params[name] for name in RECIPE})
    for name in ("max_train_samples", "max_eval_samples"):
        check_max_samples(name, params[name])
    report_to = check_report_to(params["report_to"])
    data_dir, checkpoint = params["data_dir"], params["model_checkpoint"]
    if params["smoke"]:
        kit = ensure_kit()
        data_dir, checkpoint = kit.data_dir, kit.model_dir
    check_data_source(task, data_dir)
    checkpoint = resolve_checkpoint(checkpoint)
    run_dir = RunDir(params["output_dir"] or f"runs/{task.name}").prepare(
        overwrite=params["overwrite"], inputs=(checkpoint, data_dir, *(params[name] for name in CUSTOM_DATA[:3])))
    return Inputs(task, checkpoint, data_dir, precision, report_to, run_dir)
