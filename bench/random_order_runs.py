"""The package recipe with grouping off: `glue_helpers.train` runs in random batch order, as run folders that
`python -m glue_helpers compare` pairs, seed by seed, with a batch of notebook 01 (which `train` reproduces exactly,
tests/test_notebook01.py). Used by bench/bench_seeds.sh:

    python bench/random_order_runs.py --task stsb --seeds 42 43 44 --epochs 2 --data-dir glue --model MODEL \\
        --out bench/runs/seeds/random        # -> random/stsb/seed-<n>/{metrics.json, validation_predictions.jsonl}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def random_order_trainer():
    """GlueTrainer with `group_by_length=False`: the seed recipe's random batches, everything else the package's."""
    from glue_helpers.training import GlueTrainer

    class RandomOrderTrainer(GlueTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "group_by_length": False})

    return RandomOrderTrainer


def main() -> int:
    """Train once per seed, each in <out>/<task>/seed-<n>/, skipping seeds already there."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="stsb")
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    import glue_helpers.train as train_module
    from glue_helpers.tasks import get_task

    train_module.GlueTrainer = random_order_trainer()
    for seed in args.seeds:
        folder = Path(args.out) / args.task / f"seed-{seed}"
        if (folder / "metrics.json").is_file():
            print(f"skip {folder} (done)")
            continue
        record = train_module.train(get_task(args.task), args.model, folder, data_dir=args.data_dir,
                                    num_train_epochs=args.epochs, seed=seed, overwrite=True)
        print(f"{folder}: {record['primary_metric']} {record['primary_metric_value']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
