"""glue_helpers.stats: baselines, degenerate runs, bootstrap intervals against a hand computation, McNemar."""

import time
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest, pearsonr
from sklearn.metrics import matthews_corrcoef

from glue_helpers import stats
from glue_helpers.errors import GlueHelpersError
from glue_helpers.tasks import get_task


def noisy_classes(n, k, accuracy, seed):
    """Labels in 0..k-1 and predictions right about `accuracy` of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    return labels, np.where(rng.random(n) < accuracy, labels, rng.integers(0, k, n))


def noisy_scores(n, noise, seed):
    rng = np.random.default_rng(seed)
    labels = rng.uniform(0, 5, n)
    return labels, labels + rng.normal(0, noise, n)


@pytest.mark.parametrize("metric, k", [("accuracy", 3), ("matthews_correlation", 2), ("matthews_correlation", 3),
                                       ("f1", 2), ("f1_macro", 4), ("pearson", 0), ("spearmanr", 0)])
def test_every_resample_scores_as_sklearn_and_scipy_score_it(metric, k):
    """The vectorised bootstrap against GLUE's metric functions called on each resample (constant ones included)."""
    labels, preds = noisy_classes(30, k, 0.7, 11) if k else noisy_scores(30, 1.0, 11)
    preds = np.round(preds) if not k else preds  # ties, for spearman's ranks
    for truth, guess in ((labels, preds), (labels, np.zeros_like(preds))):
        idx = stats.resample_indices(30, 300, seed=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hand = [stats.METRICS[metric](guess[row], truth[row]) for row in idx]
        assert np.allclose(stats.resampled_metric(metric, truth, guess, idx), hand, atol=1e-12, equal_nan=True)


def test_bootstrap_ci_is_the_seeded_percentile_interval_of_the_hand_computation():
    labels, preds = noisy_classes(40, 2, 0.75, 11)
    cola, idx = get_task("cola"), stats.resample_indices(40, 500, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hand = [matthews_corrcoef(labels[row], preds[row]) for row in idx]
    low, high = stats.bootstrap_ci(cola, labels, preds, n_resamples=500, seed=3)
    assert (low, high) == pytest.approx(tuple(np.percentile(hand, [2.5, 97.5])), abs=1e-12)
    assert low < matthews_corrcoef(labels, preds) < high
    assert stats.bootstrap_ci(cola, labels, preds, n_resamples=500, seed=3, confidence=0.8)[0] > low
    # reproducible, and seeded
    assert stats.bootstrap_ci(cola, labels, preds, seed=1) == stats.bootstrap_ci(cola, labels, preds, seed=1)
    assert stats.bootstrap_ci(cola, labels, preds, seed=1) != stats.bootstrap_ci(cola, labels, preds, seed=2)


def test_bootstrap_on_ten_thousand_rows(capsys):
    labels, preds = noisy_classes(10_000, 3, 0.8, 0)
    start = time.perf_counter()
    low, high = stats.bootstrap_ci(get_task("mnli"), labels, preds, n_resamples=1000)
    seconds = time.perf_counter() - start
    assert low < float((labels == preds).mean()) < high < low + 0.05
    scores, predicted = noisy_scores(10_000, 1.0, 0)
    low, high = stats.bootstrap_ci(get_task("stsb"), scores, predicted, n_resamples=1000)
    assert low < pearsonr(predicted, scores)[0] < high
    with capsys.disabled():
        print(f"\nbootstrap, 10,000 rows x 1000 resamples: MNLI accuracy {seconds:.2f} s")


def with_pearson(scores, r, seed=0):
    """Predicted scores whose Pearson correlation with `scores` is exactly r."""
    z = (scores - scores.mean()) / scores.std()
    noise = np.random.default_rng(seed).normal(0, 1, len(scores))
    noise -= noise.mean() + (noise @ z) / (z @ z) * z  # the part of the noise uncorrelated with the scores
    return r * z + np.sqrt(1 - r**2) * noise / noise.std()


def test_majority_baselines_and_the_run_statistics_record_of_planted_majority_and_learned_runs():
    # CoLA: the MCC of a constant predictor, without a warning
    assert stats.majority_baseline(get_task("cola"), np.array([1] * 70 + [0] * 30)) == 0.0
    assert stats.majority_baseline(get_task("mrpc"), np.array([1] * 68 + [0] * 32)) == pytest.approx(0.68)
    assert stats.majority_baseline(get_task("mnli"), np.array([0] * 35 + [1] * 33 + [2] * 32)) == pytest.approx(0.35)
    assert stats.majority_baseline(get_task("stsb"), np.linspace(0, 5, 50)) == stats.REGRESSION_FLOOR == 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sklearn warning leaks out
        cola = np.array([1] * 140 + [0] * 60)
        cola_majority = stats.run_statistics(get_task("cola"), cola, np.ones_like(cola), n_resamples=50)
    assert cola_majority["majority_baseline"] == 0.0 and cola_majority["degenerate"]
    assert cola_majority["primary_metric_ci95"] == [0.0, 0.0]
    mrpc = np.array([1] * 68 + [0] * 32)  # constant "equivalent", MRPC's majority class
    assert stats.run_statistics(get_task("mrpc"), mrpc, np.ones_like(mrpc), n_resamples=50)["degenerate"]
    better = np.where(np.arange(100) < 90, mrpc, 1 - mrpc)
    assert not stats.run_statistics(get_task("mrpc"), mrpc, better, n_resamples=50)["degenerate"]
    scores = np.linspace(0, 5, 200)
    weak = with_pearson(scores, 0.05)
    assert stats.primary_value(get_task("stsb"), scores, weak) == pytest.approx(0.05)
    assert stats.run_statistics(get_task("stsb"), scores, weak, n_resamples=50)["degenerate"]
    assert not stats.run_statistics(get_task("stsb"), scores, with_pearson(scores, 0.8), n_resamples=50)["degenerate"]
    assert stats.is_degenerate(float("nan"), 0.1)  # constant predicted scores: no correlation at all
    # a run that learned: the whole record
    labels, preds = noisy_classes(120, 2, 0.85, 9)
    record = stats.run_statistics(get_task("sst2"), labels, preds, n_resamples=200, seed=4)
    assert set(record) == {"majority_baseline", "degenerate", "primary_metric_ci95", "bootstrap"}
    assert record["degenerate"] is False and record["bootstrap"] == {"n_resamples": 200, "seed": 4}
    assert record["primary_metric_ci95"] == list(stats.bootstrap_ci(get_task("sst2"), labels, preds, 200, 4))


def test_mcnemar_exact_and_chi_square():
    labels = np.zeros(100, dtype=int)
    a, b = labels.copy(), labels.copy()
    a[:3], b[3:10] = 1, 1  # only A right on 7, only B right on 3
    result = stats.mcnemar(labels, a, b)
    assert (result["b"], result["c"], result["method"]) == (7, 3, "exact")
    assert result["p_value"] == pytest.approx(binomtest(3, 10, 0.5).pvalue)
    b[10:50] = 1  # 47 vs 3 discordant pairs: chi-square with continuity correction
    result = stats.mcnemar(labels, a, b)
    assert (result["b"], result["c"], result["method"]) == (47, 3, "chi2")
    assert result["statistic"] == pytest.approx((44 - 1) ** 2 / 50) and result["p_value"] < 1e-6
    assert stats.mcnemar(labels, a, a) == {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0, "method": "exact"}


def test_summarize_seeds():
    summary = stats.summarize_seeds([0.5, 0.7, 0.6, 0.1])
    assert summary == {"n": 4, "median": pytest.approx(0.55), "mean": pytest.approx(0.475),
                       "std": pytest.approx(np.std([0.5, 0.7, 0.6, 0.1], ddof=1)), "min": 0.1, "max": 0.7}
    assert np.isnan(stats.summarize_seeds([0.3])["std"])


@pytest.mark.parametrize("call, needle", [
    (lambda: stats.bootstrap_ci(get_task("cola"), [0, 1, 1], [0, 1]), "differ in length"),
    (lambda: stats.bootstrap_ci(get_task("cola"), [0, 1, 1], [0, 1, 0], confidence=95), "confidence"),
    (lambda: stats.majority_baseline(get_task("colaa"), [0, 1]), "Unknown GLUE task"),
    (lambda: stats.summarize_seeds([]), "at least one")], ids=["length", "confidence", "task", "no-seeds"])
def test_bad_inputs_are_clear_errors(call, needle):
    with pytest.raises(GlueHelpersError, match=needle):
        call()


@pytest.mark.parametrize("low, high, pair_min, pair_max, expected", [
    (0.01, 0.03, 0.005, 0.02, "B better"),  # interval above zero, ahead on every seed
    (0.01, 0.03, -0.004, 0.02, "no clear difference"),  # interval above zero, behind on one seed
    (-0.01, 0.03, 0.005, 0.02, "no clear difference"),  # ahead on every seed, interval includes zero
    (-0.03, -0.01, -0.02, -0.005, "A better"), (float("nan"), 0.1, 0.0, 0.1, "n/a")])
def test_the_one_rule_for_better(low, high, pair_min, pair_max, expected):
    assert stats.verdict(low, high, pair_min, pair_max) == expected
