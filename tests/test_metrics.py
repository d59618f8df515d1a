"""Metrics: GLUE's definitions, the Trainer hook, and the local `evaluate` module."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from glue_helpers.metrics import (
    TaskMetric,
    glue_metric,
    load_glue_metric,
    logits_to_predictions,
    make_compute_metrics,
)
from glue_helpers.tasks import get_task

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, 50)
PREDS = np.where(RNG.random(50) < 0.7, LABELS, 1 - LABELS)


def test_cola_is_matthews():
    assert glue_metric(get_task("cola"), PREDS, LABELS) == {
        "matthews_correlation": pytest.approx(matthews_corrcoef(LABELS, PREDS))}


def test_mrpc_is_accuracy_and_f1():
    out = glue_metric(get_task("mrpc"), PREDS, LABELS)
    assert out["accuracy"] == pytest.approx((PREDS == LABELS).mean())
    assert out["f1"] == pytest.approx(f1_score(LABELS, PREDS))


def test_stsb_is_pearson_and_spearman():
    gold = RNG.uniform(0, 5, 40)
    pred = gold + RNG.normal(0, 1, 40)
    out = glue_metric(get_task("stsb"), pred, gold)
    assert out["pearson"] == pytest.approx(pearsonr(pred, gold)[0])
    assert out["spearmanr"] == pytest.approx(spearmanr(pred, gold)[0])


def test_other_tasks_are_accuracy_only():
    for task in ("sst2", "qnli", "rte", "wnli", "mnli", "mnli-mm"):
        assert set(glue_metric(get_task(task), PREDS, LABELS)) == {"accuracy"}


def test_task_metric_has_evaluates_interface_and_the_same_values():
    mrpc = get_task("mrpc")
    assert TaskMetric(mrpc).compute(predictions=PREDS, references=LABELS) == load_glue_metric(mrpc).compute(
        predictions=PREDS, references=LABELS)


def test_compute_metrics_takes_argmax_for_classes():
    logits = np.array([[2.0, -1.0], [0.0, 3.0], [1.0, 0.5]])
    out = make_compute_metrics(get_task("sst2"))((logits, np.array([0, 1, 1])))
    assert out == {"accuracy": pytest.approx(2 / 3)}


def test_compute_metrics_squeezes_regression_outputs():
    logits = np.array([[0.5], [2.0], [4.5], [3.0]])
    gold = np.array([0.0, 2.5, 5.0, 2.0])
    out = make_compute_metrics(get_task("stsb"))((logits, gold))
    assert out["pearson"] == pytest.approx(pearsonr(logits[:, 0], gold)[0])
    assert set(out) == {"pearson", "spearmanr"}
    assert logits_to_predictions(get_task("stsb"), logits).shape == (4,)


def test_local_evaluate_module_matches_and_needs_no_hub():
    metric = load_glue_metric(get_task("mrpc"))
    expected = glue_metric(get_task("mrpc"), PREDS, LABELS)
    assert metric.compute(predictions=PREDS, references=LABELS) == pytest.approx(expected)
