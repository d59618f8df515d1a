"""The bootstrap interval every run records: the vectorised resamples against one sklearn/scipy call per resample.

    .venv/bin/python bench/bench_bootstrap.py            # real GLUE validation sizes, 1,000 resamples, a table
"""

from __future__ import annotations

import platform
import time
import warnings

import numpy as np

from glue_helpers import stats

SIZES = {"rte": 277, "mrpc": 408, "cola": 1043, "stsb": 1500, "mnli": 9815, "qqp": 40430}  # validation rows
METRIC = {"rte": "accuracy", "mrpc": "f1", "cola": "matthews_correlation", "stsb": "pearson", "mnli": "accuracy",
          "qqp": "f1"}
LOOPED = 50  # resamples timed for the per-resample loop (it is linear in the resamples), scaled to 1,000


def data(task: str, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions about 80 % right (scores with noise for STS-B)."""
    if task == "stsb":
        labels = rng.uniform(0, 5, n)
        return labels, labels + rng.normal(0, 1, n)
    k = 3 if task == "mnli" else 2
    labels = rng.integers(0, k, n)
    return labels, np.where(rng.random(n) < 0.8, labels, rng.integers(0, k, n))


def main() -> None:
    """Time both ways per task and check they agree on the timed resamples."""
    flags = open("/proc/cpuinfo").read().split()
    print(f"{platform.processor() or platform.machine()}; avx512_bf16: {'avx512_bf16' in flags}; numpy "
          f"{np.__version__}\n| task | rows | metric | vectorised, 1,000 resamples | one call per resample (x1,000) |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    warnings.simplefilter("ignore")
    for task, n in SIZES.items():
        labels, predictions = data(task, n, rng)
        idx = stats.resample_indices(n, 1000)
        start = time.perf_counter()
        fast = stats.resampled_metric(METRIC[task], labels, predictions, idx)
        vectorised = time.perf_counter() - start
        start = time.perf_counter()
        slow = [stats.METRICS[METRIC[task]](predictions[rows], labels[rows]) for rows in idx[:LOOPED]]
        looped = (time.perf_counter() - start) * 1000 / LOOPED
        assert np.allclose(fast[:LOOPED], slow, atol=1e-12)
        print(f"| {task} | {n:,} | {METRIC[task]} | {vectorised:.3f} s | {looped:.2f} s |")


if __name__ == "__main__":
    main()
