"""GLUE's official metric definitions as tiny pure functions, one dispatch, and `compute_metrics`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from .tasks import GlueTask

METRICS: dict[str, Callable] = {  # each metric(predictions, labels)
    "accuracy": lambda p, y: float((np.asarray(p) == np.asarray(y)).mean()),
    "f1": lambda p, y: float(f1_score(y, p)),
    "f1_macro": lambda p, y: float(f1_score(y, p, average="macro")),
    "matthews_correlation": lambda p, y: float(matthews_corrcoef(y, p)),
    "pearson": lambda p, y: float(pearsonr(p, y)[0]),
    "spearmanr": lambda p, y: float(spearmanr(p, y)[0]),
}


def glue_metric(task: GlueTask, predictions, references) -> dict[str, float]:
    """The task's metrics for final predictions (class ids or scores), by name."""
    return {name: METRICS[name](predictions, references) for name in task.metric_names}


class TaskMetric:
    """A task's metrics behind `evaluate`'s `metric.compute(...)`, for a custom task (it has no `evaluate` module)."""

    def __init__(self, task: GlueTask):
        self.task = task

    def compute(self, *, predictions, references) -> dict[str, float]:
        """The task's metrics, by name."""
        return glue_metric(self.task, predictions, references)


def logits_to_predictions(task: GlueTask, logits) -> np.ndarray:
    """Argmax over classes, or the squeezed score for regression."""
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits)
    return logits.squeeze(-1) if task.is_regression else logits.argmax(-1)


def make_compute_metrics(task: GlueTask) -> Callable:
    """The `compute_metrics(eval_pred)` function a `Trainer` calls after each evaluation."""

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred
        return glue_metric(task, logits_to_predictions(task, logits), labels)

    return compute_metrics


GLUE_METRIC_PATH = str(Path(__file__).with_name("glue_metric") / "glue_metric.py")


def load_glue_metric(task: GlueTask):
    """The GLUE metric as an `evaluate` module, loaded from this package: no Hub needed."""
    import evaluate

    return evaluate.load(GLUE_METRIC_PATH, task.hub_config)
