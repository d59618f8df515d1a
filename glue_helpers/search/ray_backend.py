"""Notebook 02's search on Ray Tune: TPE over its `hp_space`, ASHA, each trial `train.fit`; finished trials are written
into the notebook's study; a stopped run resumes from `<output_dir>/ray/<study>`."""

from __future__ import annotations

import gc
import math
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import optuna
from transformers import TrainerCallback

from ..recipe import Recipe, SearchSettings, recipe_trial
from ..rundir import atomic_path, start_tracking
from ..tasks import GlueTask
from ..train import fit
from ..training import training_arguments
from .study import StopAtBudget, recipe_in_space, space_of

OBJECTIVE = "objective"  # what a trial reports besides its epoch's metric: its best epoch so far
REDUCTION_FACTOR = 2  # ASHA keeps the better half of the trials at each milestone (1, 2, 4, ... epochs)
RAY_TRIAL_ATTR = "ray_trial_id"
RECIPE_ATTR = "recipe"  # the user attribute of the trial that runs the recipe (notebook 02 sets it too)
TRIALS_CSV = "trials.csv"


class ReportToTune(TrainerCallback):
    """After each epoch's evaluation: report the task's metric (0 where it is not a number, as notebook 02 scores a
    collapsed epoch), the epoch and the best epoch so far to Ray Tune, whose ASHA scheduler may stop the trial."""

    def __init__(self, metric: str):
        self.metric, self.scores = metric, {}

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        """Report one epoch."""
        from ray import tune

        value = (metrics or {}).get(f"eval_{self.metric}")
        if value is None:
            return
        epoch = max(1, round(state.epoch or 0))
        self.scores[epoch] = float(value) if math.isfinite(value) else 0.0
        tune.report({self.metric: self.scores[epoch], "epoch": epoch, OBJECTIVE: max(self.scores.values())})


def ray_trial(config: dict, *, task: GlueTask, recipe: Recipe, model_path: str, train_dataset, eval_dataset,
              tokenizer) -> None:
    """One trial on a Ray worker: the search's recipe with the trial's values, trained on the search subset."""
    from ray import tune

    trial_recipe = replace(recipe, **config)
    context = tune.get_context()
    run_name = f"{task.name}-{Path(model_path).name}-trial-{context.get_trial_id()}"
    start_tracking(trial_recipe.report_to, context.get_trial_dir(), run_name)
    args = training_arguments(task, context.get_trial_dir(), trial_recipe, save_strategy="no",
                              load_best_model_at_end=False, disable_tqdm=True, run_name=run_name)
    trainer, _ = fit(task, trial_recipe, model_path, args, train_dataset, eval_dataset, tokenizer,
                     callbacks=[ReportToTune(task.primary_metric)], log=False)
    trainer.model = trainer.model_wrapped = trainer.optimizer = None  # the actor is reused: free it for the next
    gc.collect()


def max_epochs(study_trial_space: dict, default: float) -> int:
    """The most epochs a trial trains (ASHA's last milestone): the space's largest `num_train_epochs`."""
    distribution = study_trial_space.get("num_train_epochs")
    high = getattr(distribution, "high", None) or max(getattr(distribution, "choices", None) or [default])
    return max(1, math.ceil(high))


def make_tuner(study, hp_space, trainable, *, n_trials: int, seed: int, epochs: int, stop_at_budget: StopAtBudget,
               rows: int, recipe_values: dict, output_dir):
    """The Tuner of this search: a new experiment, or the one in `<output_dir>/ray/<study>` to continue."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from .ray_searcher import BudgetOptunaSearch

    path = (Path(output_dir) / "ray").resolve()
    if tune.Tuner.can_restore(str(path / study.study_name)):
        print(f"continuing the Ray Tune experiment in {path / study.study_name}")
        return tune.Tuner.restore(str(path / study.study_name), trainable, resume_errored=True)
    first = None if not recipe_values or any(t.user_attrs.get(RECIPE_ATTR) for t in study.trials) else [recipe_values]
    searcher = BudgetOptunaSearch(space=hp_space, metric=OBJECTIVE, mode="max", points_to_evaluate=first,
                                  sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=4,
                                                                     constant_liar=True),
                                  budget=stop_at_budget.limit, rows=rows, spent=stop_at_budget.spent(study))
    metric = study.user_attrs["primary_metric"]
    scheduler = ASHAScheduler(metric=metric, mode="max", max_t=epochs, grace_period=1,
                              reduction_factor=REDUCTION_FACTOR)
    return tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                                             num_samples=n_trials, reuse_actors=True),
                      run_config=tune.RunConfig(name=study.study_name, storage_path=str(path), verbose=1,
                                                failure_config=tune.FailureConfig(max_failures=0)))


def _history(result, metric: str) -> tuple[dict[int, float], int]:
    """A Ray trial's score per epoch and the last epoch it reported (0: none)."""
    frame = result.metrics_dataframe
    if frame is None or metric not in frame.columns or "epoch" not in frame.columns:
        return {}, 0
    rows = frame.dropna(subset=[metric])
    history = {int(epoch): float(value) for epoch, value in zip(rows["epoch"], rows[metric], strict=True)}
    return history, int(frame["epoch"].max())


