"""`search --backend ray`: Ray Tune runs notebook 02's space with ASHA; every trial lands in the study."""

from __future__ import annotations

import json
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest

from glue_helpers.cli import main
from glue_helpers.search.study import open_storage

ray = pytest.importorskip("ray")

# Four epochs, so ASHA has milestones at 1 and 2 epochs; learning rates from useless (1e-6) to the tiny model's best.
SPACE = {"learning_rate": {"low": 1e-6, "high": 1e-2, "log": True}, "num_train_epochs": 4, "batch_size": 8,
         "lora_r": [2, 4]}  # --space reads JSON as JSON (YAML would read its 1e-06 as text)


def test_a_ray_trial_reports_each_epoch_scoring_a_collapsed_one_zero(monkeypatch):
    from ray import tune

    from glue_helpers.search.ray_backend import OBJECTIVE, ReportToTune

    reported = []
    monkeypatch.setattr(tune, "report", reported.append)
    callback = ReportToTune("pearson")
    for epoch, value in enumerate([0.3, float("nan"), 0.5], start=1):
        callback.on_evaluate(None, SimpleNamespace(epoch=float(epoch)), None, metrics={"eval_pearson": value})
    assert [r["pearson"] for r in reported] == [0.3, 0.0, 0.5] and [r[OBJECTIVE] for r in reported] == [0.3, 0.3, 0.5]


def test_ray_proposes_the_recipe_first_and_no_trial_once_the_budget_is_spent():
    """A budget of 80 examples: earlier trials' examples count, and a trial in flight counts its reported epochs."""
    from ray.tune.search import Searcher

    from glue_helpers.search.ray_searcher import BudgetOptunaSearch

    searcher = BudgetOptunaSearch(
        space=lambda trial: {"learning_rate": trial.suggest_float("learning_rate", 1e-6, 1e-2, log=True)},
        metric="objective", mode="max", points_to_evaluate=[{"learning_rate": 2e-5}], budget=80, rows=32, spent=32)
    assert searcher.examples_seen() == 32 and searcher.suggest("a") == {"learning_rate": 2e-5}  # the recipe
    searcher.on_trial_result("a", {"objective": 0.2, "epoch": 1, "training_iteration": 1})
    assert searcher.examples_seen() == 64 and isinstance(searcher.suggest("b"), dict)
    searcher.on_trial_result("a", {"objective": 0.3, "epoch": 2, "training_iteration": 2})
    assert searcher.examples_seen() == 96 and searcher.suggest("c") == Searcher.FINISHED


@pytest.mark.slow
def test_a_smoke_lora_search_on_ray_tune_prunes_records_and_saves_the_best(kit, tmp_path, capsys):
    out = tmp_path / "search"
    argv = ["search", "--smoke", "--task", "stsb", "--backend", "ray", "--n-trials", "6", "--cpus-per-trial", "2",
            "--peft", "lora", "--space", json.dumps(SPACE), "--output-dir", str(out), "--search-fraction", "0.5",
            "--max-train-samples", "32", "--max-eval-samples", "16", "--retrain", "--recheck-seeds", "0",
            "--search-budget", "none"]  # all 6 trials (the budget has its own test)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    study = optuna.load_study(study_name="glue-stsb", storage=open_storage(None, out))
    states = [trial.state.name for trial in study.trials]
    assert len(states) == 6 and "FAIL" not in states and "PRUNED" in states  # ASHA stopped a trial before 4 epochs
    assert all(trial.params["lora_r"] in (2, 4) for trial in study.trials)
    complete = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(trial.intermediate_values for trial in complete)
    for trial in study.trials:  # what the budget counts: epochs trained x 32 rows
        assert trial.user_attrs["examples"] == 32 * max(trial.intermediate_values)
    for trial in complete:  # the best-epoch objective
        assert trial.value == max(trial.intermediate_values.values())
        assert trial.user_attrs["best_epoch"] == max(trial.intermediate_values, key=trial.intermediate_values.get)
    recipe = [trial for trial in study.trials if trial.user_attrs.get("recipe")]  # Ray's points_to_evaluate
    assert len(recipe) == 1 and recipe[0].params["learning_rate"] == 5e-4  # LoRA's recipe rate, inside SPACE
    assert len(pd.read_csv(out / "trials.csv")) == 6
    record = json.loads((out / "best-model" / "metrics.json").read_text())
    best = study.best_trial
    assert record["recheck_winner"] == f"trial-{best.number}" and record["task"] == "stsb"
    assert record["peft"] == "lora" and record["lora_r"] == best.params["lora_r"] == record["best_params"]["lora_r"]
    assert (out / "best-adapter" / "adapter_config.json").is_file()
    assert not (out / "best-model" / "adapter_config.json").exists() and "best-model: " in printed
