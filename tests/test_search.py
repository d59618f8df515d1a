"""The search: notebook 02's space and callback, the package's storage, study checks, budget, spaces, and `search`."""

from __future__ import annotations

import ast
import json
import math
import re
import time
from pathlib import Path
from types import SimpleNamespace

import jupytext
import optuna
import pytest
from transformers import TrainerCallback

from glue_helpers.batch.runner import run_notebook_01
from glue_helpers.cli import main
from glue_helpers.data import load_glue, search_rows, search_subset
from glue_helpers.errors import GlueHelpersError
from glue_helpers.recipe import Recipe, recipe_trial
from glue_helpers.search.space import validate_search_space
from glue_helpers.search.study import StopAtBudget, check_study, open_storage, recipe_in_space, storage_url
from glue_helpers.tasks import get_task

NOTEBOOK_02 = Path(__file__).resolve().parents[1] / "notebooks" / "02_hyperparameter_search.py"


def notebook_space(**params) -> dict:
    """The distributions notebook 02's `hp_space` asks for, its parameters set as given."""
    cells = jupytext.read(NOTEBOOK_02).cells
    scope: dict = {}
    exec(next(c.source for c in cells if "parameters" in c.metadata.get("tags", [])), scope)
    scope.update(params)
    exec(next(c.source for c in cells if "def hp_space" in c.source), scope)
    probe = optuna.create_study().ask()
    scope["hp_space"](probe)
    return probe.distributions


def notebook_callback(metric: str):
    """Notebook 02's written-out ReportEachEpoch, compiled from its source, for a task scored by `metric`."""
    source = NOTEBOOK_02.read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "ReportEachEpoch")
    scope = {"TrainerCallback": TrainerCallback, "math": math, "task": SimpleNamespace(primary_metric=metric)}
    exec(compile(ast.get_source_segment(source, node), str(NOTEBOOK_02), "exec"), scope)
    return scope["ReportEachEpoch"]


def evaluate(callback, scores, epochs, metric="accuracy"):
    """Feed the callback one evaluation per score until it stops training; return the Trainer's control."""
    control = SimpleNamespace(should_training_stop=False)
    for epoch, value in enumerate(scores, start=1):
        if not control.should_training_stop:
            callback.on_evaluate(SimpleNamespace(num_train_epochs=epochs), SimpleNamespace(epoch=float(epoch)),
                                 control, metrics={f"eval_{metric}": value})
    return control


def new_trial(scores: dict, pruner=None) -> optuna.Trial:
    """A new trial of an in-memory study with `pruner` (median) and one finished trial: 0.9, these epoch scores."""
    study = optuna.create_study(direction="maximize", pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=1))
    study.add_trial(optuna.trial.create_trial(value=0.9, intermediate_values=scores))
    return study.ask()


