"""`python -m glue_helpers batch`: run a notebook for every GLUE task and gather the results (`glue_helpers.batch`,
loaded on use)."""

from __future__ import annotations

import argparse

from ..recipe import BATCH_NOTEBOOK
from ..tasks import LEADERBOARD_FILES, TASK_NAMES

EXAMPLES = """examples:
  python -m glue_helpers batch --out runs/smoke -p smoke True --jobs 2
  python -m glue_helpers batch --out runs/real --tasks cola stsb mrpc -p data_dir glue \\
      -p model_checkpoint distilbert-base-uncased --config batch.yaml
Run the same command again to resume: finished tasks are skipped, failed or missing ones run.
--report-only gathers what <out> holds, also a folder of `train` runs (train --output-dir <out>/<task>)."""


def collect_parameters(pairs: list[list[str]] | None) -> dict:
    """`-p name value` pairs as a dict, values read like papermill's `-p`."""
    from ..batch.plan import parse_value

    return {name: parse_value(value) for name, value in pairs or []}


def print_report(report) -> None:
    """Per-task status, the averages, where the outputs are, and which leaderboard files are missing."""
    import pandas as pd

    from ..batch.results import summary_lines

    if report.skipped:
        print(f"skipped (already finished; --force to redo): {', '.join(report.skipped)}")
    table = report.table
    for row in table.itertuples(index=False):
        value = "" if pd.isna(row.primary_value) else f"{row.primary_value:.4f}"
        print(f"  {row.task:8s} {row.status:10s} {row.primary_metric if pd.notna(row.primary_metric) else '':22s} "
              f"{value}")
    for line in summary_lines(table):
        print(line)
    print("results: " + ", ".join(str(p) for p in report.outputs))
    found = len(LEADERBOARD_FILES) - len(report.missing_files)
    print(f"submission: {report.submission} ({found} of {len(LEADERBOARD_FILES)} leaderboard files)")
    if report.missing_files:
        print(f"missing leaderboard files: {', '.join(report.missing_files)}")
    states = dict(zip(table["task"], table["status"], strict=True))
    for name, problem in report.problems.items():
        if states.get(name) == "corrupt":
            print(f"corrupt: {name}: {problem}. Run the batch again (without --report-only) to redo {name}; its old "
                  "files are kept as *.failed-N.*.")
        else:
            print(f"redone: {name}: {problem}; the old files are kept as *.failed-N.*.")
    failed = [name for name, state in states.items() if state != "succeeded"]
    if failed:
        print(f"FAILED or not run: {', '.join(failed)} (see <out>/<task>/run.log and the executed notebook); "
              "run the same command again to retry only those.")


def run(args) -> int:
    """Validate everything, run the pending tasks, report; exit 1 when any task failed."""
    from ..batch.plan import make_plan
    from ..batch.runner import gather, run_batch

    # A report runs nothing, so a folder holding other runs (or `train` runs) is read, not refused.
    plan = make_plan(args.notebook, args.out, args.tasks, collect_parameters(args.param), args.config,
                     args.kernel, force=args.force or args.report_only)
    if args.report_only:
        report = gather(plan)
    else:
        report = run_batch(plan, jobs=args.jobs, force=args.force, progress=not args.no_progress)
    print_report(report)
    return 0 if all(s == "succeeded" for s in report.table["status"]) else 1


def register(sub) -> None:
    """Add the `batch` sub-command."""
    p = sub.add_parser("batch", help="run a notebook for every GLUE task (parallel, resumable) and gather results",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run folder: <out>/<task>/ per task, results and zip at the top")
    p.add_argument("--notebook", default=BATCH_NOTEBOOK, help="parameterized notebook (default: %(default)s)")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help=f"default: all ({' '.join(TASK_NAMES)})")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="a notebook parameter for every task (like papermill -p); wins over --config")
    p.add_argument("--config", help="YAML with 'parameters:' and per-task 'tasks: {mrpc: {num_train_epochs: 5}}'")
    p.add_argument("--jobs", type=int, default=1, help="tasks run in parallel, each in its own process (default 1)")
    p.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--force", action="store_true", help="redo finished tasks / reuse a folder of another run")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: only write results.* and glue_submission.zip from what <out> holds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
