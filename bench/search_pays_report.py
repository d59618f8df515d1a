"""Summarize one run of notebook 02 for bench/README_search.md: what the search spent and found, how long each phase
took (papermill's cell times), and the re-check against the recipe.

    python bench/search_pays_report.py --task stsb --run bench/runs/search-pays/stsb/runs/stsb-search \
        --notebook bench/runs/search-pays/stsb/02_hyperparameter_search.ipynb --wall 2400 --out stsb.json

It reads what notebook 02 leaves in its output_dir (--run): the study (optuna.db, study glue-<task> unless
--study-name), the re-check's runs of notebook 01 (recheck/<study>/<candidate>/<task>/seed-<n>/metrics.json), their
comparison with the recipe (recheck/<study>/comparison.csv, columns of `glue_helpers.batch.compare.compare_runs`) and
the winner's best-model/metrics.json (with best_params, recheck_winner, recheck_beats_recipe). Without --notebook it
takes the newest executed copy that `python -m glue_helpers search` left in --run.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
from pathlib import Path

import nbformat
import optuna
import pandas as pd

from glue_helpers.recipe import Recipe, SearchSettings
from glue_helpers.rundir import write_json
from glue_helpers.search.study import StopAtBudget, open_storage

# notebook 02's code cells of each phase, found by their source
PHASES = {"search": ("study.optimize(",), "recheck": ("gh.run_notebook_01(",), "compare": ("gh.compare_runs(",),
          "save": ("gh.save_best_model(",)}


def notebook(run: Path, given: Path | None):
    """The executed notebook 02: the one given, else the newest `search` left in the run folder."""
    if given is None:
        found = sorted(run.glob("02_hyperparameter_search.*.ipynb"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise SystemExit(f"error: no executed notebook 02 in {run}; give it with --notebook")
        given = found[-1]
    return nbformat.read(given, as_version=4)


def cell_seconds(nb) -> dict[str, float]:
    """Seconds papermill spent on the cells that run the search, the re-check, the comparison and the save."""
    out = {}
    for phase, markers in PHASES.items():
        cells = [c for c in nb.cells if c.cell_type == "code" and any(m in c.source for m in markers)]
        out[phase] = round(sum(c.metadata.get("papermill", {}).get("duration") or 0 for c in cells), 1)
    return out


def open_study(run: Path, study_name: str | None) -> optuna.Study:
    """The study in the run folder's optuna.db: the one named, else the only one there."""
    storage = open_storage(None, run)
    if study_name is None:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if len(names) != 1:
            raise SystemExit(f"error: {run / 'optuna.db'} holds the studies {names}; name one with --study-name")
        study_name = names[0]
    return optuna.load_study(study_name=study_name, storage=storage)


def trials(study: optuna.Study) -> list[dict]:
    """The study's trials, as rows."""
    def seconds(t):
        return round(t.duration.total_seconds(), 1) if t.duration is not None else None

    return [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
             "recipe": bool(t.user_attrs.get("recipe")), "examples": t.user_attrs.get("examples"),
             "epochs_run": len(t.intermediate_values), "best_epoch": t.user_attrs.get("best_epoch"),
             "worker": t.user_attrs.get("worker"), "wall_s": seconds(t)}
            for t in study.trials]


def recheck_runs(recheck: Path, task: str) -> dict[str, list[dict]]:
    """Each re-checked candidate's runs of notebook 01: seed, score, training time, epochs, samples/s."""
    out = {}
    for metrics in sorted(recheck.glob(f"*/{task}/seed-*/metrics.json")):
        record = json.loads(metrics.read_text())
        out.setdefault(metrics.parents[2].name, []).append({
            "seed": record["seed"], "value": record["primary_metric_value"], "ci95": record.get("primary_metric_ci95"),
            "train_runtime": record["train_runtime"],
            "samples_per_second": record["train_samples_per_second"], "epochs": record["num_train_epochs"],
            "precision": record.get("precision")})
    return out


def comparison(recheck: Path) -> list[dict]:
    """The re-check's comparison.csv, one row per candidate against the recipe (none without a comparison)."""
    path = recheck / "comparison.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path, index_col=0)
    rows = json.loads(table.to_json(orient="index"))  # NaN -> null
    return [{"candidate": name, **row} for name, row in rows.items()]


def verdict(best: dict, compared: list[dict]) -> str:
    """The notebook's conclusion in words, from best-model/metrics.json (and whether there was a comparison)."""
    winner = best.get("recheck_winner")
    if not compared:
        return f"no comparison with the recipe (recheck_seeds 0, or one candidate): {winner} is saved"
    if winner == "recipe":
        return "nothing beat the recipe: it is kept"
    return f"winner {winner}: " + ("it beats the recipe" if best.get("recheck_beats_recipe")
                                   else "better median, but a tie by the rule")


def cpu() -> dict:
    """The CPU model and the flags that decide the precision."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.*)", info)
    flags = sorted({f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if re.search(rf"\b{f}\b", info)})
    return {"model": model.group(1) if model else platform.processor(), "flags": flags,
            "cores": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout or 0)}


def main() -> None:
    """Write the bench record."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--run", type=Path, required=True, help="the notebook's output_dir")
    p.add_argument("--notebook", type=Path, help="the executed notebook (default: the newest one in --run)")
    p.add_argument("--study-name", help="the study (default: the only one in --run's optuna.db)")
    p.add_argument("--wall", type=float, help="wall time of the whole notebook, seconds")
    p.add_argument("--load", help="load average before -> after")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    nb = notebook(args.run, args.notebook)
    parameters = nb.metadata.get("papermill", {}).get("parameters", {})
    study = open_study(args.run, args.study_name)
    recheck = args.run / "recheck" / study.study_name
    best = json.loads((args.run / "best-model" / "metrics.json").read_text())
    runs = recheck_runs(recheck, args.task)
    phases = cell_seconds(nb)
    recipe_runs = runs.get("recipe") or runs[best["recheck_winner"]]  # recheck_seeds 0: the best trial's one run
    recipe_times = sorted(r["train_runtime"] for r in recipe_runs)
    one_run = recipe_times[len(recipe_times) // 2]
    train_rows = best["train_rows"]  # every re-check run trains on the same rows
    budget = parameters.get("search_budget", SearchSettings.search_budget)
    compared = comparison(recheck)
    record = {
        "task": args.task, "cpu": cpu(), "load": args.load, "notebook_wall_s": args.wall, "phases_s": phases,
        "parameters": parameters, "recipe_train_runtime_s": recipe_times,
        "search_wall_over_one_recipe_run": round(phases["search"] / one_run, 2),
        "train_rows": train_rows,
        "budget_examples": None if budget is None else budget * train_rows * Recipe.num_train_epochs,
        "examples_spent": StopAtBudget.spent(study),
        "trials": trials(study),
        "recheck": {"winner": best.get("recheck_winner"), "beats_recipe": best.get("recheck_beats_recipe"),
                    "verdict": verdict(best, compared), "best_params": best.get("best_params"),
                    "best_model_value": best["primary_metric_value"], "study_name": best.get("study_name"),
                    "comparison": compared},
        "recheck_runs": runs,
    }
    write_json(args.out, record)
    print(f"{args.task}: search {phases['search']} s ({record['search_wall_over_one_recipe_run']}x one recipe run "
          f"of {one_run:.0f} s), re-check {phases['recheck']} s; {record['recheck']['verdict']}")


if __name__ == "__main__":
    main()
