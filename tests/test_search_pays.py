"""A search that can only add to the recipe (issue 16), on the offline kit: the recipe is trial 0 (once), the subset
rule, the budget, and the re-check of the best trials on the full training set with several seeds."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from glue_helpers.cli import main
from glue_helpers.errors import GlueHelpersError
from glue_helpers.search.objective import search_rows
from glue_helpers.search.pipeline import recheck_search, run_search
from glue_helpers.search.recheck import RECHECK, recheck_candidates, recheck_seeds, recheck_summary, verdict
from glue_helpers.search.space import default_search_space, recipe_params, recipe_values
from glue_helpers.search.study import enqueue_recipe, examples_seen, has_recipe_trial, open_study, trials_to_run
from glue_helpers.tasks import get_task

# GLUE's training-set sizes, and the rows a trial trains on with the defaults (documented in search_rows, the
# recipe module and notebook 02).
TRAIN_ROWS = {"wnli": 635, "rte": 2490, "mrpc": 3668, "stsb": 5749, "cola": 8551, "sst2": 67349, "qnli": 104743,
              "qqp": 363846, "mnli": 392702}
SEARCH_ROWS = {"wnli": 635, "rte": 2490, "mrpc": 2500, "stsb": 2500, "cola": 2500, "sst2": 6735, "qnli": 10474,
               "qqp": 36385, "mnli": 39270}
# Tiny and fast: 2 epochs, batch 8, no minimum subset size (16 of the 32 capped rows per trial).
SPACE = {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}, "num_train_epochs": 2, "batch_size": 8,
         "weight_decay": {"low": 0.0, "high": 0.1}, "warmup_ratio": {"low": 0.0, "high": 0.2}}
SMALL = dict(max_train_samples=32, max_eval_samples=16, search_fraction=0.5, search_min_rows=0, pruner="none")


def search(kit, tmp_path, task="cola", **kwargs):
    """A small search on the kit's CoLA (or `task`)."""
    args = {**SMALL, "search_space": SPACE, "search_budget": None, "output_dir": tmp_path / "out", **kwargs}
    return run_search(get_task(task), str(kit.model_dir), data_dir=kit.data_dir, **args)


def test_the_subset_rule_picks_the_documented_sizes():
    assert {task: search_rows(rows) for task, rows in TRAIN_ROWS.items()} == SEARCH_ROWS
    assert search_rows(5749, 0.1, min_rows=0) == 575 and search_rows(5749, 1.0) == 5749
    for bad in (-1, 2.5, True):
        with pytest.raises(GlueHelpersError, match="search_min_rows"):
            search_rows(5749, 0.1, min_rows=bad)


def test_the_default_spaces_hold_the_whole_recipe():
    for peft in (None, "lora"):
        assert recipe_params(default_search_space(peft), peft) == recipe_values(peft)
    assert recipe_values()["learning_rate"] == 2e-5 and recipe_values("lora")["lora_r"] == 8
    # The tiny smoke model's learning rates exclude 2e-5: those parameters are drawn, the rest fixed.
    assert recipe_params(default_search_space(smoke=True)) == {"batch_size": 16, "weight_decay": 0.01,
                                                                "warmup_ratio": 0.0}


def test_the_recipe_is_trial_0_of_a_new_study(kit, tmp_path):
    study = search(kit, tmp_path, n_trials=2, search_space=default_search_space()).study
    first, second = study.trials
    assert first.number == 0 and first.user_attrs["recipe"] is True and first.params == recipe_values()
    assert first.state == optuna.trial.TrialState.COMPLETE and first.user_attrs["examples"] == 5 * 16
    assert not second.user_attrs.get("recipe") and second.params != first.params


@pytest.mark.slow
def test_a_continued_study_does_not_enqueue_the_recipe_twice(kit, tmp_path):
    search(kit, tmp_path, n_trials=2, study_name="again")
    study = search(kit, tmp_path, n_trials=2, study_name="again").study
    assert len(study.trials) == 4
    assert [bool(t.user_attrs.get("recipe")) for t in study.trials] == [True, False, False, False]
    assert study.trials[0].params["weight_decay"] == 0.01 and study.trials[0].params["warmup_ratio"] == 0.0


