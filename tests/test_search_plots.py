"""Optuna's plots of a study, guarded for studies too small to explain anything."""

from __future__ import annotations

import optuna

from glue_helpers.search.plots import importances_possible


def fake_study(values: list[float], pruned: int = 0) -> optuna.Study:
    """A study whose trials report per-epoch values; the last `pruned` trials stop after epoch 1."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("primary_metric", "accuracy")
    for i, value in enumerate(values):
        trial = study.ask()
        trial.suggest_float("learning_rate", 1e-5, 1e-4, log=True)
        trial.suggest_int("num_train_epochs", 1, 3)
        trial.report(value / 2, 1)
        if i >= len(values) - pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            trial.report(value, 2)
            study.tell(trial, value)
    return study


def test_importances_only_for_two_different_completed_scores():
    assert importances_possible(fake_study([0.5, 0.7, 0.6, 0.2], pruned=1)) is None
    assert "at least 2 completed" in importances_possible(fake_study([0.5, 0.1], pruned=1))
    assert "scored the same" in importances_possible(fake_study([0.0, 0.0, 0.0]))
