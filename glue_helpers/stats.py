"""Numbers you can trust: majority baselines, degenerate runs (no better than the majority class: Mosbach et al.
2021), percentile bootstrap intervals (Efron 1979: validation-set noise, not seed variance), paired tests, seeds."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest, chi2, rankdata

from .errors import GlueHelpersError
from .metrics import METRICS
from .tasks import GlueTask

# No majority class for a score: Mosbach et al.'s "no better than the trivial baseline" rule becomes a correlation
# floor. A constant predictor has no correlation at all; 0.1 also catches runs that barely moved off it.
REGRESSION_FLOOR = 0.1
TOLERANCE = 1e-9
# The chi-square approximation is poor for few discordant pairs: below this many (a common rule of thumb) McNemar
# uses the exact binomial test, above it chi-square with continuity correction (Edwards 1948; Dietterich 1998).
MCNEMAR_EXACT_BELOW = 25
CORRELATIONS = ("pearson", "spearmanr")
MIN_ROWS = 2  # an interval or a correlation needs two examples
RESAMPLE_CHUNK = 100  # resamples computed together (QQP: 100 x 40k codes, 32 MB)


def _primary(task: GlueTask) -> str:
    """The task's primary metric name, checked to be one we can resample."""
    name = task.primary_metric
    if name not in METRICS:
        raise GlueHelpersError(f"Unknown metric {name!r}; the statistics support {', '.join(METRICS)}.")
    return name


def _arrays(labels, *predictions) -> list[np.ndarray]:
    """Labels and predictions as 1-d arrays of one length (at least two examples)."""
    arrays = [np.asarray(a).reshape(-1) for a in (labels, *predictions)]
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise GlueHelpersError(f"Labels and predictions differ in length ({sorted(sizes)}); pass one prediction "
                               "per validation example, in the same order.")
    if len(arrays[0]) < MIN_ROWS:
        raise GlueHelpersError("The statistics need at least two validation examples.")
    return arrays


def _metric(name: str, labels, predictions) -> float:
    """One metric on the full data, as GLUE computes it, without sklearn's warnings for constant predictors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MCC/F1 of a constant predictor: 0 with a warning; Pearson: nan
        return float(METRICS[name](predictions, labels))


def primary_value(task: GlueTask, labels, predictions) -> float:
    """The task's primary metric for these predictions."""
    labels, predictions = _arrays(labels, predictions)
    return _metric(_primary(task), labels, predictions)


def majority_baseline(task: GlueTask, labels) -> float:
    """The primary metric of always predicting the most frequent label (ties: smallest); regression: the 0.1 floor."""
    name = _primary(task)
    if task.is_regression or name in CORRELATIONS:
        return REGRESSION_FLOOR
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise GlueHelpersError("majority_baseline needs the validation labels; got none.")
    values, counts = np.unique(labels, return_counts=True)
    return _metric(name, labels, np.full_like(labels, values[counts.argmax()]))


def is_degenerate(value: float, baseline: float) -> bool:
    """True when the run's primary metric is at or below the baseline (or not a number, e.g. constant scores)."""
    return bool(np.isnan(value) or value <= baseline + TOLERANCE)


def resample_indices(n: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """The bootstrap's (n_resamples, n) matrix of row indices, drawn with replacement in one go."""
    if n_resamples < 1 or n < 1:
        raise GlueHelpersError(f"Bootstrap needs n_resamples >= 1 and n >= 1 (got {n_resamples}, {n}).")
    # int32 halves the memory of QQP's 40k x 1000 matrix; fine for any validation set below 2**31 rows.
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n), dtype=np.int32)


def resampled_metric(name: str, labels, predictions, idx: np.ndarray) -> np.ndarray:
    """The metric `name` on every resample (row of `idx`), computed for all resamples at once."""
    labels, predictions = _arrays(labels, predictions)
    if name not in METRICS:
        raise GlueHelpersError(f"No bootstrap for metric {name!r}; supported: {', '.join(METRICS)}.")
    # sklearn/scipy called once per resample took about 2.5 ms each: 2.5 s per run of 1,000 resamples, even on 48
    # rows (bench/bench_bootstrap.py). Chunks of resamples bound the memory on QQP's 40k rows.
    chunks = range(0, len(idx), RESAMPLE_CHUNK)
    return np.concatenate([_vectorized(name, labels, predictions, idx[i:i + RESAMPLE_CHUNK]) for i in chunks])


