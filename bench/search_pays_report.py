"""Summarize one run of notebook 02 for bench/README_search.md: what the search spent and found, how long each phase
took (papermill's cell times), and the re-check against the recipe.

    python bench/search_pays_report.py --task stsb --run bench/runs/search-pays/stsb/runs/stsb-search \
        --notebook bench/runs/search-pays/stsb/02_hyperparameter_search.ipynb --wall 2400 --out stsb.json
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

from glue_helpers.recipe import NUM_TRAIN_EPOCHS, SEARCH_BUDGET
from glue_helpers.rundir import write_json
from glue_helpers.search.recheck import RECHECK, SUMMARY_JSON
from glue_helpers.search.study import examples_seen

PHASES = {"search": "study.optimize(", "recheck": "hs.recheck(", "save": "hs.save_winner("}


def cell_seconds(notebook: Path) -> dict[str, float]:
    """Seconds papermill spent on the cells that run the search, the re-check and the save."""
    nb = nbformat.read(notebook, as_version=4)
    out = {}
    for phase, marker in PHASES.items():
        cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
        out[phase] = round(sum(c.metadata.get("papermill", {}).get("duration") or 0 for c in cells), 1)
    return out


def trials(run: Path) -> tuple[list[dict], optuna.Study]:
    """The study's trials, as rows."""
    summaries = optuna.get_all_study_summaries(f"sqlite:///{run / 'optuna.db'}")
    study = optuna.load_study(study_name=summaries[0].study_name, storage=f"sqlite:///{run / 'optuna.db'}")
    rows = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
             "recipe": bool(t.user_attrs.get("recipe")), "examples": t.user_attrs.get("examples"),
             "epochs_run": len(t.user_attrs.get("epoch_metrics") or {}),
             "train_runtime": t.user_attrs.get("train_runtime")}
            for t in study.trials]
    return rows, study


def recheck_runs(run: Path) -> dict[str, list[dict]]:
    """Each re-checked candidate's runs: seed, score, training time, epochs, samples/s."""
    out = {}
    for metrics in sorted((run / RECHECK).glob("*/seed-*/metrics.json")):
        record = json.loads(metrics.read_text())
        out.setdefault(metrics.parent.parent.name, []).append({
            "seed": record["seed"], "value": record["primary_metric_value"], "ci95": record.get("primary_metric_ci95"),
            "train_runtime": record["train_runtime"],
            "samples_per_second": record["train_samples_per_second"], "epochs": record["num_train_epochs"],
            "precision": record.get("precision")})
    return out


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
    p.add_argument("--notebook", type=Path, required=True, help="the executed notebook")
    p.add_argument("--wall", type=float, help="wall time of the whole notebook, seconds")
    p.add_argument("--load", help="load average before -> after")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    rows, study = trials(args.run)
    recheck = json.loads((args.run / RECHECK / SUMMARY_JSON).read_text())
    runs = recheck_runs(args.run)
    recipe_times = sorted(r["train_runtime"] for r in runs["recipe"])
    phases = cell_seconds(args.notebook)
    one_run = recipe_times[len(recipe_times) // 2]
    train_rows = json.loads(next((args.run / RECHECK / "recipe").glob("seed-*/metrics.json")).read_text())["train_rows"]
    record = {
        "task": args.task, "cpu": cpu(), "load": args.load, "notebook_wall_s": args.wall, "phases_s": phases,
        "recipe_train_runtime_s": recipe_times,
        "search_wall_over_one_recipe_run": round(phases["search"] / one_run, 2),
        "train_rows": train_rows,
        "budget_examples": SEARCH_BUDGET * train_rows * NUM_TRAIN_EPOCHS, "examples_spent": examples_seen(study),
        "trials": rows, "recheck": recheck, "recheck_runs": runs,
    }
    write_json(args.out, record)
    print(f"{args.task}: search {phases['search']} s ({record['search_wall_over_one_recipe_run']}x one recipe run "
          f"of {one_run:.0f} s), re-check {phases['recheck']} s; {recheck['verdict']}")


if __name__ == "__main__":
    main()
