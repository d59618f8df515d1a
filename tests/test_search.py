"""The search on the kit's tiny model: best-epoch objective, real pruning, resume, and the retrain."""

from __future__ import annotations

import ast
import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from transformers import TrainerCallback

from glue_helpers.search.objective import EpochReport, epoch_score, optuna_report, search_subset
from glue_helpers.search.pipeline import prepare_data, run_search
from glue_helpers.search.retrain import best_params, retrain_best
from glue_helpers.search.study import finished_trials, open_study, run_trials, trials_table, trials_to_run
from glue_helpers.tasks import get_task

# Small and fast: 2 epochs, batch 8, on 16 of the kit's 32 capped training rows.
SPACE = {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}, "num_train_epochs": 2, "batch_size": 8,
         "weight_decay": {"low": 0.0, "high": 0.1}, "warmup_ratio": {"low": 0.0, "high": 0.2},
         "seed": {"low": 1, "high": 9}}
# No minimum subset size and no budget: these tests count trials and steps on 16 rows.
SMALL = dict(search_fraction=0.5, search_min_rows=0, search_budget=None, max_train_samples=32, max_eval_samples=16,
             search_space=SPACE)


class PruneAfterFirstEpoch(optuna.pruners.BasePruner):
    """A pruner that must prune: every trial stops after its first report."""

    def prune(self, study, trial) -> bool:
        return trial.last_step is not None and trial.last_step >= 1


def search(kit, tmp_path, **kwargs):
    """A small search on the kit, storage and outputs under tmp_path."""
    args = {**SMALL, "n_trials": 2, "output_dir": tmp_path / "out", "pruner": "none", **kwargs}
    return run_search(get_task("cola"), str(kit.model_dir), data_dir=kit.data_dir, **args)


@pytest.fixture(scope="module")
def first_run(kit, tmp_path_factory):
    """Two complete trials, shared by the tests below (the resume test appends two more to the same study)."""
    return search(kit, tmp_path_factory.mktemp("search"), n_trials=2, study_name="shared")


def snapshot(trial: optuna.trial.FrozenTrial) -> tuple:
    """What must not change about a finished trial."""
    return trial.number, trial.state, trial.value, trial.params, trial.intermediate_values, trial.datetime_complete


def median_study(scores: dict) -> optuna.Study:
    """A study with a median pruner and one finished trial (value 0.8, these epoch scores)."""
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    study.add_trial(optuna.trial.create_trial(value=0.8, intermediate_values=scores))
    return study


def evaluate(callback, scores, epochs=3, metric="accuracy"):
    """Feed the callback one evaluation per score (until it stops training); returns the Trainer's control."""
    control = SimpleNamespace(should_training_stop=False)
    for epoch, value in enumerate(scores, start=1):
        if not control.should_training_stop:
            callback.on_evaluate(SimpleNamespace(num_train_epochs=epochs), SimpleNamespace(epoch=float(epoch)),
                                 control, metrics={f"eval_{metric}": value})
    return control


def test_callback_reports_per_epoch_and_keeps_the_best_epoch():
    trial = optuna.create_study(direction="maximize").ask()
    callback = EpochReport("accuracy", optuna_report(trial))
    assert not evaluate(callback, [0.5, 0.8, 0.6]).should_training_stop
    assert callback.best() == (2, 0.8)
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {1: 0.5, 2: 0.8, 3: 0.6}


def test_a_trial_at_its_last_epoch_finishes_instead_of_being_pruned():
    study = median_study({1: 0.8, 2: 0.9})
    for epochs, pruned in ((1, False), (2, True)):
        callback = EpochReport("accuracy", optuna_report(study.ask()))
        control = evaluate(callback, [0.1], epochs)
        assert callback.pruned == control.should_training_stop == pruned, epochs


def test_a_collapsed_epoch_scores_zero_and_can_be_pruned():
    """Constant predictions give Pearson NaN, reported as 0 so the pruner sees it (else it trains on, then fails)."""
    trial = median_study({1: 0.8}).ask()
    callback = EpochReport("pearson", optuna_report(trial))
    control = evaluate(callback, [float("nan")], metric="pearson")
    assert epoch_score(float("nan")) == 0.0 and epoch_score(0.25) == 0.25
    assert callback.best() == (1, 0.0) and trial.storage.get_trial(trial._trial_id).intermediate_values == {1: 0.0}
    assert callback.pruned and control.should_training_stop