def _vectorized(name: str, labels: np.ndarray, predictions: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One chunk of `resampled_metric`: GLUE's metric formulas on every row of `idx` (sklearn's and scipy's)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "accuracy":
            return (labels == predictions)[idx].mean(axis=1)
        if name in CORRELATIONS:  # a constant resample has no correlation: nan, as scipy gives
            x, y = predictions[idx].astype(np.float64), labels[idx].astype(np.float64)
            if name == "spearmanr":
                x, y = rankdata(x, axis=1), rankdata(y, axis=1)
            x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
            return (x * y).sum(axis=1) / np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
        k = int(max(labels.max(), predictions.max(), 1)) + 1  # class ids 0..k-1
        # Each resample's (label, prediction) pairs as cell numbers of its own k x k block, counted in one bincount.
        offsets = np.arange(len(idx))[:, None] * k * k
        codes = labels.astype(np.int64)[idx] * k + predictions.astype(np.int64)[idx] + offsets
        confusion = np.bincount(codes.ravel(), minlength=len(idx) * k * k).reshape(-1, k, k).astype(np.float64)
        true, pred, n = confusion.sum(axis=2), confusion.sum(axis=1), confusion.sum(axis=(1, 2))
        if name == "matthews_correlation":  # sklearn's multiclass formula; 0 where a side is constant
            cov = np.trace(confusion, axis1=1, axis2=2) * n - (true * pred).sum(axis=1)
            scale = np.sqrt((n**2 - (pred**2).sum(axis=1)) * (n**2 - (true**2).sum(axis=1)))
            return np.where(scale == 0, 0.0, cov / scale)
        present = true + pred > 0  # f1 per class: 0 where the class has no example and no prediction
        f1 = np.where(present, 2 * np.diagonal(confusion, axis1=1, axis2=2) / (true + pred), 0.0)
        if name == "f1":
            return f1[:, 1]
        if name == "f1_macro":  # over the classes the resample has
            return f1.sum(axis=1) / present.sum(axis=1)
    raise GlueHelpersError(f"No vectorised bootstrap for metric {name!r}: add its formula to stats._vectorized.")


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The middle `confidence` share of the values (nan values, from constant resamples, left out)."""
    if not 0 < confidence < 1:
        raise GlueHelpersError(f"confidence must be between 0 and 1 (got {confidence}); 0.95 is usual.")
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).all():
        return float("nan"), float("nan")
    tail = 50 * (1 - confidence)
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(task: GlueTask, labels, predictions, n_resamples: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the primary metric over the validation examples."""
    labels, predictions = _arrays(labels, predictions)
    idx = resample_indices(len(labels), n_resamples, seed)
    return percentile_interval(resampled_metric(_primary(task), labels, predictions, idx), confidence)


def mcnemar(labels, preds_a, preds_b) -> dict:
    """McNemar's test on two classifiers' errors (b: only A right, c: only B right), exact below 25 discordant pairs."""
    labels, preds_a, preds_b = _arrays(labels, preds_a, preds_b)
    right_a, right_b = preds_a == labels, preds_b == labels
    b, c = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    if b + c == 0:  # the same errors everywhere: nothing to test
        statistic, p, method = 0.0, 1.0, "exact"
    elif b + c < MCNEMAR_EXACT_BELOW:
        statistic, p, method = min(b, c), min(binomtest(b, b + c, 0.5).pvalue, 1.0), "exact"
    else:
        statistic, method = max(abs(b - c) - 1, 0) ** 2 / (b + c), "chi2"
        p = chi2.sf(statistic, 1)
    return {"b": b, "c": c, "statistic": float(statistic), "p_value": float(p), "method": method}


def run_statistics(task: GlueTask, labels, predictions, n_resamples: int = 1000, seed: int = 0) -> dict:
    """What metrics.json records about a run's trustworthiness: baseline, degenerate flag, 95% bootstrap interval."""
    labels, predictions = _arrays(labels, predictions)
    baseline = majority_baseline(task, labels)
    return {"majority_baseline": baseline,
            "degenerate": is_degenerate(primary_value(task, labels, predictions), baseline),
            "primary_metric_ci95": list(bootstrap_ci(task, labels, predictions, n_resamples, seed)),
            "bootstrap": {"n_resamples": n_resamples, "seed": seed}}


def verdict(ci_low: float, ci_high: float, pair_diff_min: float, pair_diff_max: float) -> str:
    """The one "better" rule: B (A) is better when B - A's interval and each seed pair's difference are > 0 (< 0)."""
    if np.isnan(ci_low) or np.isnan(ci_high):
        return "n/a"
    if ci_low > 0 and pair_diff_min > 0:
        return "B better"
    if ci_high < 0 and pair_diff_max < 0:
        return "A better"
    return "no clear difference"


def summarize_seeds(values: Sequence[float]) -> dict:
    """n, median, mean, sample std (ddof=1; nan for one value), min and max of one score over several seeds."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        raise GlueHelpersError("summarize_seeds needs at least one score.")
    return {"n": int(values.size), "median": float(np.median(values)), "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
            "min": float(values.min()), "max": float(values.max())}