def test_the_callback_reports_each_epoch_and_a_trial_at_its_last_epoch_finishes():
    for epochs, pruned in ((1, False), (2, True)):
        callback = notebook_callback("accuracy")(new_trial({1: 0.8, 2: 0.9}))
        control = evaluate(callback, [0.1], epochs)
        assert callback.pruned == control.should_training_stop == pruned, epochs
    trial = optuna.create_study(direction="maximize").ask()
    callback = notebook_callback("accuracy")(trial)
    evaluate(callback, [0.5, 0.8, 0.6], 3)
    assert callback.scores == trial.storage.get_trial(trial._trial_id).intermediate_values == {1: 0.5, 2: 0.8, 3: 0.6}
    trial = new_trial({1: 0.4, 3: 0.8}, optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    callback = notebook_callback("accuracy")(trial)
    evaluate(callback, [0.95, 0.2, 0.97], 3)
    rungs = [key for key in trial.storage.get_trial(trial._trial_id).system_attrs if "rung" in key]
    assert not callback.pruned and len(callback.scores) == 3 and len(rungs) == 1  # ASHA: epoch 1's rung, none at 3


def test_a_collapsed_epoch_scores_zero_and_can_be_pruned():
    """Constant predictions give Pearson NaN, reported as 0 so the pruner sees it (else it trains on, then fails)."""
    trial = new_trial({1: 0.8})
    callback = notebook_callback("pearson")(trial)
    control = evaluate(callback, [float("nan"), 0.7], 3, metric="pearson")
    assert callback.scores == {1: 0.0} and callback.pruned and control.should_training_stop
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {1: 0.0}


@pytest.mark.parametrize("smoke", [False, True])
@pytest.mark.parametrize("peft", [None, "lora"])
def test_the_notebook_space_holds_the_recipe_so_trial_0_is_notebook_01s_run(smoke, peft):
    space = notebook_space(smoke=smoke, peft=peft)
    recipe = recipe_trial(peft)
    assert set(space) == set(recipe)  # the seed is not searched: it would find a lucky seed, not a recipe
    for name, value in recipe.items():
        assert space[name]._contains(space[name].to_internal_repr(value)), (name, value, space[name])
    assert space["learning_rate"].log and recipe["learning_rate"] == (5e-4 if peft else 2e-5)


@pytest.mark.parametrize("space, message", [
    ({}, "empty"), ([], "empty"),
    ({"lr": {"low": 1e-5, "high": 1e-4}}, "Valid ones: learning_rate, num_train_epochs, batch_size"),
    ({"learning_rate": {"low": 1e-4, "high": 1e-5}}, "low < high"),
    ({"learning_rate": {"low": 0.0, "high": 1e-4, "log": True}}, "low must be > 0"),
    ({"learning_rate": {"low": 1e-5}}, "must look like"),
    ({"learning_rate": {"low": 1e-5, "high": 1e-4, "scale": "log"}}, "must look like"),
    ({"learning_rate": {"low": 1e-5, "high": 1e-4, "log": True, "step": 1e-5}}, "both 'log' and 'step'"),
    ({"learning_rate": {"low": float("nan"), "high": 1e-4}}, "learning_rate must be a positive finite number"),
    ({"batch_size": []}, "empty list"), ({"batch_size": "16"}, "range dict, a list or a number"),
    ({"batch_size": [16, 2.5]}, "batch_size must be a positive integer"),
    ({"warmup_ratio": {"low": 0.0, "high": 1.5}}, "[0, 1)"),
    ({"lora_r": [4, 8]}, "only apply to LoRA; set peft='lora'")])
def test_a_bad_search_space_is_refused_naming_the_entry(space, message):
    with pytest.raises(GlueHelpersError, match=re.escape(message)):
        validate_search_space(space)


def test_the_subset_rule_picks_the_documented_sizes(kit):
    rows = {"wnli": (635, 635), "rte": (2490, 2490), "mrpc": (3668, 2500), "stsb": (5749, 2500), "cola": (8551, 2500),
            "sst2": (67349, 6735), "qnli": (104743, 10474), "qqp": (363846, 36385), "mnli": (392702, 39270)}
    assert {task: search_rows(n) for task, (n, _) in rows.items()} == {task: size for task, (_, size) in rows.items()}
    assert search_rows(5749, 0.1, min_rows=0) == 575 and search_rows(5749, 1.0) == 5749
    for bad in (-1, 2.5, True):
        with pytest.raises(GlueHelpersError, match="search_min_rows"):
            search_rows(5749, 0.1, min_rows=bad)
    train = load_glue(get_task("cola"), kit.data_dir, splits=("train",))["train"]
    subset = search_subset(train, 0.25, seed=3, min_rows=0)
    assert len(subset) == 32 and sorted(set(subset["label"])) == [0, 1]  # stratified: both classes
    assert search_subset(train, 0.25, seed=3, min_rows=0)["idx"] == subset["idx"]  # seeded
    assert len(search_subset(train, 0.25, seed=3, min_rows=50)) == 50 and search_subset(train, 0.25) is train


def test_storage_urls_and_a_storage_that_cannot_be_opened(tmp_path):
    assert storage_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/optuna.db"
    assert storage_url(tmp_path / "s.db", ".") == f"sqlite:///{(tmp_path / 's.db').resolve()}"
    assert storage_url(tmp_path / "s.log", ".") == f"journal://{(tmp_path / 's.log').resolve()}"
    assert storage_url("postgresql://u:p@host/db", ".") == "postgresql://u:p@host/db"
    first = optuna.create_study(storage=open_storage(f"journal://{tmp_path}/j.log", "."), study_name="s")
    first.enqueue_trial({"x": 1})
    again = optuna.load_study(storage=open_storage(tmp_path / "j.log", "."), study_name="s")
    assert again._study_id == first._study_id and len(again.trials) == 1
    for bad in ("nosuchdialect://host/db", "sqlite:////proc/no/such/dir/x.db"):
        with pytest.raises(GlueHelpersError, match="Can't open the Optuna storage"):
            open_storage(bad, tmp_path)


def space(trial, lowest_rate=1e-5):
    """A two-parameter space for the study checks."""
    return {"learning_rate": trial.suggest_float("learning_rate", lowest_rate, 1e-4, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [16, 32])}


TAGS = {"task": "cola", "model": "tiny", "max_train_samples": None, "seed": 42}


def tagged_study(storage, direction="maximize") -> None:
    """A study of one completed trial of `space`, with TAGS stored as the notebook stores them."""
    study = optuna.create_study(storage=storage, study_name="s", direction=direction)
    for key, value in TAGS.items():
        study.set_user_attr(key, value)
    trial = study.ask()
    space(trial)
    study.tell(trial, 0.5)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask/tell, not optimize, on the heartbeat storage
def test_a_study_continues_only_as_the_same_search(tmp_path):
    storage = open_storage(None, tmp_path)
    check_study(storage, "s", TAGS, space)  # no such study yet: a new one
    with pytest.raises(GlueHelpersError, match="Study 's' has no completed trial yet"):
        check_study(storage, "s", TAGS, space, need_trials=True)
    tagged_study(storage)
    check_study(storage, "s", TAGS, space, need_trials=True)  # the same search: continued
    check_study(storage, "s", {**TAGS, "peft": None}, space)  # a fact an older study did not keep: accepted
    with pytest.raises(GlueHelpersError, match="model 'tiny' [(]now 'other'[)]; max_train_samples None [(]now 64"):
        check_study(storage, "s", {**TAGS, "model": "other", "max_train_samples": 64}, space)
    with pytest.raises(GlueHelpersError, match="the range of learning_rate, FloatDistribution"):
        check_study(storage, "s", TAGS, lambda trial: space(trial, lowest_rate=1e-6))  # a wider space
    tagged_study(open_storage(tmp_path / "min.log", "."), direction="minimize")
    with pytest.raises(GlueHelpersError, match="minimizes"):
        check_study(open_storage(tmp_path / "min.log", "."), "s", TAGS, space)


def test_the_budget_stops_the_study_and_says_how_to_get_more(capsys):
    stop = StopAtBudget(0.5, 32)
    assert stop.limit == 0.5 * 32 * Recipe.num_train_epochs == 80
    assert StopAtBudget(None, 32).limit == math.inf
    with pytest.raises(GlueHelpersError, match="search_budget must be a finite number"):
        StopAtBudget(float("nan"), 32)
    study = optuna.create_study(direction="maximize")

    def objective(trial):
        trial.set_user_attr("examples", 32)
        return 0.5

    study.optimize(objective, n_trials=10, callbacks=[stop])
    assert len(study.trials) == 3 and stop.spent(study) == 96 and stop.reached(study)
    printed = capsys.readouterr().out
    assert printed.count("Stopped at the search budget") == 1 and "--search-budget none" in printed


def test_a_search_space_of_your_own_is_asked_as_written_and_gets_what_it_can_hold_of_the_recipe():
    asked = notebook_space(search_space={"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True},
                                         "num_train_epochs": 2, "batch_size": [8, 16], "seed": {"low": 1, "high": 9}})
    dist = optuna.distributions
    assert asked == {"learning_rate": dist.FloatDistribution(1e-3, 1e-2, log=True),
                     "num_train_epochs": dist.CategoricalDistribution([2]),
                     "batch_size": dist.CategoricalDistribution([8, 16]), "seed": dist.IntDistribution(1, 9)}
    assert recipe_trial() == {"learning_rate": 2e-5, "num_train_epochs": 5, "batch_size": 16, "weight_decay": 0.01,
                              "warmup_ratio": 0.0}
    assert recipe_trial("lora") == {**recipe_trial(), "learning_rate": 5e-4, "lora_r": 8}
    assert recipe_in_space(recipe_trial(), space) == {"learning_rate": 2e-5, "batch_size": 16}

    def narrow(trial):  # a space of your own that leaves the recipe's epochs and batch size out
        return {"learning_rate": trial.suggest_float("learning_rate", 1e-6, 1e-3, log=True),
                "num_train_epochs": trial.suggest_categorical("num_train_epochs", [1]),
                "batch_size": trial.suggest_int("batch_size", 4, 8)}

    assert recipe_in_space(recipe_trial(), narrow) == {"learning_rate": 2e-5}  # Optuna would refuse a queued 5


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_whose_worker_died_is_failed_and_retried(tmp_path, monkeypatch):
    monkeypatch.setattr("glue_helpers.search.study.HEARTBEAT_S", 1)
    monkeypatch.setattr("glue_helpers.search.study.GRACE_S", 1)
    study = optuna.create_study(storage=open_storage(None, tmp_path), study_name="crash")
    dead = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-4, log=True)})
    study._storage.record_heartbeat(dead._trial_id)  # its worker beat once, then was killed
    time.sleep(2.5)
    study = optuna.load_study(storage=open_storage(None, tmp_path), study_name="crash")
    study.optimize(lambda t: t.suggest_float("learning_rate", 1e-5, 1e-4, log=True), n_trials=1)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert study.trials[1].params == dead.params  # the retry re-ran the dead trial's parameters


