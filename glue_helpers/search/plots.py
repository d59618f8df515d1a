"""The search's plots: whether a study can show parameter importances, and the re-check at a glance."""

from __future__ import annotations

import optuna

COMPLETE = optuna.trial.TrialState.COMPLETE


def importances_possible(study: optuna.Study) -> str | None:
    """Why parameter importances can't be computed yet (None when they can)."""
    values = [trial.value for trial in study.get_trials(deepcopy=False, states=(COMPLETE,))]
    if len(values) < 2:
        return f"needs at least 2 completed trials, the study has {len(values)}"
    if len(set(values)) < 2:
        return "every completed trial scored the same, so no parameter explains a difference"
    return None


def recheck_figure(table):
    """The re-check at a glance: scores per seed (points), medians (bars), the recipe's median (dashed), the winner."""
    import matplotlib.pyplot as plt

    a = table.attrs
    names = list(table.index)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(names) + 2), 3.6))
    ax.bar(range(len(names)), table["median"], color=["tab:green" if n == a["winner"] else "lightgray" for n in names],
           width=0.6, label="median over seeds")
    for i, seed in enumerate(a["seeds"]):
        ax.scatter(range(len(names)), [a["scores"][n][i] for n in names], zorder=3, s=22, label=f"seed {seed}")
    ax.axhline(table.loc["recipe", "median"], color="black", linestyle="--", linewidth=1, label="recipe's median")
    low = min(min(v) for v in a["scores"].values())
    high = max(max(v) for v in a["scores"].values())
    pad = max(0.01, (high - low) * 0.5)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(f"{a['metric']} (full training set)")
    verdict = "beats the recipe" if a["beats_recipe"] else "no clear gain over the recipe"
    ax.set_title(f"{a['task']}: re-check, winner {a['winner']} ({verdict})")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
