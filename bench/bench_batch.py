"""Benchmark: wall time of the 10-task smoke batch (`python -m glue_helpers batch -p smoke True --jobs N`).

Prints the figure (and the machine's load, since other work on the box slows it); it asserts nothing.
Usage: python bench/bench_batch.py [--jobs 2] [--tasks cola mrpc ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 90.0


def run_once(out: Path, jobs: int, tasks: list[str] | None) -> tuple[float, int]:
    """Run the smoke batch into `out`; return (wall seconds, exit code)."""
    cmd = [sys.executable, "-m", "glue_helpers", "batch", "--out", str(out), "-p", "smoke", "True",
           "--jobs", str(jobs), "--no-progress", "--force"] + (["--tasks", *tasks] if tasks else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    code = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=False).returncode
    return time.perf_counter() - start, code


def main() -> int:
    """Warm the offline kit, time one smoke batch, print the result."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tasks", nargs="+")
    parser.add_argument("--keep", help="keep the run folder here instead of a temporary one")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "glue_helpers", "kit"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_batch_"))
    load_before = os.getloadavg()[0]
    seconds, code = run_once(out, args.jobs, args.tasks)
    n = len(args.tasks) if args.tasks else 10
    print(f"smoke batch: {n} tasks, --jobs {args.jobs}, {os.cpu_count()} CPUs: {seconds:.1f} s wall "
          f"(target <= {TARGET_S:.0f} s for 10 tasks on 2 cores), exit code {code}, "
          f"load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
