"""Optuna's matplotlib plots of a study, with the guards a small study needs."""

from __future__ import annotations

import warnings

import optuna
from optuna.visualization import matplotlib as ovm

COMPLETE = optuna.trial.TrialState.COMPLETE


def _axes(plot, *args, **kwargs):
    """Call an Optuna plot (experimental in Optuna, hence the muted warning) and return its Axes, sized."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot(*args, **kwargs)
    ax = ax.flat[0] if hasattr(ax, "flat") else ax
    ax.figure.set_size_inches(8, 4)
    return ax


def importances_possible(study: optuna.Study) -> str | None:
    """Why parameter importances can't be computed yet (None when they can)."""
    values = [trial.value for trial in study.get_trials(deepcopy=False, states=(COMPLETE,))]
    if len(values) < 2:
        return f"needs at least 2 completed trials, the study has {len(values)}"
    if len(set(values)) < 2:
        return "every completed trial scored the same, so no parameter explains a difference"
    return None


def search_figures(study: optuna.Study) -> dict:
    """Optimization history, per-epoch values (pruned trials stop early), and parameter importances if possible."""
    metric = study.user_attrs.get("primary_metric", "objective")
    history = _axes(ovm.plot_optimization_history, study, target_name=metric)
    figures = {"optimization_history": history.figure}
    if any(trial.intermediate_values for trial in study.trials):
        curves = _axes(ovm.plot_intermediate_values, study)
        curves.set_xlabel("epoch")
        curves.set_ylabel(f"{metric} (validation)")
        figures["intermediate_values"] = curves.figure
    reason = importances_possible(study)
    if reason is None:
        figures["param_importances"] = _axes(ovm.plot_param_importances, study, target_name=metric).figure
    else:
        print(f"(no parameter-importance plot: it {reason})")
    return figures
