"""The search on Ray Tune (`search --backend ray`): the same space through Optuna's TPE, ASHA early stopping, a trial
per GPU (or CPU slot). Finished trials are written into the Optuna study, so the table, plots and retrain work
unchanged; a stopped run resumes from `<output_dir>/ray/<study>` (shared storage on a multi-node cluster).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import optuna
from transformers.trainer_callback import PrinterCallback

from ..errors import GlueHelpersError
from ..recipe import SearchSettings, check_knobs
from ..rundir import atomic_path
from ..training import GlueTrainer
from .objective import (
    EpochReport,
    free_memory,
    search_training_arguments,
    trial_run_name,
    trial_tracking,
    with_model_parameters,
)
from .pipeline import SearchRun
from .space import recipe_params, suggest
from .study import RECIPE_ATTR, examples_seen, has_recipe_trial, make_sampler, trials_table

OBJECTIVE = "objective"  # what a trial reports besides its epoch's metric: its best epoch so far
REDUCTION_FACTOR = 2  # ASHA keeps the better half of the trials at each milestone (1, 2, 4, ... epochs)
RAY_TRIAL_ATTR = "ray_trial_id"
TRIALS_CSV = "trials.csv"


def tune_report(metric: str):
    """`EpochReport`'s report to Ray Tune: the epoch's score and the best so far (ASHA stops a trial itself)."""
    def report(epoch: int, history: dict[int, float], last: bool) -> bool:
        from ray import tune

        tune.report({metric: history[epoch], "epoch": epoch, OBJECTIVE: max(history.values())})
        return False
    return report


def ray_trial(config: dict, *, task, names, model_init, compute_metrics, train_dataset, eval_dataset, data_collator,
              model_name, overrides):
    """One trial on a Ray worker: train on the search subset with the trial's parameters, reporting every epoch."""
    from ray import tune

    params = {name: config[name] for name in names}
    trial_dir = tune.get_context().get_trial_dir()
    tracking = trial_tracking(overrides.get("report_to", "none"), trial_dir,
                              trial_run_name(task, model_name, tune.get_context().get_trial_id()))
    args = search_training_arguments(task, trial_dir, params, **{**overrides, **tracking})
    trainer = GlueTrainer(model_init=with_model_parameters(model_init, params), args=args,
                          train_dataset=train_dataset, eval_dataset=eval_dataset, data_collator=data_collator,
                          compute_metrics=compute_metrics,
                          callbacks=[EpochReport(task.primary_metric, tune_report(task.primary_metric))])
    trainer.remove_callback(PrinterCallback)
    try:
        trainer.train()
    finally:
        trainer.model = trainer.model_wrapped = trainer.optimizer = trainer.lr_scheduler = None
        free_memory()


def max_epochs(space: dict) -> int:
    """The most epochs a trial of this space trains: ASHA's last milestone."""
    spec = space.get("num_train_epochs", 3)
    values = [spec["high"]] if isinstance(spec, dict) else list(spec) if isinstance(spec, (list, tuple)) else [spec]
    return max(1, math.ceil(max(values)))


def _in_memory(dataset):
    """A dataset whose rows travel with it (a memory-mapped one would name a cache file another node lacks)."""
    return dataset.flatten_indices(keep_in_memory=True)


class DefineByRun:
    """The space asked of an Optuna trial, as `hp_space` asks it."""
    # module-level, since Ray pickles its searcher (with this) into the experiment folder for a resume

    def __init__(self, space: dict):
        self.space = space

    def __call__(self, trial) -> None:
        """Suggest every parameter (Ray reads them from the trial)."""
        for name, spec in self.space.items():
            suggest(trial, name, spec)


def _searcher(search: SearchRun, seed: int):
    """Optuna's TPE through Ray over the run's space: the recipe first when the study lacks it; stops at the budget."""
    from .ray_searcher import BudgetOptunaSearch

    first = [] if has_recipe_trial(search.study) else [recipe_params(search.hp_space.space, search.peft)]
    return BudgetOptunaSearch(space=DefineByRun(search.hp_space.space), metric=OBJECTIVE, mode="max",
                              sampler=make_sampler(seed), points_to_evaluate=first or None, budget=search.budget,
                              rows=len(search.data.search_train), spent=examples_seen(search.study))


