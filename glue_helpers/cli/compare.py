"""`python -m glue_helpers compare RUN_A RUN_B`: is B better than A, beyond validation-set noise?"""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  python -m glue_helpers compare runs/cola-lr2e-5 runs/cola-lr3e-5
  python -m glue_helpers compare runs/distilbert runs/bert --out runs/compare --resamples 2000
A and B are run folders, seed folders (seed-<n>/) or batch folders (<task>/ or <task>/seed-<n>/).
How to read the table: docs/compare.md."""


def run(args) -> int:
    """Compare, print the table and notes, write compare.md and compare.csv."""
    from ..batch.compare import compare_runs, formatted, notes, write_compare

    table = compare_runs(args.run_a, args.run_b, n_resamples=args.resamples, seed=args.seed)
    print(formatted(table).to_string(index=False))
    for line in notes(table):
        print(line)
    print("wrote: " + ", ".join(str(p) for p in write_compare(table, args.out)))
    return 0


def register(sub) -> None:
    """Add the `compare` sub-command."""
    p = sub.add_parser("compare", help="compare two runs or batches task by task (bootstrap interval, McNemar)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a", metavar="RUN_A", help="the baseline: a run, seed or batch folder")
    p.add_argument("run_b", metavar="RUN_B", help="the challenger; differences are B - A")
    p.add_argument("--out", default=".", help="where compare.md and compare.csv go (default: this folder)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)s)")
    p.set_defaults(func=run)
