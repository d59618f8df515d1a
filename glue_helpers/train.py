"""Notebook 01's recipe as one function (`python -m glue_helpers train`): the same calls, the same run folder.

Under torchrun or accelerate launch (DDP) every process trains on its shard; only the main one writes files.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from transformers import set_seed

from .custom_task import resolve_task
from .data import check_data_source, label_names_of, load_glue
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
from .recipe import Recipe, run_dir_for
from .reporting import score_run, write_run_files
from .rundir import RunDir, start_tracking
from .tasks import GlueTask
from .training import GlueTrainer, check_training_parameters, resolve_precision, training_arguments

CUSTOM_DATA = ("train_file", "validation_file", "test_file", "text_columns", "label_column", "label_names",
               "regression", "drop_empty")


class Inputs(NamedTuple):
    """What the checks resolved: the task's record, the model and data to read, and the run's claimed folder."""

    task: GlueTask
    model_checkpoint: str
    data_dir: str | None
    precision: str
    report_to: str
    run_dir: RunDir


def check_inputs(params: Mapping) -> Inputs:
    """Check a notebook's parameters (its `globals()`), resolve task and model, and claim the output folder."""
    # so a typo fails here, not after an hour of training
    task = resolve_task(params["task"], **{name: params[name] for name in CUSTOM_DATA})
    precision = check_training_parameters(**Recipe.from_params(params).as_record())
    data_dir, checkpoint = params["data_dir"], params["model_checkpoint"]
    if params["smoke"]:
        kit = ensure_kit()
        data_dir, checkpoint = kit.data_dir, kit.model_dir
    check_data_source(task, data_dir)
    checkpoint = resolve_checkpoint(checkpoint)
    run_dir = RunDir(params["output_dir"] or run_dir_for(task.name)).prepare(
        overwrite=params["overwrite"], inputs=(checkpoint, data_dir, *(params[name] for name in CUSTOM_DATA[:3])))
    return Inputs(task, checkpoint, data_dir, precision, params["report_to"], run_dir)


def resolve_sources(model_checkpoint, data_dir, smoke: bool) -> tuple[str, str | None]:
    """Model and data folder: the offline kit's in smoke mode (unless given), else the ones given (data None = Hub)."""
    if smoke:
        kit = ensure_kit()
        return str(model_checkpoint or kit.model_dir), str(data_dir or kit.data_dir)
    if not model_checkpoint:
        raise GlueHelpersError("train needs a model_checkpoint (--model-checkpoint: a folder or Hub id), or smoke=True "
                               "(--smoke) for the offline kit's tiny model.")
    return str(model_checkpoint), None if data_dir is None else str(data_dir)


def build_trainer(task: GlueTask, model_path: str, data_dir, run_dir: RunDir, recipe: Recipe, *, overwrite: bool):
    """The raw splits and a GlueTrainer for this task and recipe (LoRA adapters when `recipe.peft` is "lora")."""
    run_name = f"{task.name}-{Path(model_path).name}-seed{recipe.seed}"
    args = training_arguments(task, str(run_dir.checkpoints), learning_rate=recipe.learning_rate,
                              batch_size=recipe.batch_size, num_train_epochs=recipe.num_train_epochs,
                              weight_decay=recipe.weight_decay, seed=recipe.seed, precision=recipe.precision,
                              report_to=recipe.report_to, run_name=run_name)
    with args.main_process_first(desc="load and tokenize"):
        if args.process_index == 0:  # before the other ranks touch the folder
            run_dir.prepare(overwrite=overwrite, inputs=(model_path, data_dir, *task.data_files.values()))
        start_tracking(recipe.report_to, run_dir.root, run_name)
        raw = load_glue(task, data_dir, max_train_samples=recipe.max_train_samples,
                        max_eval_samples=recipe.max_eval_samples, seed=recipe.seed, splits=("train", "validation"))
        tokenizer = load_tokenizer(model_path)
        encoded = tokenize_dataset(raw, task, tokenizer)
    set_seed(recipe.seed)  # the new head's random init, as in the notebook
    model = load_model(model_path, task, label_names_of(raw["train"]))
    if recipe.lora is not None:
        model = apply_lora(model, **recipe.lora)
    trainer = GlueTrainer(model=model, args=args, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                          processing_class=tokenizer, data_collator=make_data_collator(tokenizer),
                          compute_metrics=make_compute_metrics(task))
    return raw, trainer


def train(task: GlueTask, model_checkpoint: str | Path | None = None, output_dir: str | Path | None = None,
          recipe: Recipe | None = None, *, data_dir: str | Path | None = None, overwrite: bool = False,
          keep_checkpoints: bool = False, smoke: bool = False, **knobs) -> dict | None:
    """Train the recipe (`knobs` change it) and write the run folder; return the metrics record on the main rank."""
    recipe = replace(recipe or Recipe(), **knobs)  # checked again, with the changes
    recipe.warn_if_odd()
    recipe = replace(recipe, precision=resolve_precision(recipe.precision))  # recorded as run, as notebook 01 does
    model_path, data_dir = resolve_sources(model_checkpoint, data_dir, smoke)
    check_data_source(task, data_dir)  # a typo in data_dir fails here, before an overwrite clears anything
    run_dir = RunDir(output_dir or run_dir_for(task.name))
    raw, trainer = build_trainer(task, model_path, data_dir, run_dir, recipe, overwrite=overwrite)
    train_result = trainer.train()
    record, rows = score_run(trainer, task, model_path, train_result, raw["validation"], train_rows=len(raw["train"]),
                             data_dir=data_dir, smoke=smoke, max_train_samples=recipe.max_train_samples,
                             max_eval_samples=recipe.max_eval_samples, recipe=recipe.as_record())
    save_trained_model(trainer, run_dir.model, run_dir.adapter)  # every rank calls it; the main one writes
    if not trainer.is_world_process_zero():
        return None
    record = write_run_files(run_dir, record, rows, task)
    if not keep_checkpoints:
        shutil.rmtree(run_dir.checkpoints, ignore_errors=True)
    print(f"[rank {trainer.args.process_index}] wrote {run_dir.metrics}, {run_dir.predictions} and {run_dir.model}",
          flush=True)
    return record
