"""Speed benchmark: the seed notebook's recipe against glue_helpers' defaults, same model, data and epochs.

    python bench/bench_speed.py --task cola --model PATH --data-dir glue --epochs 2 --max-train-samples 2000

Each variant runs in its own subprocess (peak RSS per variant); with --repeats N the variants alternate, in reversed
order every other round, so machine noise hits all of them. Writes bench/results/speed-<time>-<host>.json and prints
a table.
Variants: see VARIANTS (`--variants seed,package,...`; `--ablation` runs them all).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

VARIANTS: dict[str, dict] = {
    "seed": {"recipe": "seed", "doc": "HF text_classification notebook: batch 16/16, full checkpoints, random order"},
    "seed-bf16": {"recipe": "seed", "args": {"bf16": True},
                  "doc": "the seed recipe with TrainingArguments(bf16=True): transformers' own bf16 path"},
    "package": {"recipe": "package", "doc": "glue_helpers defaults (training_arguments + GlueTrainer)"},
    "pkg-random-order": {"recipe": "package", "trainer_args": {"group_by_length": False},
                         "doc": "package without length grouping"},
    "pkg-eval-batch-64": {"recipe": "package", "args": {"per_device_eval_batch_size": 64},
                          "doc": "package, eval batch 64"},
    "pkg-full-checkpoints": {"recipe": "package", "args": {"save_only_model": False},
                             "doc": "package, optimizer state in every checkpoint"},
    "pkg-plain-trainer": {"recipe": "package", "trainer": "plain",
                          "doc": "package args with transformers.Trainer (random order)"},
    "pkg-fp32": {"recipe": "package", "args": {"precision": "fp32"},
                 "doc": "package in fp32 (what precision='auto' gives where bf16 is not native)"},
    "pkg-1-worker": {"recipe": "package", "args": {"dataloader_num_workers": 1}, "doc": "package + 1 loader worker"},
}
DEFAULT_VARIANTS = ("seed", "package", "pkg-fp32")
FIGURES = [  # (key, label, format)
    ("tokenize_cold_s", "tokenize, cold cache (s)", "{:.2f}"),
    ("tokenize_warm_s", "tokenize, cached (s)", "{:.2f}"),
    ("train_samples_per_second", "train samples/s (Trainer, incl. eval+save)", "{:.1f}"),
    ("train_loop_samples_per_second", "train samples/s (steps only)", "{:.1f}"),
    ("train_samples_per_cpu_second", "train samples per CPU-second (incl. eval+save)", "{:.1f}"),
    ("train_loop_samples_per_cpu_second", "train samples per CPU-second (steps only)", "{:.1f}"),
    ("eval_samples_per_second", "eval samples/s", "{:.1f}"),
    ("dev_metric", "dev metric (best epoch)", "{:.4f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.0f}"),
    ("peak_gpu_mb", "peak GPU memory (MB)", "{:.0f}"),
    ("checkpoint_peak_bytes", "checkpoint disk, peak (MB)", "mb"),
    ("checkpoint_final_bytes", "checkpoint disk, final (MB)", "mb"),
    ("checkpoint_written_bytes", "checkpoint bytes written (MB)", "mb"),
]
PACKAGES = ("torch", "transformers", "datasets", "accelerate", "tokenizers", "numpy", "psutil")


def parse_args(argv=None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="cola", help="GLUE task(s), comma-separated (default cola)")
    p.add_argument("--model", help="model folder or Hub id (required unless --smoke)")
    p.add_argument("--data-dir", help="local GLUE folder in the nyu-mll/glue layout (required unless --smoke)")
    p.add_argument("--smoke", action="store_true", help="use the offline kit's tiny model and synthetic data")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-train-samples", type=int, default=2000)
    p.add_argument("--max-eval-samples", type=int, default=None, help="default: the whole dev split")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train-batch-size", type=int, default=None,
                   help="training batch size for every variant (default: each recipe's own, 16)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per variant (default: torch's own); 1 avoids OpenMP spin-waits on busy CPUs")
    p.add_argument("--repeats", type=int, default=1, help="rounds of all variants, alternating order")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {', '.join(VARIANTS)}")
    p.add_argument("--ablation", action="store_true", help="run every variant")
    p.add_argument("--output", help="result JSON (default bench/results/speed-<time>-<host>.json)")
    return p.parse_args(argv)


def resolve_inputs(args) -> tuple[str, str]:
    """Model and data folder: the kit's with --smoke, else the ones given."""
    if args.smoke:
        sys.path.insert(0, str(REPO))
        from glue_helpers.offline_kit import ensure_kit

        kit = ensure_kit()
        return str(kit.model_dir), str(kit.data_dir)
    if not args.model or not args.data_dir:
        sys.exit("error: --model and --data-dir are required (or --smoke for the offline kit)")
    return args.model, str(Path(args.data_dir).resolve())


