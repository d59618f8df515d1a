"""One trial: `GlueTrainer` on a seeded subset, reported to Optuna and pruned per epoch, scored by its best epoch.

Not `Trainer.hyperparameter_search`: in transformers 5 it reports at the global step (incomparable across batch
sizes), scores the last evaluation, not the best epoch, and casts a searched warmup ratio to int (`int(0.1) == 0`).
"""

from __future__ import annotations

import gc
import inspect
import math
import os
import socket
from collections.abc import Callable
from pathlib import Path

import optuna
import torch
from datasets import ClassLabel, Dataset
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from ..errors import GlueHelpersError
from ..recipe import REPORT_TO, SEARCH_FRACTION, SEARCH_MIN_ROWS, SEED, check_min_rows, check_search_fraction
from ..rundir import start_tracking
from ..tasks import GlueTask
from ..training import GlueTrainer, training_arguments
from .space import model_parameters, to_training_arguments

WORKER = f"{socket.gethostname()}:{os.getpid()}"  # which machine and process ran a trial, for the table


def search_rows(n_rows: int, fraction: float = SEARCH_FRACTION, min_rows: int = SEARCH_MIN_ROWS) -> int:
    """Rows a trial trains on: `fraction` of the training set, but at least `min_rows` (all of a smaller set)."""
    # fewer rows rank hyperparameters by noise: a tenth of STS-B (575 rows) left MiniLM at Pearson 0.22
    check_search_fraction("search_fraction", fraction)
    check_min_rows("search_min_rows", min_rows)
    return min(n_rows, max(min_rows, 1, round(n_rows * fraction)))


def search_subset(dataset: Dataset, fraction: float = SEARCH_FRACTION, seed: int = SEED,
                  min_rows: int = SEARCH_MIN_ROWS) -> Dataset:
    """A seeded subset of `search_rows` rows, stratified by label for classification so every class stays in."""
    n = search_rows(len(dataset), fraction, min_rows)
    if n >= len(dataset):
        return dataset
    if isinstance(dataset.features.get("label"), ClassLabel):
        try:
            return dataset.train_test_split(train_size=n, stratify_by_column="label", seed=seed)["train"]
        except ValueError:  # too few rows per class to stratify
            pass
    return dataset.shuffle(seed=seed).select(range(n))


def free_memory() -> None:
    """Collect garbage and hand cached GPU memory back, so the next trial starts clean."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def epoch_score(value: float) -> float:
    """An epoch's score for the search: the metric, or 0 where it is not a number (a collapsed model's Pearson)."""
    # 0, like a constant predictor's MCC: the trial ranks low and can be pruned instead of failing at the end
    return float(value) if math.isfinite(value) else 0.0


class EpochReport(TrainerCallback):
    """Per-epoch callback (Optuna and Ray Tune): record the primary metric, `report` it, stop training when told."""

    def __init__(self, metric: str, report: Callable[[int, dict[int, float], bool], bool]):
        self.key, self.report = f"eval_{metric}", report
        self.history: dict[int, float] = {}
        self.pruned = False

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        """Record and report one epoch; maybe stop."""
        value = (metrics or {}).get(self.key)
        if value is None:  # an evaluation without the task's metric (not the epoch's)
            return
        epoch = max(1, round(state.epoch or 0))
        self.history[epoch] = epoch_score(value)
        if self.report(epoch, self.history, epoch >= args.num_train_epochs):
            self.pruned = control.should_training_stop = True

    def best(self) -> tuple[int | None, float]:
        """The best epoch and its score (NaN when no epoch was evaluated)."""
        if not self.history:
            return None, float("nan")
        epoch = max(self.history, key=self.history.get)
        return epoch, self.history[epoch]


def optuna_report(trial: optuna.Trial) -> Callable[[int, dict[int, float], bool], bool]:
    """`EpochReport`'s report to an Optuna trial: the epoch's score at step=epoch; True when the pruner says stop."""
    def report(epoch: int, history: dict[int, float], last: bool) -> bool:
        trial.report(history[epoch], epoch)
        return not last and trial.should_prune()  # asking on the last epoch would record an ASHA rung
    return report


def trial_tracking(report_to: str, output_dir: str | Path, run_name: str) -> dict:
    """Start `report_to`'s offline tracking of one trial under output_dir; return its TrainingArguments fields."""
    start_tracking(report_to, output_dir, run_name)
    return dict(report_to=report_to, run_name=run_name)


