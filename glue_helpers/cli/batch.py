"""`python -m glue_helpers batch`: run a notebook for every GLUE task and gather the results."""

from __future__ import annotations

import argparse

from ..errors import GlueHelpersError
from ..tasks import LEADERBOARD_FILES, TASK_NAMES

EXAMPLES = """examples:
  python -m glue_helpers batch --smoke --jobs 2  # every task on the offline kit, into runs/batch
  python -m glue_helpers batch --out runs/real --tasks cola stsb mrpc -p data_dir glue \\
      -p model_checkpoint distilbert-base-uncased --config batch.yaml
  python -m glue_helpers batch --out runs/seeds --tasks rte mrpc stsb --seeds 42 43 44 -p num_train_epochs 2
  python -m glue_helpers batch --out runs/grid --tasks rte mrpc --seeds 42 43 \\
      --models distilbert-base-uncased google/electra-small-discriminator  # <out>/<model>/<task>/seed-<n>/
  python -m glue_helpers compare runs/grid/distilbert-base-uncased runs/grid/google--electra-small-discriminator
  python -m glue_helpers batch --out /shared/runs/grid ... --executor ray --address auto --gpus-per-run 1
Run the same command again to resume: finished runs are skipped, failed or missing ones run (add a seed to run
only that seed). --report-only gathers what <out> holds, also a folder of `train` runs (train --output-dir
<out>/<task>, or <out>/<task>/seed-<n>)."""


def collect_parameters(pairs: list[list[str]] | None) -> dict:
    """`-p name value` pairs as a dict, values read like papermill's `-p`."""
    from ..batch.plan import parse_value

    return {name: parse_value(value) for name, value in pairs or []}


def _task_line(row) -> str:
    """One task of the summary: its metric, median, mean ± std and min–max over seeds, and what went wrong."""
    import pandas as pd

    if not row.seeds:
        return f"  {row.task:8s} {'':22s} no finished run"
    metric = row.metric if isinstance(row.metric, str) else ""
    spread = f" mean {row.mean:.1f} ± {row.std:.1f} [{row.min:.1f}, {row.max:.1f}]" if row.seeds > 1 else ""
    ref = f" (this model published: {row.model_ref:.1f})" if pd.notna(row.model_ref) else ""
    flags = {"failed": row.failed, "degenerate": row.degenerate, "outside its model's published band": row.outside_ref}
    return (f"  {row.task:8s} {metric:22s} median {row.median:.1f}{spread}, {row.seeds} run(s){ref}"
            + "".join(f", {count} {flag}" for flag, count in flags.items() if count))


def print_report(report) -> None:
    """Per-task summary over seeds, the averages, where the outputs are, and which leaderboard files are missing."""
    from ..batch.results import summary_lines

    if report.skipped:
        print(f"skipped (already finished; --force to redo): {', '.join(report.skipped)}")
    print(*map(_task_line, report.summary.itertuples(index=False)), *summary_lines(report.summary), sep="\n")
    print("results: " + ", ".join(str(p) for p in report.outputs))
    files = len(LEADERBOARD_FILES)
    if report.submission is not None:  # (none when every run had write_leaderboard=False)
        print(f"submission: {report.submission} ({files - len(report.missing_files)} of {files} leaderboard files)")
        if report.missing_files:
            print(f"missing leaderboard files: {', '.join(report.missing_files)}")
    for slug, (path, missing) in report.submissions.items():
        print(f"submission of {slug}: {path} ({files - len(missing)} of {files} leaderboard files)")
    states = dict(zip(report.table["run"], report.table["status"], strict=True))
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
    from ..batch.plan import make_plan, seeds_on_disk
    from ..batch.runner import gather, run_batch
    from ..recipe import Recipe
    from ..rundir import TRACKING, check_report_to, dashboard_command, offline_defaults

    # A report runs nothing, so a folder holding other runs (or `train` runs) is read, not refused.
    parameters = {**collect_parameters(args.param), **({"smoke": True} if args.smoke else {})}
    plan = make_plan(args.notebook, args.out, args.tasks, parameters, args.config, args.kernel,
                     force=args.force or args.report_only, seeds=args.seeds, models=args.models,
                     check_runs=not args.report_only, on_cluster=args.executor == "ray")
    report_to = check_report_to(plan.parameters.get("report_to", Recipe.report_to))  # before any notebook starts
    for task_parameters in plan.overrides.values():
        check_report_to(task_parameters.get("report_to", report_to))
    if report_to != "none" and not args.report_only:  # one trackio/W&B/MLflow store for all runs of the batch
        offline_defaults(report_to, plan.out / TRACKING)
    if args.report_only:  # a report finds the seeds run there
        plan.seeds = plan.seeds or seeds_on_disk(plan.out, plan.tasks, list(plan.models or []) or None)
        report = gather(plan)
    else:
        report = run_batch(plan, jobs=args.jobs, force=args.force, progress=not args.no_progress,
                           executor=make_executor(args))
    print_report(report)
    if report_to != "none":
        print("watch every run of the batch in one dashboard:", dashboard_command(report_to, plan.out))
    return 0 if all(s == "succeeded" for s in report.table["status"]) else 1


