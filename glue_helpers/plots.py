"""Pictures of a run: the training curve, a confusion matrix, a regression scatter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay

from .tasks import GlueTask


def epoch_history(log_history: list[dict]) -> pd.DataFrame:
    """One row per epoch: train loss, eval loss and every eval metric, from `trainer.state.log_history`."""
    rows: dict[float, dict] = {}
    evaluated: set[float] = set()
    for entry in log_history:
        if "epoch" not in entry or "train_runtime" in entry:
            continue
        epoch = round(float(entry["epoch"]), 2)
        row = rows.setdefault(epoch, {})
        if "loss" in entry:
            row["train_loss"] = entry["loss"]
        scores = {k[5:]: v for k, v in entry.items() if k.startswith("eval_") and "runtime" not in k
                  and "per_second" not in k}
        # Each epoch's own evaluation only: `trainer.evaluate()` after training (the best epoch's model, with
        # load_best_model_at_end) is logged at the last epoch too, and would hide that epoch's own numbers.
        if scores and epoch not in evaluated:
            evaluated.add(epoch)
            row.update(scores)
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    frame.index.name = "epoch"
    return frame


def plot_training_curve(history: pd.DataFrame, metric: str):
    """Loss (train and eval) and the primary metric per epoch, side by side."""
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.5))
    for col, style in (("train_loss", "o-"), ("loss", "s--")):
        if col in history:
            ax_loss.plot(history.index, history[col], style, label="eval loss" if col == "loss" else "train loss")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.legend()
    if metric in history:
        ax_metric.plot(history.index, history[metric], "o-", color="tab:green")
        best = history[metric].idxmax()
        ax_metric.axvline(best, color="grey", ls=":", label=f"best epoch ({best:g})")
        ax_metric.legend()
    ax_metric.set(xlabel="epoch", ylabel=metric, title=f"Validation {metric}")
    for ax in (ax_loss, ax_metric):  # whole epochs only: no 1.25, 1.5, ... ticks
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def plot_confusion_matrix(labels, predictions, label_names: list[str]):
    """Counts of true vs predicted class on the validation set."""
    fig, ax = plt.subplots(figsize=(1.4 * len(label_names) + 2.5, 1.2 * len(label_names) + 2))
    ConfusionMatrixDisplay.from_predictions(labels, predictions, labels=list(range(len(label_names))),
                                            display_labels=label_names, ax=ax, colorbar=False, cmap="Blues")
    ax.set_title("Confusion matrix (validation)")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    return fig


def plot_regression_scatter(labels, predictions):
    """Predicted vs gold similarity scores on the validation set, with the ideal diagonal."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(labels, predictions, s=8, alpha=0.5)
    lo, hi = float(np.min(labels)), float(np.max(labels))
    ax.plot([lo, hi], [lo, hi], "r--", lw=1, label="perfect")
    ax.set(xlabel="gold score", ylabel="predicted score", title="STS-B predictions (validation)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_predictions(task: GlueTask, labels, predictions):
    """The right picture for the task: confusion matrix for classes, scatter for scores."""
    if task.is_regression:
        return plot_regression_scatter(labels, predictions)
    return plot_confusion_matrix(labels, predictions, list(task.label_names))
