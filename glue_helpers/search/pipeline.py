"""The whole search in one call: check, load, search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
from datasets import Dataset

from ..data import label_names_of, load_glue
from ..errors import GlueHelpersError
from ..metrics import make_compute_metrics
from ..modeling import load_tokenizer, make_data_collator, make_model_init, resolve_checkpoint, tokenize_dataset
from ..recipe import (
    LORA_ALPHA,
    LORA_DROPOUT,
    LORA_R,
    LORA_TARGET_MODULES,
    N_TRIALS,
    PEFT,
    PRUNER,
    RECHECK_SEEDS,
    RECHECK_TOP,
    REPORT_TO,
    SEARCH_BUDGET,
    SEARCH_FRACTION,
    SEARCH_MIN_ROWS,
    SEED,
    Recipe,
    SearchSettings,
    search_dir_for,
)
from ..tasks import GlueTask
from .objective import make_objective, search_subset
from .recheck import recheck, save_winner, verdict
from .space import make_hp_space, recipe_params, recipe_values
from .study import budget_examples, enqueue_recipe, open_study, run_trials


@dataclass
class SearchData:
    """Tokenized splits: the full training set (for the retrain), the search subset, validation; and helpers."""

    train: Dataset
    search_train: Dataset
    eval: Dataset
    tokenizer: object
    data_collator: object
    label_names: list[str] | None = None


@dataclass
class SearchRun:
    """What a search leaves: the study, the data, the objective, and the pieces needed to retrain its best trial."""

    study: optuna.Study
    data: SearchData
    model_init: Callable
    compute_metrics: Callable
    hp_space: Callable
    objective: Callable
    model: str  # the model checkpoint, resolved
    output_dir: Path
    budget: float = float("inf")  # training examples all trials may see (search_budget recipe runs)
    peft: str | None = PEFT
    task: GlueTask | None = None


def prepare_data(task: GlueTask, model_checkpoint, data_dir=None, *, search_fraction: float = SEARCH_FRACTION,
                 search_min_rows: int = SEARCH_MIN_ROWS, seed: int = SEED, max_train_samples=None,
                 max_eval_samples=None) -> SearchData:
    """Load and tokenize the task, and draw the seeded search subset from the training split."""
    raw = load_glue(task, data_dir, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                    seed=seed, splits=("train", "validation"))
    tokenizer = load_tokenizer(model_checkpoint)
    tokenized = tokenize_dataset(raw, task, tokenizer)
    search_train = search_subset(tokenized["train"], search_fraction, seed, search_min_rows)
    return SearchData(train=tokenized["train"], search_train=search_train,
                      eval=tokenized["validation"], tokenizer=tokenizer, data_collator=make_data_collator(tokenizer),
                      label_names=label_names_of(raw["train"]))


def check_inputs(*, n_trials, search_fraction, search_space, pruner, peft=PEFT, search_min_rows=SEARCH_MIN_ROWS,
                 search_budget=SEARCH_BUDGET):
    """Check the search's own knobs before the data, the model or a trial loads; return the `hp_space`."""
    SearchSettings(n_trials=n_trials, search_fraction=search_fraction, search_min_rows=search_min_rows,
                   search_budget=search_budget, pruner=pruner)
    return make_hp_space(search_space, peft)


def check_same_peft(study: optuna.Study, peft: str | None) -> None:
    """Refuse to continue a study whose trials trained another way (full vs LoRA): their scores don't compare."""
    stored = study.user_attrs.get("peft", peft)
    if stored != peft:
        raise GlueHelpersError(f"Study {study.study_name!r} holds trials with peft={stored!r}, not {peft!r}. Pick "
                               f"another study_name (e.g. '{study.study_name}-{peft or 'full'}') or storage.")