NOTEBOOK_02 = Path(__file__).resolve().parents[1] / "notebooks" / "02_hyperparameter_search.py"


def notebook_callback():
    """Notebook 02's written-out ReportEachEpoch, compiled from its source (task: STS-B's metric)."""
    source = NOTEBOOK_02.read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "ReportEachEpoch")
    namespace = {"TrainerCallback": TrainerCallback, "math": math, "task": SimpleNamespace(primary_metric="pearson")}
    exec(compile(ast.get_source_segment(source, node), str(NOTEBOOK_02), "exec"), namespace)
    return namespace["ReportEachEpoch"]


PRUNERS = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=1),
           "asha": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)}


@pytest.mark.parametrize("pruner", PRUNERS)
@pytest.mark.parametrize(("scores", "epochs"), [([0.5, float("nan"), 0.7, 0.1], 4), ([0.95, 0.2, 0.97], 3)])
def test_notebook_02s_callback_does_what_the_packages_does(pruner, scores, epochs):
    """The lesson's callback must report, score NaN, prune and leave the pruner's records (ASHA's rungs) as ours."""
    seen = []
    for make in (lambda trial: notebook_callback()(trial), lambda trial: EpochReport("pearson", optuna_report(trial))):
        study = optuna.create_study(direction="maximize", pruner=PRUNERS[pruner]())
        study.add_trial(optuna.trial.create_trial(value=0.9, intermediate_values={1: 0.4, 2: 0.6, 3: 0.8, 4: 0.9}))
        trial = study.ask()
        callback = make(trial)
        evaluate(callback, scores, epochs, "pearson")
        history = getattr(callback, "scores", None) or callback.history
        stored = trial.storage.get_trial(trial._trial_id)
        seen.append((history, callback.pruned, stored.intermediate_values, stored.system_attrs))
    assert seen[0] == seen[1]
    if epochs == 4 and pruner == "median":
        assert seen[1][0] == {1: 0.5, 2: 0.0} and seen[1][1]  # NaN scored 0, then pruned below the median
    if epochs == 3:  # promoted at epoch 1, finished at 3: no rung score recorded at the last epoch
        assert not seen[1][1] and len(seen[1][0]) == 3


def test_search_subset_is_seeded_stratified_and_sized(kit):
    data = prepare_data(get_task("cola"), str(kit.model_dir), kit.data_dir, search_fraction=0.25, search_min_rows=0,
                        seed=3)
    assert len(data.search_train) == 32 and len(data.train) == 128
    assert sorted(set(data.search_train["label"])) == [0, 1]
    again = search_subset(data.train, 0.25, seed=3, min_rows=0)
    assert again["input_ids"] == data.search_train["input_ids"]
    assert search_subset(data.train, 1.0) is data.train
    assert len(search_subset(data.train, 0.25, seed=3, min_rows=50)) == 50  # the floor wins over the fraction
    assert search_subset(data.train, 0.25, seed=3) is data.train  # 128 rows: fewer than the default floor


def test_objective_is_the_best_epoch_reported_per_epoch(first_run):
    study = first_run.study
    for trial in study.trials[:2]:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == [1, 2]  # step = epoch, comparable across batch sizes
        assert trial.value == max(trial.intermediate_values.values())
        assert trial.user_attrs["best_epoch"] in (1, 2) and trial.user_attrs["global_step"] == 4
    table = trials_table(study)
    assert list(table.index[:2]) == [0, 1] and {"learning_rate", "best_epoch", "state", "worker"} <= set(table.columns)


def test_resume_continues_the_same_study(kit, first_run):
    first = first_run.study
    before = [snapshot(t) for t in first.trials[:2]]
    out = first_run.output_dir
    second = search(kit, out.parent, output_dir=out, n_trials=2, study_name="shared").study
    assert second._study_id == first._study_id
    assert len(second.trials) == 4 and len(finished_trials(second)) == 4
    assert [snapshot(t) for t in second.trials[:2]] == before
    assert second.trials[2].params != second.trials[0].params  # resumed sampler doesn't replay the start


def test_pruning_stops_trials_early_and_marks_them_pruned(kit, tmp_path):
    space = {**SPACE, "num_train_epochs": 3}
    study = search(kit, tmp_path, n_trials=2, pruner=PruneAfterFirstEpoch(), search_space=space).study
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    for trial in study.trials:
        assert list(trial.intermediate_values) == [1]
        assert trial.user_attrs["global_step"] == 2  # one epoch of 16 rows at batch 8, not the three planned


