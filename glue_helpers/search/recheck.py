"""The re-check: the recipe and the best trials train again on all the data with several seeds, each compared with
the recipe seed by seed, the best one's model kept. A trial's lead (best of many one-seed subset runs) is partly luck.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import optuna
import pandas as pd
from transformers import PrinterCallback, set_seed

from ..batch.compare import compare_task
from ..modeling import save_trained_model
from ..recipe import RECHECK_SEEDS, RECHECK_TOP, SEED, check_positive, check_recheck_seeds
from ..reporting import score_run, write_model_card, write_run_files
from ..rundir import METRICS, RunDir, atomic_path, read_metrics, write_json
from ..stats import summarize_seeds
from ..tasks import GlueTask
from ..training import GlueTrainer
from .objective import free_memory, with_model_parameters
from .retrain import BEST_ADAPTER, BEST_MODEL, best_params, best_training_arguments
from .study import RECIPE_ATTR

RECHECK = "recheck"  # output_dir/recheck/<candidate>/seed-<n>/: one run folder per candidate and seed
RECIPE = "recipe"
SUMMARY_CSV, SUMMARY_JSON = "recheck.csv", "recheck.json"


def recheck_seeds(n_seeds, seed: int = SEED) -> list[int]:
    """The re-check's seeds: `seed`, `seed` + 1, ... (`n_seeds` of them, at least 2 to see the spread)."""
    check_recheck_seeds("recheck_seeds", n_seeds, allow_zero=False)
    return [seed + i for i in range(n_seeds)]


def _is_recipe(params: dict, recipe: dict) -> bool:
    """True when a trial ran the recipe's values for every parameter it has."""
    return all(name in recipe and recipe[name] == value for name, value in params.items())


