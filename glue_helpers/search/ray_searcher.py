"""Ray Tune's Optuna searcher with the Optuna backend's search budget (imported only with Ray)."""

from __future__ import annotations

import math

from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch


class BudgetOptunaSearch(OptunaSearch):
    """`OptunaSearch` that proposes no new trial once the trials have seen `budget` training examples."""
    # module-level, since Ray pickles the searcher (with its counts) for a resume

    def __init__(self, *args, budget: float = math.inf, rows: int = 0, spent: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.budget, self.rows, self.spent = budget, rows, spent
        self.epochs: dict[str, int] = {}  # trial id -> epochs it has trained (its latest report)

    def examples_seen(self) -> int:
        """Training examples seen by the study's earlier trials and this run's."""
        return self.spent + self.rows * sum(self.epochs.values())

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Count the trial's epochs, then let Optuna see the result."""
        self.epochs[trial_id] = int(result.get("epoch") or 0)
        super().on_trial_result(trial_id, result)

    def suggest(self, trial_id: str) -> dict | None:
        """The next trial's parameters, or FINISHED once the budget is spent."""
        if self.examples_seen() >= self.budget:
            return Searcher.FINISHED
        return super().suggest(trial_id)
