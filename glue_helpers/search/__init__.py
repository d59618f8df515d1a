"""Hyperparameter search with Optuna or Ray Tune: the space, one trial, the study, the re-check of the best trials
on the full data, the retrain and the plots; `pipeline` runs it all in one call.
"""

from .objective import (
    free_memory,
    make_objective,
    record_trial,
    search_rows,
    search_subset,
    search_training_arguments,
    trial_run_name,
    trial_tracking,
)
from .pipeline import prepare_search, recheck_search, run_search, search_trials
from .plots import importances_possible, recheck_figure
from .ray_backend import run_ray_trials
from .recheck import recheck, recheck_seeds, save_winner, verdict
from .retrain import best_params, retrain_best
from .space import default_search_space, model_parameters, recipe_params, recipe_values
from .study import (
    StopAtBudget,
    budget_examples,
    enqueue_recipe,
    examples_seen,
    finished_trials,
    has_recipe_trial,
    make_pruner,
    open_storage,
    open_study,
    previous_trials,
    run_trials,
    storage_url,
    tag_study,
    trials_table,
    trials_to_run,
)

__all__ = [
    "StopAtBudget", "best_params", "budget_examples", "default_search_space", "enqueue_recipe", "examples_seen",
    "finished_trials", "free_memory", "has_recipe_trial", "importances_possible", "make_objective", "make_pruner",
    "model_parameters", "open_storage", "open_study", "prepare_search", "previous_trials", "recheck",
    "recheck_figure", "recheck_search", "recheck_seeds", "recipe_params", "recipe_values", "record_trial",
    "retrain_best", "run_ray_trials", "run_search", "run_trials", "save_winner", "search_rows", "search_subset",
    "search_training_arguments", "search_trials", "storage_url", "tag_study", "trial_run_name", "trial_tracking",
    "trials_table", "trials_to_run", "verdict",
]