def record_results(study: optuna.Study, results, hp_space, *, rows: int, epochs: int, recipe_values: dict) -> int:
    """Write each Ray trial not yet in the study into it (parameters, epoch values, state); return how many."""
    metric = study.user_attrs["primary_metric"]
    seen = {trial.user_attrs.get(RAY_TRIAL_ATTR) for trial in study.trials}
    added = 0
    for result in results:
        trial_id = result.path and Path(result.path).name
        if trial_id in seen or not result.config:
            continue
        history, last_epoch = _history(result, metric)
        planned = result.config.get("num_train_epochs", epochs)
        best = max(history, key=history.get) if history else None
        has_recipe = any(t.user_attrs.get(RECIPE_ATTR) for t in study.trials)
        is_recipe = not has_recipe and bool(recipe_values) and all(result.config.get(k) == v
                                                                   for k, v in recipe_values.items())
        study.enqueue_trial(dict(result.config), user_attrs={
            **({RECIPE_ATTR: True} if is_recipe else {}), RAY_TRIAL_ATTR: trial_id, "best_epoch": best,
            "examples": last_epoch * rows, "worker": (result.metrics or {}).get("hostname")})
        with warnings.catch_warnings():  # a Ray trial that has ended is recorded here: no heartbeat to keep
            warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
            trial = study.ask()
        hp_space(trial)  # the enqueued values, with their distributions
        for epoch, value in history.items():
            trial.report(value, epoch)
        if result.error is None and last_epoch < math.ceil(planned):  # ASHA stopped it
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif result.error is None and best is not None:
            study.tell(trial, history[best])
        else:  # it raised, or never reported an epoch: failed
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        added += 1
    return added


def run_ray_trials(study: optuna.Study, hp_space, params: Mapping, *, train_dataset, eval_dataset, tokenizer,
                   stop_at_budget: StopAtBudget, n_trials: int) -> optuna.Study:
    """Run up to `n_trials` Ray Tune trials (until the budget) for notebook 02 (`params`: its checked `globals()`) and
    record them in the study and trials.csv."""
    from ray import tune

    from ..batch.ray_executor import connect

    recipe, settings = Recipe.from_params(params), SearchSettings.from_params(params)
    task, model, output_dir = params["task"], str(params["model_checkpoint"]), Path(params["output_dir"])
    ray = connect(params["ray_address"])
    gpus = settings.gpus_per_trial
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    # rows travel with the datasets: a memory-mapped one would name a cache file another node lacks
    trainable = tune.with_resources(tune.with_parameters(
        ray_trial, task=task, recipe=recipe, model_path=model, tokenizer=tokenizer,
        train_dataset=train_dataset.flatten_indices(keep_in_memory=True),
        eval_dataset=eval_dataset.flatten_indices(keep_in_memory=True)), {"cpu": settings.cpus_per_trial, "gpu": gpus})
    epochs = max_epochs(space_of(hp_space), recipe.num_train_epochs)
    recipe_values = recipe_in_space(recipe_trial(recipe.peft), hp_space)
    tuner = make_tuner(study, hp_space, trainable, n_trials=n_trials, seed=recipe.seed, epochs=epochs,
                       stop_at_budget=stop_at_budget, rows=len(train_dataset), recipe_values=recipe_values,
                       output_dir=output_dir)
    record_results(study, tuner.fit(), hp_space, rows=len(train_dataset), epochs=epochs, recipe_values=recipe_values)
    with atomic_path(output_dir / TRIALS_CSV) as tmp:
        study.trials_dataframe().to_csv(tmp)
    return study