def test_median_pruner_prunes_a_trial_below_the_median(tmp_path):
    study = open_study(get_task("cola"), storage=tmp_path / "j.log", pruner="median")
    for value in (0.5, 0.6):
        trial = study.ask()
        trial.report(value, 1)
        study.tell(trial, value)
    trial = study.ask()
    trial.report(0.1, 1)
    assert trial.should_prune()


@pytest.mark.slow
def test_retrain_uses_the_best_trial_values_and_writes_metrics(kit, first_run, tmp_path):
    run, study = first_run, first_run.study
    trainer, record = retrain_best(study, run.task, model_init=run.model_init, compute_metrics=run.compute_metrics,
                                   train_dataset=run.data.train, eval_dataset=run.data.eval,
                                   data_collator=run.data.data_collator, tokenizer=run.data.tokenizer,
                                   output_dir=tmp_path / "out", model_name=str(kit.model_dir))
    best, args = study.best_params, trainer.args
    assert best == {"learning_rate": args.learning_rate, "num_train_epochs": args.num_train_epochs, "seed": args.seed,
                    "batch_size": args.per_device_train_batch_size, "weight_decay": args.weight_decay,
                    "warmup_ratio": args.warmup_steps}
    assert args.load_best_model_at_end and args.metric_for_best_model == "matthews_correlation"
    assert trainer.state.global_step == 2 * math.ceil(32 / 8)  # the full (capped) training set, not the subset
    saved = tmp_path / "out" / "best-model"
    on_disk = json.loads((saved / "metrics.json").read_text())
    assert (saved / "config.json").is_file() and (saved / "tokenizer.json").is_file()
    assert (on_disk["task"], on_disk["best_params"], on_disk["best_trial"]) == ("cola", best, study.best_trial.number)
    assert on_disk["primary_metric"] == "matthews_correlation" and on_disk["train_rows"] == 32
    assert on_disk["primary_metric_value"] == record["metrics"]["matthews_correlation"]
    assert on_disk["train_samples_per_second"] > 0 and "optuna" in on_disk["versions"]


def test_retrain_needs_a_completed_trial(tmp_path):
    study = open_study(get_task("cola"), output_dir=tmp_path)
    with pytest.raises(Exception, match="no completed trial yet [(]no trials[)]"):
        best_params(study)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, intermediate_values={1: 0.1}))
    with pytest.raises(Exception, match="no completed trial yet [(]1 failed, 1 pruned[)]"):
        best_params(study)


def test_an_interrupted_search_keeps_its_trials_and_the_rerun_fills_the_gap(tmp_path):
    calls = []

    def objective(trial):
        x = trial.suggest_float("learning_rate", 1e-5, 1e-4, log=True)
        calls.append(x)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user stops the kernel during the third trial
        return x

    study = open_study(get_task("cola"), storage=tmp_path / "s.log", study_name="stop")
    with pytest.raises(KeyboardInterrupt):
        run_trials(study, objective, trials_to_run(study, 4))
    study = open_study(get_task("cola"), storage=tmp_path / "s.log", study_name="stop")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert trials_to_run(study, 4) == 2
    run_trials(study, objective, trials_to_run(study, 4))
    assert len(finished_trials(study)) == 4 and trials_to_run(study, 4) == 0


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_whose_worker_died_is_failed_and_retried(tmp_path, monkeypatch):
    monkeypatch.setattr("glue_helpers.search.study.HEARTBEAT_S", 1)
    monkeypatch.setattr("glue_helpers.search.study.GRACE_S", 1)
    study = open_study(get_task("cola"), output_dir=tmp_path, study_name="crash")
    dead = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-4, log=True)})
    study._storage.record_heartbeat(dead._trial_id)  # its worker beat once, then was killed
    time.sleep(2.5)
    study = open_study(get_task("cola"), output_dir=tmp_path, study_name="crash")
    study.optimize(lambda t: t.suggest_float("learning_rate", 1e-5, 1e-4, log=True), n_trials=1)
    states = [t.state.name for t in study.trials]
    assert states[0] == "FAIL" and states[1] == "COMPLETE"
    assert study.trials[1].params == dead.params  # the retry re-ran the dead trial's parameters