def trial_run_name(task: GlueTask, model: str | Path, trial_id: int | str) -> str:
    """A trial's name in a dashboard: task, model and trial."""
    return f"{task.name}-{Path(str(model)).name}-trial-{trial_id}"


def search_training_arguments(task: GlueTask, output_dir: str | Path, params: dict, **overrides):
    """Training arguments for one trial: evaluate each epoch, save nothing (the search keeps metrics, not models)."""
    fixed = dict(save_strategy="no", load_best_model_at_end=False, logging_strategy="epoch", disable_tqdm=True,
                 save_total_limit=None)
    return training_arguments(task, str(output_dir), **{**fixed, **overrides, **to_training_arguments(params)})


def record_trial(trial: optuna.Trial, scores: dict[int, float], trainer, train_result) -> None:
    """Store what the table, plots and budget need on the trial: worker, epoch metrics, best epoch, steps, runtime."""
    trial.set_user_attr("worker", WORKER)
    trial.set_user_attr("epoch_metrics", {str(k): v for k, v in scores.items()})
    trial.set_user_attr("best_epoch", max(scores, key=scores.get) if scores else None)
    trial.set_user_attr("global_step", int(trainer.state.global_step))
    trial.set_user_attr("train_runtime", round(float(train_result.metrics.get("train_runtime", 0.0)), 2))
    # What the budget counts: training examples seen (epochs run x rows; a pruned trial's stop counts).
    trial.set_user_attr("examples", round((trainer.state.epoch or 0) * len(trainer.train_dataset)))


def with_model_parameters(model_init, params: dict):
    """`model_init` building the model a trial's parameters ask for (e.g. `lora_r`), or unchanged if none do."""
    overrides = model_parameters(params)
    if hasattr(model_init, "with_lora"):
        return model_init.with_lora(**overrides)
    if not overrides:
        return model_init
    try:  # a function of the model's parameters (notebook 02's make_model)
        inspect.signature(model_init).bind(**overrides)
    except TypeError:
        raise GlueHelpersError(f"The trial's parameters {sorted(overrides)} shape a LoRA model: use a model_init "
                               "from gh.make_model_init(..., lora=...) or a function taking them as keywords, or "
                               "remove them from the search space.") from None
    return lambda: model_init(**overrides)  # no argument: Trainer calls it as is


def make_objective(task: GlueTask, *, model_init, compute_metrics, hp_space, train_dataset: Dataset,
                   eval_dataset: Dataset, data_collator, output_dir: str | Path, model_name: str | Path = "model",
                   **training_overrides):
    """The Optuna objective: train one trial's model on the search subset; return its best epoch's metric."""

    def objective(trial: optuna.Trial) -> float:
        params = hp_space(trial)
        tracking = trial_tracking(training_overrides.get("report_to", REPORT_TO), output_dir,
                                  trial_run_name(task, model_name, trial.number))
        args = search_training_arguments(task, Path(output_dir) / "trials" / f"trial-{trial.number}", params,
                                         **{**training_overrides, **tracking})
        callback = EpochReport(task.primary_metric, optuna_report(trial))
        trainer = GlueTrainer(model_init=with_model_parameters(model_init, params), args=args,
                              train_dataset=train_dataset, eval_dataset=eval_dataset, data_collator=data_collator,
                              compute_metrics=compute_metrics, callbacks=[callback])
        trainer.remove_callback(PrinterCallback)  # one line per trial from Optuna is enough
        try:
            result = trainer.train()
            record_trial(trial, callback.history, trainer, result)
        finally:
            trainer.model = trainer.model_wrapped = trainer.optimizer = trainer.lr_scheduler = None
            del trainer
            free_memory()
        if callback.pruned:
            raise optuna.TrialPruned(f"pruned after epoch {max(callback.history)}")
        return callback.best()[1]

    return objective