@pytest.mark.slow
def test_search_runs_notebook_02_and_rechecks_the_best_with_runs_of_notebook_01(kit, tmp_path, capsys):
    out = tmp_path / "X"
    assert main(["search", "--smoke", "--task", "mrpc", "--max-eval-samples", "24", "--output-dir", str(out),
                 "--worker", "0", "--recheck-top", "1", "--recheck-seeds", "2", "--search-budget", "none",
                 "--n-trials", "3", "--retrain", "--report-to", "tensorboard"]) == 0
    printed = capsys.readouterr().out
    [executed] = out.glob("02_hyperparameter_search.*.worker-0.ipynb")  # notebook 02's executed copy, left here
    assert executed.with_suffix(".log").is_file() and f"executed notebook: {executed}" in printed
    study = optuna.load_study(study_name="glue-mrpc", storage=open_storage(None, out))
    assert len(study.trials) == 3 and all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    assert study.trials[0].user_attrs["recipe"] and study.trials[0].params == recipe_trial()  # trial 0: the recipe
    runs = sorted(p.name for p in (out / "tracking" / "tensorboard").iterdir())  # --report-to: one run per trial
    assert runs == [f"mrpc-tiny-bert-trial-{n}" for n in range(3)]
    recheck = out / "recheck" / "glue-mrpc"
    candidates = sorted(p.name for p in recheck.iterdir() if p.is_dir())
    assert len(candidates) == 2 and candidates[0] == "recipe" and candidates[1].startswith("trial-")
    trial = study.trials[int(candidates[1].removeprefix("trial-"))]
    for name in candidates:
        for seed in (42, 43):
            run = recheck / name / "mrpc" / f"seed-{seed}"
            assert (run / "01_text_classification.ipynb").is_file() and not (run / "leaderboard").exists()
            metrics = json.loads((run / "metrics.json").read_text())
            assert metrics["seed"] == seed and metrics["train_rows"] == 128  # the whole (kit) training set
            assert metrics["learning_rate"] == (2e-5 if name == "recipe" else trial.params["learning_rate"])
    losses = {json.loads((recheck / "recipe" / "mrpc" / f"seed-{s}" / "metrics.json").read_text())["metrics"]["loss"]
              for s in (42, 43)}
    assert len(losses) == 2  # another seed, other weights
    comparison = (recheck / "comparison.csv").read_text().splitlines()
    assert len(comparison) == 2 and candidates[1] in comparison[1] and "verdict" in comparison[0]
    best = json.loads((out / "best-model" / "metrics.json").read_text())
    winner = best["recheck_winner"]
    assert winner in candidates and best["study_name"] == "glue-mrpc"
    winners_run = json.loads((recheck / winner / "mrpc" / "seed-42" / "metrics.json").read_text())
    assert best["primary_metric_value"] == winners_run["primary_metric_value"]
    assert (out / "best-model" / "config.json").is_file() and (out / "best-model" / "README.md").is_file()
    assert "winner: " in printed and "best-model: " in printed
    # Run again (or killed and rerun), the re-check keeps its finished runs: the same batch skips them all.
    stamps = {p: p.stat().st_mtime_ns for p in recheck.glob("*/mrpc/seed-*/metrics.json")}
    parameters = json.loads((recheck / "recipe" / "batch.json").read_text())["parameters"]
    report = run_notebook_01(recheck / "recipe", get_task("mrpc"), [42, 43], parameters, progress=False)
    assert report.skipped == ["mrpc/seed-42", "mrpc/seed-43"] and not report.statuses
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_storage_that_cannot_be_written_is_refused_before_any_trial(tmp_path, monkeypatch):
    """A read-only optuna.db would fail Optuna's first trial; os.access says read-only (root writes anyway)."""
    optuna.create_study(storage=open_storage(None, tmp_path), study_name="s")
    monkeypatch.setattr("glue_helpers.search.study.os.access", lambda path, mode: False)
    for storage in (None, tmp_path / "study.log"):
        with pytest.raises(GlueHelpersError, match="can't be written here .*storage="):
            open_storage(storage, tmp_path)
