"""Hyperparameter search with Optuna: what notebook 02 imports as `from glue_helpers import search as hs`.

* `space`: the search space as a plain dict, checked, turned into `hp_space(trial)`;
* `objective`: one trial (a seeded subset, per-epoch reports and pruning, scored by its best epoch);
* `study`: where the study lives, how it samples and prunes, the trials it has and still needs, its table;
* `retrain`: the best parameters on the full training set, saved with metrics.json;
* `plots`: Optuna's plots with the guards a small study needs;
* `pipeline`: all of it in one call, for `python -m glue_helpers search`;
* `ray_backend`: the same search on Ray Tune (`search --backend ray`, notebook 02's `backend="ray"`).
"""

from .objective import (
    check_fraction,
    free_memory,
    make_objective,
    record_trial,
    search_subset,
    search_training_arguments,
)
from .pipeline import prepare_search, run_search
from .plots import search_figures
from .ray_backend import run_ray_trials
from .retrain import retrain_best
from .space import default_search_space, model_parameters
from .study import (
    check_n_trials,
    finished_trials,
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
    "check_fraction", "check_n_trials", "default_search_space", "finished_trials", "free_memory", "make_objective",
    "make_pruner", "model_parameters", "open_storage", "open_study", "prepare_search", "previous_trials",
    "record_trial", "retrain_best", "run_ray_trials", "run_search", "run_trials", "search_figures", "search_subset",
    "search_training_arguments", "storage_url", "tag_study", "trials_table", "trials_to_run",
]