def recheck_candidates(study: optuna.Study, recipe: dict, top_k: int = RECHECK_TOP) -> dict[str, dict]:
    """The recipe (the baseline), then the `top_k` best completed trials as 'trial-<n>', minus any recipe trial."""
    check_positive("recheck_top", top_k)
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    ranked = sorted((t for t in done if t.value is not None and math.isfinite(t.value)),
                    key=lambda t: t.value, reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
    candidates = {RECIPE: dict(recipe)}
    for trial in ranked:
        if len(candidates) > top_k:
            break
        if not (trial.user_attrs.get(RECIPE_ATTR) and _is_recipe(trial.params, recipe)):
            candidates[f"trial-{trial.number}"] = dict(trial.params)
    return candidates


def recheck_run(task: GlueTask, params: dict, seed: int, run_dir: RunDir, *, model_init, compute_metrics,
                train_dataset, eval_dataset, data_collator, tokenizer, model_name: str, save_model: bool,
                **overrides) -> dict:
    """Train `params` with `seed` on the full training set and write its run folder; return its metrics.json record."""
    if run_dir.metrics.is_file():  # it finished before: metrics.json is written last
        return read_metrics(run_dir.metrics)
    run_dir.prepare(overwrite=True)  # a killed run's leftovers go
    args = best_training_arguments(task, run_dir.checkpoints, params, seed=seed, **overrides)
    set_seed(seed)  # as notebook 01 does: seed, build the model, then the Trainer; so seed 42 is its run exactly
    trainer = GlueTrainer(model=with_model_parameters(model_init, params)(), args=args,
                          train_dataset=train_dataset, eval_dataset=eval_dataset, data_collator=data_collator,
                          compute_metrics=compute_metrics, processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)  # no raw log dict per epoch: recheck prints a line per run
    try:
        train_result = trainer.train()
        record, rows = score_run(trainer, task, model_name, train_result, eval_dataset,
                                 train_rows=len(train_dataset), params=params)
        if save_model:
            save_trained_model(trainer, run_dir.model, run_dir.adapter)
        record = write_run_files(run_dir, record, rows, task)
    finally:
        trainer.model = trainer.model_wrapped = trainer.optimizer = trainer.lr_scheduler = None
        del trainer
        free_memory()
    shutil.rmtree(run_dir.checkpoints, ignore_errors=True)
    return record


def recheck(study: optuna.Study, task: GlueTask, *, recipe: dict, output_dir: str | Path,
            top_k: int = RECHECK_TOP, n_seeds: int = RECHECK_SEEDS, seed: int = SEED, **run_kwargs) -> pd.DataFrame:
    """Train the recipe and the `top_k` best trials with `n_seeds` seeds each, then summarize (resumable)."""
    seeds = recheck_seeds(n_seeds, seed)
    best_params(study)  # a clear error when no trial completed: nothing to re-check against the recipe
    candidates = recheck_candidates(study, recipe, top_k)
    folder = Path(output_dir) / RECHECK
    total, done = len(candidates) * len(seeds), 0
    for name, params in candidates.items():
        for s in seeds:
            done += 1
            shown = ", ".join(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"
                              for key, value in params.items())  # 3 digits: a line per run, not a dict
            print(f"re-check {done}/{total}: {name} seed {s} ({shown})", flush=True)
            record = recheck_run(task, params, s, RunDir(folder / name / f"seed-{s}"), save_model=s == seeds[0],
                                 **run_kwargs)
            print(f"  -> {task.primary_metric} {record['primary_metric_value']:.4f} (best epoch), "
                  f"trained in {record['train_runtime']:.0f} s", flush=True)
    return recheck_summary(study, task, candidates, seeds, folder)


def _trial_value(study: optuna.Study, name: str) -> float:
    """The search score of candidate 'trial-<n>' (nan for the recipe)."""
    if not name.startswith("trial-"):
        trials = [t for t in study.trials if t.user_attrs.get(RECIPE_ATTR) and t.value is not None]
        return float(trials[0].value) if trials else math.nan
    trial = {t.number: t for t in study.trials}.get(int(name.removeprefix("trial-")))
    return math.nan if trial is None or trial.value is None else float(trial.value)


# stats.verdict's words for A = the recipe, B = a candidate, as the re-check table says them
VS_RECIPE = {"B better": "beats the recipe", "A better": "worse than the recipe"}


def recheck_summary(study: optuna.Study, task: GlueTask, candidates: dict[str, dict], seeds: list[int],
                    folder: Path) -> pd.DataFrame:
    """One row per candidate: parameters, search score, full-data scores over seeds, its verdict against the recipe."""
    recipe_runs = {s: folder / RECIPE / f"seed-{s}" for s in seeds}
    rows, per_seed = [], {}
    for name, params in candidates.items():
        runs = {s: folder / name / f"seed-{s}" for s in seeds}
        scores = per_seed[name] = [read_metrics(run / METRICS)["primary_metric_value"]
                                   for run in runs.values()]
        spread = summarize_seeds(scores)
        vs = compare_task(task.name, recipe_runs, runs)
        rows.append({"candidate": name, "params": json.dumps(params), "search_value": _trial_value(study, name),
                     "seeds": len(seeds), "median": spread["median"], "mean": spread["mean"], "std": spread["std"],
                     "min": spread["min"], "max": spread["max"], "diff": vs["diff"], "ci_low": vs["ci_low"],
                     "ci_high": vs["ci_high"], "pair_diff_min": vs["pair_diff_min"],
                     "pair_diff_max": vs["pair_diff_max"],
                     "verdict": "(the reference)" if name == RECIPE else VS_RECIPE.get(vs["verdict"], vs["verdict"])})
    table = pd.DataFrame(rows).set_index("candidate")
    recipe = table.loc[RECIPE]
    winner = str(table["median"].idxmax())  # the recipe (first row) wins ties
    clear = winner != RECIPE and table.loc[winner, "verdict"] == VS_RECIPE["B better"]  # stats.verdict: the one rule
    table.attrs.update(task=task.name, metric=task.primary_metric, seeds=seeds, scores=per_seed, winner=winner,
                       recipe_spread=float(recipe["max"] - recipe["min"]), beats_recipe=clear,
                       folder=str(folder))
    with atomic_path(folder / SUMMARY_CSV) as tmp:
        table.to_csv(tmp)
    write_json(folder / SUMMARY_JSON, {**table.attrs, "verdict": verdict(table),
                                       "candidates": table.reset_index().to_dict(orient="records")})
    return table


def verdict(table: pd.DataFrame) -> str:
    """The re-check in two sentences: the winner against the recipe, with the paired interval and the spread."""
    a = table.attrs
    winner, recipe = table.loc[a["winner"]], table.loc[RECIPE]
    metric, n = a["metric"], a["seeds"]
    head = (f"{metric} over {len(n)} seeds ({', '.join(map(str, n))}), full training set: recipe median "
            f"{recipe['median']:.4f} (seed spread {a['recipe_spread']:.4f})")
    if a["winner"] == RECIPE:
        return f"{head}; no searched configuration did better, so the recipe is kept."
    detail = (f"{a['winner']} median {winner['median']:.4f}, {winner['diff']:+.4f} [95% paired CI "
              f"{winner['ci_low']:+.4f}, {winner['ci_high']:+.4f}], per-seed differences "
              f"{winner['pair_diff_min']:+.4f} to {winner['pair_diff_max']:+.4f}")
    if a["beats_recipe"]:
        return f"{head}; {detail}: better on every seed, with an interval above zero, so it beats the recipe."
    return (f"{head}; {detail}: not better on every seed with an interval above zero, so treat it as a tie with "
            "the recipe.")


def save_winner(table: pd.DataFrame, task: GlueTask, output_dir: str | Path, **extra) -> dict:
    """Copy the winner's first-seed model (and adapter) into output_dir with its metrics.json and a model card."""
    output_dir = Path(output_dir)
    a = table.attrs
    run = Path(a["folder"]) / a["winner"] / f"seed-{a['seeds'][0]}"
    record = {**read_metrics(run / METRICS), "best_params": json.loads(table.loc[a["winner"], "params"]),
              "recheck_winner": a["winner"], "recheck_beats_recipe": a["beats_recipe"], "recheck": verdict(table),
              **extra}
    folders = ((RunDir(run).model, output_dir / BEST_MODEL), (RunDir(run).adapter, output_dir / BEST_ADAPTER))
    for source, target in folders:
        if source.is_dir():
            _replace_folder(source, target)
    write_model_card(output_dir / BEST_MODEL, record, task)
    write_json(output_dir / BEST_MODEL / METRICS, record)
    return record


def _replace_folder(source: Path, target: Path) -> None:
    """Copy `source` to `target` so that `target` is either the old folder or the complete new one."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


__all__ = ["RECHECK", "RECIPE", "recheck", "recheck_candidates", "recheck_run", "recheck_seeds",
           "recheck_summary", "save_winner", "verdict"]