def make_tuner(search: SearchRun, n_trials: int, *, seed: int, cpus_per_trial: float, gpus_per_trial: float,
               **overrides):
    """The Tuner of this search: a new experiment, or the one in `<output_dir>/ray/<study>` to continue."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    task, space = search.task, search.hp_space.space
    trainable = tune.with_resources(tune.with_parameters(
        ray_trial, task=task, names=list(space), model_init=search.model_init,
        compute_metrics=search.compute_metrics, train_dataset=_in_memory(search.data.search_train),
        eval_dataset=_in_memory(search.data.eval), data_collator=search.data.data_collator, model_name=search.model,
        overrides=overrides),
        {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
    path = (Path(search.output_dir) / "ray").resolve()
    if tune.Tuner.can_restore(str(path / search.study.study_name)):
        print(f"continuing the Ray Tune experiment in {path / search.study.study_name}")
        return tune.Tuner.restore(str(path / search.study.study_name), trainable, resume_errored=True)
    scheduler = ASHAScheduler(metric=task.primary_metric, mode="max", max_t=max_epochs(space), grace_period=1,
                              reduction_factor=REDUCTION_FACTOR)
    return tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=_searcher(search, seed), scheduler=scheduler,
                                                             num_samples=n_trials, reuse_actors=True),
                      run_config=tune.RunConfig(name=search.study.study_name, storage_path=str(path), verbose=1,
                                                failure_config=tune.FailureConfig(max_failures=0)))


def _history(result, metric: str) -> tuple[dict[int, float], int]:
    """A Ray trial's score per epoch and the last epoch it reported (0: none)."""
    frame = result.metrics_dataframe
    if frame is None or metric not in frame.columns or "epoch" not in frame.columns:
        return {}, 0
    rows = frame.dropna(subset=[metric])
    history = {int(epoch): float(value) for epoch, value in zip(rows["epoch"], rows[metric], strict=True)}
    return history, int(frame["epoch"].max())


def record_results(study: optuna.Study, results, hp_space, metric: str, rows: int) -> int:
    """Write each Ray trial not yet in the study into it (parameters, epoch values, state); return how many."""
    seen = {trial.user_attrs.get(RAY_TRIAL_ATTR) for trial in study.trials}
    recipe = recipe_params(hp_space.space, study.user_attrs.get("peft"))
    added = 0
    for result in results:
        trial_id = result.path and Path(result.path).name
        if trial_id in seen or not result.config:
            continue
        history, last_epoch = _history(result, metric)
        epochs = result.config.get("num_train_epochs", max_epochs(hp_space.space))
        best = max(history, key=history.get) if history else None
        is_recipe = not has_recipe_trial(study) and all(result.config.get(k) == v for k, v in recipe.items())
        study.enqueue_trial(dict(result.config), user_attrs={
            **({RECIPE_ATTR: True} if is_recipe else {}),
            RAY_TRIAL_ATTR: trial_id, "worker": (result.metrics or {}).get("hostname"), "best_epoch": best,
            "epoch_metrics": {str(k): v for k, v in history.items()}, "examples": last_epoch * rows,
            "train_runtime": round(float((result.metrics or {}).get("time_total_s") or 0.0), 2)})
        with warnings.catch_warnings():  # a Ray trial that has ended is recorded here: no heartbeat to keep
            warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
            trial = study.ask()
        hp_space(trial)  # the enqueued values, with their distributions
        for epoch, value in history.items():
            trial.report(value, epoch)
        if result.error is None and last_epoch < math.ceil(epochs):  # ASHA stopped it
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif result.error is None and best is not None:
            study.tell(trial, history[best])
        else:  # it raised, or never reported an epoch: failed
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        added += 1
    return added


def run_ray_trials(search: SearchRun, n_trials: int, *, seed: int = 0, address: str | None = None,
                   cpus_per_trial: float = 1, gpus_per_trial: float | None = None, **overrides) -> optuna.Study:
    """Run up to `n_trials` trials on Ray Tune (until the budget), record them in the study, write trials.csv."""
    from ..batch.ray_executor import connect

    check_knobs(SearchSettings, {"cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial})  # NaN, 0 CPUs
    if not hasattr(search.hp_space, "space"):
        raise GlueHelpersError("search --backend ray needs the search space as a dict (`search_space=`), not a "
                               "function.")
    ray = connect(address)
    if gpus_per_trial is None:
        gpus_per_trial = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    tuner = make_tuner(search, n_trials, seed=seed, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
                       **overrides)
    results = tuner.fit()
    record_results(search.study, results, search.hp_space, search.study.user_attrs["primary_metric"],
                   len(search.data.search_train))
    with atomic_path(Path(search.output_dir) / TRIALS_CSV) as tmp:
        trials_table(search.study).to_csv(tmp)
    return search.study

