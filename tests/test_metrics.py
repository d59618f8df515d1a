"""Metrics: GLUE's definitions, the Trainer hook, and the local `evaluate` module."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from glue_helpers.metrics import TaskMetric, glue_metric, load_glue_metric, logits_to_predictions, make_compute_metrics
from glue_helpers.tasks import get_task

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, 50)
PREDS = np.where(RNG.random(50) < 0.7, LABELS, 1 - LABELS)


@pytest.mark.parametrize("task, expected", [
    ("cola", {"matthews_correlation": matthews_corrcoef(LABELS, PREDS)}),
    ("mrpc", {"accuracy": (PREDS == LABELS).mean(), "f1": f1_score(LABELS, PREDS)}),
    *[(task, {"accuracy": (PREDS == LABELS).mean()}) for task in ("sst2", "qnli", "rte", "wnli", "mnli", "mnli-mm")]])
def test_classification_metrics_follow_glue(task, expected):
    assert glue_metric(get_task(task), PREDS, LABELS) == pytest.approx(expected)


def test_stsb_is_pearson_and_spearman_and_compute_metrics_takes_argmax_or_squeezes_regression_outputs():
    gold = RNG.uniform(0, 5, 40)
    pred = gold + RNG.normal(0, 1, 40)
    assert glue_metric(get_task("stsb"), pred, gold) == pytest.approx(
        {"pearson": pearsonr(pred, gold)[0], "spearmanr": spearmanr(pred, gold)[0]})
    logits = np.array([[2.0, -1.0], [0.0, 3.0], [1.0, 0.5]])
    assert make_compute_metrics(get_task("sst2"))((logits, np.array([0, 1, 1]))) == {"accuracy": pytest.approx(2 / 3)}
    logits, gold = np.array([[0.5], [2.0], [4.5], [3.0]]), np.array([0.0, 2.5, 5.0, 2.0])
    out = make_compute_metrics(get_task("stsb"))((logits, gold))
    assert set(out) == {"pearson", "spearmanr"} and out["pearson"] == pytest.approx(pearsonr(logits[:, 0], gold)[0])
    assert logits_to_predictions(get_task("stsb"), logits).shape == (4,)


def test_local_evaluate_module_and_task_metric_match_glue_metric_and_need_no_hub():
    mrpc = get_task("mrpc")
    local = load_glue_metric(mrpc).compute(predictions=PREDS, references=LABELS)
    assert local == pytest.approx(glue_metric(mrpc, PREDS, LABELS))
    assert TaskMetric(mrpc).compute(predictions=PREDS, references=LABELS) == local  # evaluate's interface