def test_a_failed_recipe_trial_is_queued_again(tmp_path):
    study = open_study(get_task("cola"), storage=tmp_path / "s.log")
    assert enqueue_recipe(study, {"learning_rate": 2e-5}) and not enqueue_recipe(study, {"learning_rate": 2e-5})
    with pytest.raises(KeyboardInterrupt):  # the user stops the kernel during the recipe
        study.optimize(lambda trial: (_ for _ in ()).throw(KeyboardInterrupt), n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL and not has_recipe_trial(study)
    assert enqueue_recipe(study, {"learning_rate": 2e-5})
    assert not enqueue_recipe(study, {})  # a space that holds none of the recipe: nothing to enqueue


@pytest.mark.slow
def test_the_budget_stops_the_search_and_a_rerun_runs_no_trial(kit, tmp_path):
    # Budget 0.5 recipe runs = 0.5 x 32 rows x 5 epochs = 80 examples; each trial sees 16 rows x 2 epochs = 32.
    run = search(kit, tmp_path, n_trials=10, search_budget=0.5, study_name="budget")
    study = run.study
    assert run.budget == 80 and len(study.trials) == 3 and examples_seen(study) == 96
    assert trials_to_run(study, 10, run.budget) == 0
    assert len(search(kit, tmp_path, n_trials=10, search_budget=0.5, study_name="budget").study.trials) == 3
    assert len(search(kit, tmp_path, n_trials=1, search_budget=1.0, study_name="budget").study.trials) == 4


@pytest.fixture(scope="module")
def rechecked(kit, tmp_path_factory):
    """A 4-trial search on MRPC (where the tiny model learns), then the recipe and the 2 best trials re-checked with
    seeds 7 and 8."""
    run = search(kit, tmp_path_factory.mktemp("recheck"), task="mrpc", n_trials=4, study_name="recheck")
    table, record = recheck_search(run, top_k=2, n_seeds=2, seed=7)
    return run, table, record


@pytest.mark.slow
def test_the_recheck_trains_the_recipe_and_the_top_k_on_n_seeds(rechecked):
    run, table, record = rechecked
    done = [t for t in run.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    # (SPACE can't hold the recipe's learning rate or epochs, so trial 0 is a candidate like the others)
    best = [f"trial-{t.number}" for t in sorted(done, key=lambda t: t.value, reverse=True)[:2]]
    assert list(table.index) == ["recipe", *best]
    folder = run.output_dir / RECHECK
    for name in table.index:
        scores = []
        for seed in (7, 8):
            metrics = json.loads((folder / name / f"seed-{seed}" / "metrics.json").read_text())
            assert metrics["seed"] == seed and metrics["train_rows"] == 32  # the full (capped) set, not the subset
            assert (folder / name / f"seed-{seed}" / "validation_predictions.jsonl").is_file()
            scores.append(metrics["primary_metric_value"])
        assert table.loc[name, "median"] == pytest.approx(np.median(scores))
        assert (folder / name / "seed-7" / "model" / "config.json").is_file()  # the first seed's model is kept
        assert not (folder / name / "seed-8" / "model").exists()
    recipe = json.loads((folder / "recipe" / "seed-7" / "metrics.json").read_text())
    assert (recipe["learning_rate"], recipe["num_train_epochs"], recipe["batch_size"]) == (2e-5, 5, 16)
    trial = run.study.trials[int(best[0].removeprefix("trial-"))]
    assert json.loads((folder / best[0] / "seed-8" / "metrics.json").read_text())["params"] == trial.params
    assert table.loc["recipe", "diff"] == 0 and {"ci_low", "ci_high", "pair_diff_min"} <= set(table.columns)


def test_the_recheck_winner_is_saved_and_a_rerun_trains_only_what_is_missing(rechecked):
    run, table, record = rechecked
    winner = table.attrs["winner"]
    assert winner == table["median"].idxmax() and record["recheck_winner"] == winner
    saved = run.output_dir / "best-model"
    assert (saved / "config.json").is_file() and (saved / "README.md").is_file()
    on_disk = json.loads((saved / "metrics.json").read_text())
    run_record = json.loads((run.output_dir / RECHECK / winner / "seed-7" / "metrics.json").read_text())
    assert on_disk["primary_metric_value"] == run_record["primary_metric_value"]
    assert on_disk["recheck"] == verdict(table) and json.loads(
        (run.output_dir / RECHECK / "recheck.json").read_text())["winner"] == winner

    runs = sorted((run.output_dir / RECHECK).glob("*/seed-*/metrics.json"))
    killed = runs[-1]  # as if killed before its metrics.json: the predictions are there, the record is not
    killed.unlink()
    stamps = {path: path.stat().st_mtime_ns for path in runs if path != killed}
    again, _ = recheck_search(run, top_k=2, n_seeds=2, seed=7)
    assert killed.is_file() and {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert list(again.index) == list(table.index)


def fake_run(folder, labels, predictions, seed):
    """A run folder as `compare` reads it: metrics.json and the validation predictions of an STS-B run."""
    folder.mkdir(parents=True)
    pairs = enumerate(zip(labels, predictions, strict=True))
    rows = [{"idx": i, "label": float(y), "prediction": float(p)} for i, (y, p) in pairs]
    (folder / "validation_predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    value = float(np.corrcoef(labels, predictions)[0, 1])
    (folder / "metrics.json").write_text(json.dumps({"task": "stsb", "primary_metric": "pearson", "seed": seed,
                                                     "primary_metric_value": value}))


@pytest.mark.parametrize("case, winner, beats", [("strong", "trial-1", True), ("slight", "trial-1", True),
                                                 ("mixed", "trial-1", False), ("worse", "recipe", False)])
def test_a_winner_beats_the_recipe_by_the_one_rule(tmp_path, case, winner, beats):
    """stats.verdict: better on every seed and a paired interval above zero; small gains count, mixed ones don't."""
    rng = np.random.default_rng(0)
    labels = rng.normal(size=300)
    seeds = [1, 2, 3]
    for seed in seeds:
        recipe = labels + np.random.default_rng(seed).normal(scale=1.0, size=300)
        other = {"strong": labels + np.random.default_rng(seed + 10).normal(scale=0.3, size=300),
                 "slight": 0.98 * recipe + 0.02 * labels,  # better on every seed, by far less than the spread
                 "mixed": labels + np.random.default_rng(seed + 10).normal(scale=1.5 if seed == 3 else 0.6, size=300),
                 "worse": labels + np.random.default_rng(seed + 10).normal(scale=2.0, size=300)}[case]
        fake_run(tmp_path / "recipe" / f"seed-{seed}", labels, recipe, seed)
        fake_run(tmp_path / "trial-1" / f"seed-{seed}", labels, other, seed)
    table = recheck_summary(optuna.create_study(direction="maximize"), get_task("stsb"),
                            {"recipe": {}, "trial-1": {"learning_rate": 5e-5}}, seeds, tmp_path)
    assert table.attrs["winner"] == winner and table.attrs["beats_recipe"] is beats
    row = table.loc["trial-1"]
    if case == "slight":
        assert row["pair_diff_min"] > 0 and row["ci_low"] > 0 and row["diff"] < table.attrs["recipe_spread"]
    if case in ("strong", "slight"):
        assert row["verdict"] == "beats the recipe" and "so it beats the recipe" in verdict(table)
        assert table.loc["recipe", "verdict"] == "(the reference)"
    if case == "mixed":
        assert row["pair_diff_min"] < 0 < row["pair_diff_max"] and "tie with the recipe" in verdict(table)
    if case == "worse":
        assert "recipe is kept" in verdict(table)


def test_the_candidates_skip_the_recipe_trial_and_unfinished_ones():
    study = optuna.create_study(direction="maximize")
    recipe = {"learning_rate": 2e-5}
    dist = {"learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-4, log=True)}
    for value, lr, attrs in ((0.9, 2e-5, {"recipe": True}), (0.5, 3e-5, {}), (0.7, 4e-5, {}), (None, 5e-5, {})):
        state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.PRUNED
        study.add_trial(optuna.trial.create_trial(state=state, value=value, params={"learning_rate": lr},
                                                  distributions=dist, user_attrs=attrs))
    assert recheck_candidates(study, recipe, top_k=2) == {"recipe": recipe, "trial-2": {"learning_rate": 4e-5},
                                                          "trial-1": {"learning_rate": 3e-5}}
    with pytest.raises(GlueHelpersError, match="recheck_seeds"):
        recheck_seeds(1)


@pytest.mark.slow
def test_search_command_rechecks_and_refuses_bad_recheck_values(kit, tmp_path, capsys):
    base = ["search", "--smoke", "--task", "mrpc", "--max-eval-samples", "16", "--output-dir", str(tmp_path)]
    with pytest.raises(SystemExit):
        main([*base, "--search-budget", "lots"])
    assert main([*base, "--n-trials", "3", "--retrain", "--recheck-top", "1", "--recheck-seeds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "re-check 1/" in printed and "over 2 seeds (42, 43)" in printed
    record = json.loads((tmp_path / "best-model" / "metrics.json").read_text())
    assert record["recheck_winner"] in json.loads((tmp_path / RECHECK / "recheck.json").read_text())["scores"]