def prepare_search(task: GlueTask, model_checkpoint: str, *, data_dir=None, n_trials: int = N_TRIALS,
                   search_fraction: float = SEARCH_FRACTION, search_min_rows: int = SEARCH_MIN_ROWS,
                   search_budget: float | None = SEARCH_BUDGET, storage=None, study_name: str | None = None,
                   pruner=PRUNER, output_dir: str | Path | None = None, seed: int = SEED,
                   max_train_samples: int | None = None, max_eval_samples: int | None = None,
                   search_space: dict | None = None, worker: int = 0, peft: str | None = PEFT, lora_r: int = LORA_R,
                   lora_alpha: float = LORA_ALPHA, lora_dropout: float = LORA_DROPOUT,
                   lora_target_modules: str | list[str] | None = LORA_TARGET_MODULES,
                   **training_overrides) -> SearchRun:
    """Check the inputs, open (or continue) the study, load the data and build the objective; run nothing."""
    lora = dict(lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                lora_target_modules=lora_target_modules)
    Recipe(seed=seed, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples, peft=peft,
           report_to=training_overrides.get("report_to", REPORT_TO), **lora)  # the recipe knobs a search takes
    hp_space = check_inputs(n_trials=n_trials, search_fraction=search_fraction, search_space=search_space,
                            pruner=pruner, peft=peft, search_min_rows=search_min_rows, search_budget=search_budget)
    output_dir = Path(output_dir or search_dir_for(task.name))
    model = resolve_checkpoint(model_checkpoint)
    study = open_study(task, study_name=study_name, storage=storage, output_dir=output_dir, pruner=pruner, seed=seed,
                       worker=worker, model=model, search_fraction=search_fraction, peft=peft)
    check_same_peft(study, peft)
    data = prepare_data(task, model, data_dir, search_fraction=search_fraction, search_min_rows=search_min_rows,
                        seed=seed, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples)
    model_init = make_model_init(model, task, data.label_names, lora=lora if peft == "lora" else None)
    compute_metrics = make_compute_metrics(task)
    objective = make_objective(task, model_init=model_init, compute_metrics=compute_metrics, hp_space=hp_space,
                               train_dataset=data.search_train, eval_dataset=data.eval,
                               data_collator=data.data_collator, output_dir=output_dir, model_name=model,
                               **training_overrides)
    return SearchRun(study, data, model_init, compute_metrics, hp_space, objective, model, output_dir,
                     budget=budget_examples(len(data.train), search_budget), peft=peft, task=task)


def search_trials(search: SearchRun, n_trials: int) -> optuna.Study:
    """Run up to `n_trials` more trials here, the recipe first if the study lacks it, until the budget is spent."""
    enqueue_recipe(search.study, recipe_params(search.hp_space.space, search.peft))
    return run_trials(search.study, search.objective, n_trials, budget=search.budget)


def run_search(task: GlueTask, model_checkpoint: str, *, n_trials: int = N_TRIALS, **kwargs) -> SearchRun:
    """`prepare_search`, then up to `n_trials` more trials on the search subset, the recipe first."""
    search = prepare_search(task, model_checkpoint, n_trials=n_trials, **kwargs)
    search_trials(search, n_trials)
    return search


def recheck_search(search: SearchRun, *, top_k: int = RECHECK_TOP, n_seeds: int = RECHECK_SEEDS, seed: int = SEED,
                   **overrides) -> tuple[pd.DataFrame, dict]:
    """Re-check the recipe and the best trials on the full data, print the verdict, save the winner in best-model."""
    table = recheck(search.study, search.task, recipe=recipe_values(search.peft),
                    output_dir=search.output_dir, top_k=top_k, n_seeds=n_seeds, seed=seed,
                    model_init=search.model_init, compute_metrics=search.compute_metrics,
                    train_dataset=search.data.train, eval_dataset=search.data.eval,
                    data_collator=search.data.data_collator, tokenizer=search.data.tokenizer,
                    model_name=search.model, **overrides)
    print(verdict(table), flush=True)
    record = save_winner(table, search.task, search.output_dir,
                         study_name=search.study.study_name)
    return table, record
