"""Notebook 01's recipe as one function, for `python -m glue_helpers train`: one task, on one device or many.

It makes the same calls as the notebook's cells (`load_glue` = its two data cells, `tokenize_dataset` = its
`preprocess_function`, `training_arguments` = its `TrainingArguments(...)`, `make_compute_metrics` = its
`compute_metrics`, `apply_lora` = its LoRA cell, `save_trained_model` = its saving cell) and writes the same run
folder, so the two give the same metrics.json (a test checks it). `check_inputs` is the notebook's edge: every
parameter checked in one call, and the task resolved once.

It runs unchanged under `torchrun --nproc_per_node N -m glue_helpers train ...` or
`accelerate launch -m glue_helpers train ...` (DDP): every process trains on its shard, evaluation covers the
validation split exactly once, and only the main process writes metrics.json, predictions and the best model.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from transformers import set_seed

from .custom_task import resolve_task
from .data import check_data_source, check_max_samples, label_names_of, load_glue
from .errors import GlueHelpersError
from .metrics import make_compute_metrics
from .modeling import (
    apply_lora,
    load_model,
    load_tokenizer,
    make_data_collator,
    resolve_checkpoint,
    save_trained_model,
    tokenize_dataset,
)
from .offline_kit import ensure_kit
from .recipe import (
    BATCH_SIZE,
    LEARNING_RATE,
    LORA_ALPHA,
    LORA_DROPOUT,
    LORA_R,
    LORA_TARGET_MODULES,
    NUM_TRAIN_EPOCHS,
    PEFT,
    PRECISION,
    REPORT_TO,
    SEED,
    run_dir_for,
)
from .reporting import score_run, write_run_files
from .rundir import RunDir, check_report_to, start_tracking
from .tasks import GlueTask, get_task
from .training import GlueTrainer, check_training_parameters, training_arguments

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


def resolve_sources(model_checkpoint, data_dir, smoke: bool) -> tuple[str, str | None]:
    """Model and data folder: the offline kit's in smoke mode (unless given), else the ones given (data None = Hub)."""
    if smoke:
        kit = ensure_kit()
        return str(model_checkpoint or kit.model_dir), str(data_dir or kit.data_dir)
    if not model_checkpoint:
        raise GlueHelpersError("train needs a model_checkpoint (--model-checkpoint: a folder or Hub id), or smoke=True "
                               "(--smoke) for the offline kit's tiny model.")
    return str(model_checkpoint), None if data_dir is None else str(data_dir)


def build_trainer(task: GlueTask, model_path: str, data_dir, run_dir: RunDir, *, learning_rate, batch_size,
                  num_train_epochs, seed, precision, max_train_samples, max_eval_samples, overwrite,
                  lora: dict | None = None, report_to: str = REPORT_TO):
    """The raw splits and a GlueTrainer with notebook 01's recipe for this task and these options (LoRA adapters
    on the model when `lora` holds `apply_lora`'s arguments)."""
    run_name = f"{task.name}-{Path(model_path).name}-seed{seed}"
    args = training_arguments(task, str(run_dir.checkpoints), learning_rate=learning_rate, batch_size=batch_size,
                              num_train_epochs=num_train_epochs, seed=seed, precision=precision, report_to=report_to,
                              run_name=run_name)
    with args.main_process_first(desc="load and tokenize"):
        if args.process_index == 0:  # before the other ranks touch the folder
            run_dir.prepare(overwrite=overwrite, inputs=(model_path, data_dir, *task.data_files.values()))
        start_tracking(report_to, run_dir.root, run_name)
        raw = load_glue(task, data_dir, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                        seed=seed, splits=("train", "validation"))
        tokenizer = load_tokenizer(model_path)
        encoded = tokenize_dataset(raw, task, tokenizer)
    set_seed(seed)  # the new head's random init, as in the notebook
    model = load_model(model_path, task, label_names_of(raw["train"]))
    if lora is not None:
        model = apply_lora(model, **lora)
    trainer = GlueTrainer(model=model, args=args, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                          processing_class=tokenizer, data_collator=make_data_collator(tokenizer),
                          compute_metrics=make_compute_metrics(task))
    return raw, trainer


def train(task: str | GlueTask, model_checkpoint: str | Path | None = None, output_dir: str | Path | None = None, *,
          data_dir: str | Path | None = None, learning_rate: float = LEARNING_RATE, batch_size: int = BATCH_SIZE,
          num_train_epochs: float = NUM_TRAIN_EPOCHS, seed: int = SEED, precision: str = PRECISION,
          max_train_samples: int | None = None, max_eval_samples: int | None = None, overwrite: bool = False,
          keep_checkpoints: bool = False, smoke: bool = False, peft: str | None = PEFT, lora_r: int = LORA_R,
          lora_alpha: float = LORA_ALPHA, lora_dropout: float = LORA_DROPOUT,
          lora_target_modules: str | list[str] | None = LORA_TARGET_MODULES, report_to: str = REPORT_TO) -> dict | None:
    """Train, evaluate on the whole validation split and write the run folder (default runs/<task>); return the
    metrics.json record on the main process, None on the others. `task` is resolved already (`resolve_task`).
    `peft="lora"` trains LoRA adapters and the head only, and saves the adapter and a merged model."""
    task = get_task(task)
    lora = dict(lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                lora_target_modules=lora_target_modules)
    check_training_parameters(learning_rate=learning_rate, batch_size=batch_size, num_train_epochs=num_train_epochs,
                              seed=seed, precision=precision, peft=peft, **lora)
    check_max_samples("max_train_samples", max_train_samples)
    check_max_samples("max_eval_samples", max_eval_samples)
    check_report_to(report_to)
    model_path, data_dir = resolve_sources(model_checkpoint, data_dir, smoke)
    check_data_source(task, data_dir)  # a typo in data_dir fails here, before an overwrite clears anything
    run_dir = RunDir(output_dir or run_dir_for(task.name))
    raw, trainer = build_trainer(task, model_path, data_dir, run_dir, learning_rate=learning_rate,
                                 batch_size=batch_size, num_train_epochs=num_train_epochs, seed=seed,
                                 precision=precision, max_train_samples=max_train_samples,
                                 max_eval_samples=max_eval_samples, overwrite=overwrite,
                                 lora=lora if peft == "lora" else None, report_to=report_to)
    train_result = trainer.train()
    record, rows = score_run(trainer, task, model_path, train_result, raw["validation"], train_rows=len(raw["train"]),
                             data_dir=data_dir, smoke=smoke, max_train_samples=max_train_samples,
                             max_eval_samples=max_eval_samples)
    save_trained_model(trainer, run_dir.model, run_dir.adapter)  # every rank calls it; the main one writes
    if not trainer.is_world_process_zero():
        return None
    record = write_run_files(run_dir, record, rows, task)
    if not keep_checkpoints:
        shutil.rmtree(run_dir.checkpoints, ignore_errors=True)
    print(f"[rank {trainer.args.process_index}] wrote {run_dir.metrics}, {run_dir.predictions} and {run_dir.model}",
          flush=True)
    return record