def make_executor(args):
    """The executor the flags ask for: None runs the notebooks here (--jobs at a time); `ray` on a Ray cluster."""
    if args.executor != "ray":
        ray_options = ("address", "gpus_per_run", "cpus_per_run", "ray_retries")
        ray_flags = [f"--{name.replace('_', '-')}" for name in ray_options if getattr(args, name) is not None]
        if ray_flags:
            raise GlueHelpersError(f"{', '.join(ray_flags)} only apply with --executor ray.")
        return None
    from ..batch.ray_executor import RayExecutor

    return RayExecutor(args.address, args.cpus_per_run or 1, args.gpus_per_run, args.ray_retries or 0)


def register(sub) -> None:
    """Add the `batch` sub-command."""
    p = sub.add_parser("batch", help="run a notebook for every GLUE task (parallel, resumable) and gather results",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/batch",
                   help="run folder: <out>/<task>/ per task, results and zip at the top (default: %(default)s)")
    p.add_argument("--notebook", help="parameterized notebook (default: notebook 01, shipped with the package)")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help=f"default: all ({' '.join(TASK_NAMES)})")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="a notebook parameter for every task (like papermill -p); wins over --config")
    p.add_argument("--config", help="YAML with 'parameters:' and per-task 'tasks: {mrpc: {num_train_epochs: 5}}'")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="run every task once per seed, in <out>/<task>/seed-<n>/ (wins over the config's 'seeds:'); "
                        "the results show median, mean ± std and min-max over seeds")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="run the whole grid once per model (Hub id or folder), in <out>/<model>/<task>[/seed-<n>]/ "
                        "(a Hub id's '/' is '--' there); wins over the config's 'models:'")
    p.add_argument("--jobs", type=int, default=1, help="tasks run in parallel, each in its own process (default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: processes on this machine, --jobs at a time (default); ray: one Ray task per run on "
                        "a Ray cluster (pip install -e '.[ray]'); --out must be storage every node sees")
    p.add_argument("--address", help="ray: the cluster, 'auto' (ray start on this machine) or ray://HOST:10001 "
                                     "(default: $RAY_ADDRESS, else a local cluster for this batch)")
    p.add_argument("--gpus-per-run", type=float, help="ray: GPUs per run (default 1 when the cluster has GPUs, else 0)")
    p.add_argument("--cpus-per-run", type=float, help="ray: CPUs per run, also its threads (default 1)")
    p.add_argument("--ray-retries", type=int,
                   help="ray: times Ray reruns a run whose worker died (default 0: it is marked failed, and running "
                        "the batch again reruns it)")
    p.add_argument("--smoke", action="store_true", help="the offline kit's tiny model and data (-p smoke True)")
    p.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--force", action="store_true", help="redo finished tasks / reuse a folder of another run")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: only write results.* and glue_submission.zip from what <out> holds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
