"""The one trainer loop, for what cannot be a notebook: `train` (also DDP under torchrun: the main process writes) and
a Ray Tune trial. Notebook 01 writes the same steps in its cells; a test checks both give the same numbers."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from transformers import PrinterCallback, TrainingArguments, set_seed

from .data import label_names_of, load_glue
from .inference import write_test_predictions
from .inputs import check_sources, sources
from .metrics import make_compute_metrics
from .modeling import (
    apply_lora,
    load_model,
    load_tokenizer,
    make_data_collator,
    save_trained_model,
    tokenize_dataset,
)
from .recipe import Recipe, run_dir_for
from .reporting import score_run, write_run_files
from .rundir import TEST_PREDICTIONS, RunDir, start_tracking
from .tasks import GlueTask
from .training import GlueTrainer, resolve_precision, training_arguments


def fit(task: GlueTask, recipe: Recipe, model_path: str, args: TrainingArguments, train_dataset, eval_dataset,
        tokenizer, *, label_names: list[str] | None = None, callbacks=(), log: bool = True):
    """Seed, a fresh model (LoRA per the recipe), a GlueTrainer; return it trained and its result (log: epoch dicts)."""
    set_seed(recipe.seed)  # the new head's random init, as in notebook 01
    model = load_model(model_path, task, label_names)
    if recipe.peft == "lora":
        model = apply_lora(model, recipe)
    trainer = GlueTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                          processing_class=tokenizer, data_collator=make_data_collator(tokenizer),
                          compute_metrics=make_compute_metrics(task), callbacks=list(callbacks))
    if not log:
        trainer.remove_callback(PrinterCallback)
    return trainer, trainer.train()


def train(task: GlueTask, model_checkpoint: str | Path | None = None, output_dir: str | Path | None = None,
          recipe: Recipe | None = None, *, data_dir: str | Path | None = None, overwrite: bool = False,
          keep_checkpoints: bool = False, smoke: bool = False, **knobs) -> dict | None:
    """Train the recipe (`knobs` change it) into a run folder; return metrics.json's record on the main process."""
    recipe = replace(recipe or Recipe(), **knobs)  # a new Recipe: checked as it is built
    recipe.warn_if_odd()
    recipe = replace(recipe, precision=resolve_precision(recipe.precision))  # recorded as run, as notebook 01 does
    model_path, data_dir = sources(model_checkpoint, data_dir, smoke, keep_given=True)
    model_path = check_sources(task, model_path, data_dir)  # every input before the folder is touched
    run_dir = RunDir(output_dir or run_dir_for(task.name), staged=True)  # every process writes where the first does
    run_name = f"{task.name}-{Path(model_path).name}-seed{recipe.seed}"
    args = training_arguments(task, run_dir.checkpoints, recipe, run_name=run_name)
    with args.main_process_first(desc="load and tokenize"):
        if args.process_index == 0:  # before the other processes touch the folder
            run_dir.prepare(overwrite=overwrite, inputs=(model_path, data_dir, *task.data_files.values()))
        start_tracking(recipe.report_to, run_dir.here, run_name)
        tested = ("test",) if "test" in task.data_files else ()  # a custom task's test file: its predictions too
        raw = load_glue(task, data_dir, max_train_samples=recipe.max_train_samples,
                        max_eval_samples=recipe.max_eval_samples, seed=recipe.seed,
                        splits=("train", "validation", *tested))
        tokenizer = load_tokenizer(model_path)
        encoded = tokenize_dataset(raw, task, tokenizer)
    trainer, train_result = fit(task, recipe, model_path, args, encoded["train"], encoded["validation"], tokenizer,
                                label_names=label_names_of(raw["train"]))
    record, rows = score_run(trainer, task, model_path, train_result, raw["validation"], train_rows=len(raw["train"]),
                             data_dir=data_dir, smoke=smoke,
                             max_train_samples=recipe.max_train_samples, max_eval_samples=recipe.max_eval_samples,
                             recipe=recipe.as_record())
    save_trained_model(trainer, run_dir.model, run_dir.adapter)  # every process calls it; the main one writes
    if tested:  # every process predicts; the main one writes
        write_test_predictions(trainer, encoded, task, raw, run_dir / TEST_PREDICTIONS,
                               write=trainer.is_world_process_zero())
    if not trainer.is_world_process_zero():
        return None
    if not keep_checkpoints:
        shutil.rmtree(run_dir.checkpoints, ignore_errors=True)
    record = write_run_files(run_dir, record, rows, task)
    print(f"[rank {trainer.args.process_index}] wrote {run_dir.metrics}, {run_dir.predictions} and {run_dir.model}",
          flush=True)
    return record
