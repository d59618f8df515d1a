"""Wall time of the 10-task smoke batch (`batch -p smoke True`) with the local executor and with `--executor ray` on a
local Ray cluster, at the same concurrency, and Ray's overhead per run.

    python bench/bench_ray.py --out /tmp/bench-ray --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def timed_batch(out: Path, extra: list[str]) -> float:
    """Seconds one `batch` command takes from a fresh folder (it must succeed)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "glue_helpers", "batch", "--out", str(out), "-p", "smoke", "True",
                    "--no-progress", *extra], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    """Run both executors one after the other and print one JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/bench-ray")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, for both executors (default 2)")
    args = parser.parse_args()
    out, runs = Path(args.out), 10
    local = timed_batch(out / "local", ["--jobs", str(args.jobs)])
    cpus = max(1, (os.cpu_count() or 1) // args.jobs)
    on_ray = timed_batch(out / "ray", ["--executor", "ray", "--cpus-per-run", str(cpus)])
    print(json.dumps({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                      "concurrent_runs": args.jobs, "local_s": round(local, 1), "ray_s": round(on_ray, 1),
                      "overhead_per_run_s": round((on_ray - local) * args.jobs / runs, 2)}))


if __name__ == "__main__":
    main()
