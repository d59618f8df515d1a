"""`search --backend ray` on a local Ray cluster and the kit's tiny model: Ray Tune's trials finish, ASHA stops the
hopeless ones, every trial lands in the study (trials table) and the best is retrained into metrics.json."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest

from glue_helpers.cli import main
from glue_helpers.search.pipeline import prepare_search
from glue_helpers.search.ray_backend import TRIALS_CSV, _searcher, max_epochs
from glue_helpers.search.retrain import BEST_MODEL
from glue_helpers.search.study import open_study
from glue_helpers.tasks import get_task

ray = pytest.importorskip("ray")

# Four epochs, so ASHA has milestones at 1 and 2 epochs; learning rates from useless (1e-6) to the tiny model's best.
SPACE = {"learning_rate": {"low": 1e-6, "high": 1e-2, "log": True}, "num_train_epochs": 4, "batch_size": 8}


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray cluster; each trial asks for both CPUs, so trials run one after another, in the sampler's
    order, and ASHA's decisions repeat from run to run."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024**2)
    yield
    ray.shutdown()


def test_max_epochs_is_the_largest_epoch_count_of_the_space():
    assert max_epochs(SPACE) == 4 and max_epochs({"num_train_epochs": {"low": 1, "high": 3}}) == 3
    assert max_epochs({"num_train_epochs": [2, 5]}) == 5


@pytest.mark.slow
def test_a_smoke_search_on_ray_tune_prunes_records_and_retrains(cluster, kit, tmp_path, capsys, recwarn):
    out = tmp_path / "search"  # (--space is read as YAML, which takes 1e-06 for text: hence 0.000001)
    argv = ["search", "--smoke", "--task", "stsb", "--backend", "ray", "--n-trials", "6", "--cpus-per-trial", "2",
            "--space", json.dumps(SPACE).replace("1e-06", "0.000001"), "--output-dir", str(out),
            "--search-fraction", "0.5",
            "--max-train-samples", "32", "--max-eval-samples", "16", "--retrain", "--recheck-seeds", "0",
            "--search-budget", "none"]  # all 6 trials (the budget has its own test)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert not [w for w in recwarn if "Heartbeat" in str(w.message)]  # ended trials are recorded, not run
    study = open_study(get_task("stsb"), storage=None, output_dir=out)
    states = [trial.state for trial in study.trials]
    assert len(states) == 6 and optuna.trial.TrialState.FAIL not in states
    assert optuna.trial.TrialState.PRUNED in states  # ASHA stopped a trial before its 4 epochs
    complete = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(trial.intermediate_values for trial in complete)  # (epochs with a finite metric)
    for trial in study.trials:  # what the budget counts: epochs trained x 32 rows
        assert trial.user_attrs["examples"] == 32 * max(trial.intermediate_values)
    for trial in complete:  # the best-epoch objective
        assert trial.value == max(trial.intermediate_values.values())
        assert trial.user_attrs["best_epoch"] == max(trial.intermediate_values, key=trial.intermediate_values.get)
    table = pd.read_csv(out / TRIALS_CSV)
    assert len(table) == 6 and {"learning_rate", "best_epoch", "state"} <= set(table.columns)
    record = json.loads((out / BEST_MODEL / "metrics.json").read_text())
    assert record["best_params"] == study.best_params and record["task"] == "stsb"
    assert "best-model: pearson" in printed
    recipe = [trial for trial in study.trials if trial.user_attrs.get("recipe")]  # Ray's points_to_evaluate
    assert len(recipe) == 1 and recipe[0].params["learning_rate"] == 2e-5  # the only recipe value SPACE can hold


def test_ray_proposes_no_trial_once_the_search_budget_is_spent(kit, tmp_path):
    """The Optuna backend's budget on Ray: 0.5 recipe runs of 32 rows (5 epochs) = 80 training examples; earlier
    trials' examples count too, and a trial in flight counts the epochs it has reported."""
    from ray.tune.search import Searcher

    search = prepare_search(get_task("stsb"), str(kit.model_dir), data_dir=kit.data_dir, output_dir=tmp_path,
                            search_budget=0.5, max_train_samples=32, max_eval_samples=16, search_space=SPACE)
    search.study.add_trial(optuna.trial.create_trial(value=0.1, user_attrs={"examples": 32}))  # an earlier trial
    searcher = _searcher(search, seed=0)
    assert (searcher.budget, searcher.rows, searcher.examples_seen()) == (80, 32, 32)
    assert searcher.suggest("a") == {"learning_rate": 2e-5, "num_train_epochs": 4, "batch_size": 8}  # the recipe
    searcher.on_trial_result("a", {"objective": 0.2, "epoch": 1, "training_iteration": 1})
    assert searcher.examples_seen() == 64 and isinstance(searcher.suggest("b"), dict)
    searcher.on_trial_result("a", {"objective": 0.3, "epoch": 2, "training_iteration": 2})
    assert searcher.examples_seen() == 96 and searcher.suggest("c") == Searcher.FINISHED