def variant_names(args) -> list[str]:
    """The variants to run, checked."""
    names = list(VARIANTS) if args.ablation else [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        sys.exit(f"error: unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    return names


def run_variant(spec: dict, work: Path) -> dict:
    """Run one variant in a fresh subprocess with a fresh datasets cache; its result dict."""
    spec_path, result_path = work / f"{spec['variant']}-spec.json", work / f"{spec['variant']}-result.json"
    spec_path.write_text(json.dumps(spec))
    threads = {"OMP_NUM_THREADS": str(spec["threads"])} if spec.get("threads") else {}
    env = {**os.environ, **threads, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error",
           "HF_DATASETS_CACHE": tempfile.mkdtemp(dir=work),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / "bench_worker.py"), str(spec_path), str(result_path)],
                          env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"error: variant {spec['variant']} failed:\n{proc.stderr[-4000:]}")
    return {**json.loads(result_path.read_text()), "process_wall_s": time.perf_counter() - started}


def schedule(names: list[str], repeats: int) -> list[tuple[int, str]]:
    """(round, variant) pairs: every round runs all variants, every other round in reverse order."""
    return [(r, v) for r in range(repeats) for v in (names if r % 2 == 0 else names[::-1])]


def median_figures(runs: list[dict]) -> dict:
    """The median of each numeric figure over rounds, plus the per-round dev metrics."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["dev_metric_per_round"] = [r["dev_metric"] for r in runs]
    out["dev_metric_per_epoch"] = [r["dev_metric_per_epoch"] for r in runs]
    return out


def machine_info() -> dict:
    """Where the numbers come from: CPU, cores, memory, GPUs, library versions."""
    import psutil
    import torch

    from glue_helpers.training import resolve_precision

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"host": socket.gethostname(), "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "gpus": gpus, "auto_precision": resolve_precision("auto"), "python": platform.python_version(),
            "versions": {p: metadata.version(p) for p in PACKAGES}, "git_commit": git_commit()}


def git_commit() -> str:
    """The repository's HEAD commit (with '+dirty' when bench-relevant files changed), or '' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "glue_helpers", "bench"], cwd=REPO,
                               capture_output=True, text=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return ""


def fmt(value, how: str) -> str:
    """One table cell."""
    return f"{value / 1e6:.0f}" if how == "mb" else how.format(value)


def table(task: str, figures: dict[str, dict]) -> str:
    """A text table: one row per figure, one column per variant, and each variant's ratio to the seed recipe."""
    names = list(figures)
    others = [n for n in names if n != "seed"] if "seed" in figures else []
    head = ["figure", *names, *[f"{n}/seed" for n in others]]
    rows = [head]
    for key, label, how in FIGURES:
        cells = [fmt(figures[n][key], how) for n in names]
        ratios = [ratio(figures[n][key], figures["seed"][key]) for n in others]
        rows.append([label, *cells, *ratios])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    return f"== {task} ==\n" + "\n".join(lines)


def ratio(value: float, base: float) -> str:
    """value / base as '1.83x' (or '-' when the base is 0)."""
    return f"{value / base:.2f}x" if base else "-"


def main(argv=None) -> int:
    """Run every (task, round, variant), write the JSON, print the tables."""
    args = parse_args(argv)
    model, data_dir = resolve_inputs(args)
    names = variant_names(args)
    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    report = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
              "machine": machine_info(), "settings": {**vars(args), "model": model, "data_dir": data_dir},
              "variants": {n: VARIANTS[n] for n in names}, "tasks": {}}
    with tempfile.TemporaryDirectory(prefix="glue-bench-") as tmp:
        for task in tasks:
            runs: dict[str, list] = {n: [] for n in names}
            for rnd, name in schedule(names, args.repeats):
                spec = {**VARIANTS[name], "variant": name, "task": task, "model": model, "data_dir": data_dir,
                        "epochs": args.epochs, "max_train_samples": args.max_train_samples,
                        "max_eval_samples": args.max_eval_samples, "seed": args.seed, "work_dir": tmp,
                        "threads": args.threads, "train_batch_size": args.train_batch_size}
                print(f"[{task}] round {rnd + 1}/{args.repeats}: {name} ...", flush=True)
                runs[name].append(run_variant(spec, Path(tmp)))
            figures = {n: median_figures(r) for n, r in runs.items()}
            report["tasks"][task] = {"figures": figures, "runs": runs}
            print(table(task, figures), flush=True)
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}"
    out = Path(args.output) if args.output else RESULTS / f"speed-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
