"""Run a parameterized notebook once per task with papermill: in parallel, failure-isolated and resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ..errors import GlueHelpersError
from ..rundir import METRICS, RUN_OUTPUTS, write_json, write_text
from .lock import BatchStopping, ChildProcesses, run_lock
from .plan import (
    LOG,
    MANIFEST,
    PARAMETERS,
    STATUS,
    BatchPlan,
    as_json,
    is_packaged,
    make_plan,
    read_record,
    task_outcome,
    task_succeeded,
)
from .results import group_keys, write_results
from .submission import collect_submission


@dataclass(frozen=True)
class BatchJob:
    """Everything one worker needs to run one task's notebook."""

    run: str  # the run's name: its folder under the batch folder, `<task>` or `<task>/seed-<n>`
    folder: Path
    notebook: Path
    output: Path  # the executed notebook
    parameters: dict
    log: Path  # papermill's log and the notebook's stdout/stderr
    kernel: str | None = None
    threads: int | None = None


def archive_previous(folder: Path, notebook_name: str, label: str) -> list[Path]:
    """Rename the previous attempt's notebook, status and run outputs to *.<label>-N.* (one N); nothing is deleted."""
    # a rerun then starts clean, and a failed attempt's files stay whole beside it (`*.failed-N*`)
    names = [Path(n) for n in dict.fromkeys((notebook_name, *RUN_OUTPUTS, STATUS)) if (folder / n).exists()]
    n = 1
    while any((folder / f"{name.stem}.{label}-{n}{name.suffix}").exists() for name in names):
        n += 1
    return [(folder / name).rename(folder / f"{name.stem}.{label}-{n}{name.suffix}") for name in names]


# papermill's default 60 s for a kernel to answer failed tasks on busy machines (N kernels importing torch at once)
KERNEL_START_TIMEOUT_S = 300


def _papermill(notebook: Path, executed: Path, parameters_file: Path, cwd, *options: str) -> list[str]:
    """The `python -m papermill` command running `notebook` into `executed` with its parameters file, in `cwd`."""
    return [sys.executable, "-m", "papermill", str(notebook), str(executed), "-f", str(parameters_file), "--cwd",
            str(cwd), "--no-progress-bar", "--start-timeout", str(KERNEL_START_TIMEOUT_S), *options]


def papermill_command(job: BatchJob) -> list[str]:
    """The papermill command for one task, run in the notebook's folder (a packaged notebook: in the run's folder)."""
    cwd = job.folder if is_packaged(job.notebook) else job.notebook.parent
    cmd = _papermill(job.notebook, job.output, job.folder / PARAMETERS, cwd, "--log-output", "--log-level", "INFO")
    return cmd + ["--kernel", job.kernel] if job.kernel else cmd


def notebook_error(path: str | Path, ours_bare: bool = False) -> str | None:
    """An executed notebook's first error, 'Name: value (cell N)' (ours as its message with `ours_bare`), or None."""
    try:
        cells = json.loads(Path(path).read_text()).get("cells", [])
    except (OSError, ValueError):
        return None
    errors = [(cell.get("execution_count"), out.get("ename"), out.get("evalue")) for cell in cells
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if not errors:
        return None
    number, name, value = errors[0]
    return value if ours_bare and name == GlueHelpersError.__name__ else f"{name}: {value} (cell {number})"


def _log_tail(path: Path) -> str:
    """The last three non-empty lines of a log, joined, for an error with no notebook to show it."""
    text = [x for x in path.read_text(errors="replace").splitlines() if x.strip()] if path.is_file() else []
    return " | ".join(text[-3:])


def task_environment(threads: int | None) -> dict:
    """This environment, with each notebook's CPU threads capped to its share unless the user chose already."""
    capped = dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS"), str(threads)) if threads else {}
    return {**capped, **os.environ}


def _execute(job: BatchJob, log_file, children: ChildProcesses) -> str | None:
    """Run papermill in its own process, output to run.log; return None on success, else the error line."""
    try:
        proc = children.start(papermill_command(job), stdout=log_file, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=task_environment(job.threads))
    except BatchStopping:
        return "not started: the batch was stopped"
    except OSError as err:
        return f"could not start papermill: {err}"
    code = children.wait(proc)
    if children.stopping:
        return f"stopped: the batch was interrupted (papermill exit code {code})"
    if code != 0:
        return notebook_error(job.output) or f"papermill exited with {code}: {_log_tail(job.log)}"
    if not (job.folder / METRICS).is_file():
        return f"the notebook finished but wrote no {METRICS}"
    return read_record(job.folder / METRICS, required=True)[1]


def run_task(job: BatchJob, children: ChildProcesses | None = None) -> dict:
    """Execute the notebook for one task in a papermill process, log to run.log, write status.json; never raises."""
    start = time.monotonic()
    write_text(job.folder / PARAMETERS, yaml.safe_dump(job.parameters, sort_keys=False))  # creates the folder
    with open(job.log, "a", encoding="utf-8") as log_file:
        print(f"\n===== {job.run}: {datetime.now(timezone.utc).isoformat()} =====\n"
              f"parameters: {json.dumps(job.parameters)}", file=log_file, flush=True)
        error = _execute(job, log_file, children or ChildProcesses())
        log_file.write(f"===== {job.run}: {'succeeded' if error is None else f'failed: {error}'} =====\n")
    status = {"run": job.run, "status": "succeeded" if error is None else "failed", "error": error,
              "seconds": round(time.monotonic() - start, 1), "finished_at": datetime.now(timezone.utc).isoformat(),
              "notebook": str(job.notebook), "executed_notebook": str(job.output), "log": str(job.log),
              "parameters": job.parameters}
    write_json(job.folder / STATUS, status)
    return status


def make_job(plan: BatchPlan, name: str, threads: int | None = None) -> BatchJob:
    """Everything one worker needs to run one task."""
    folder = plan.task_dir(name)
    return BatchJob(run=name, folder=folder, notebook=plan.notebook, output=folder / plan.notebook.name,
                    parameters=as_json(plan.task_parameters(name)), log=folder / LOG, kernel=plan.kernel,
                    threads=threads)


@dataclass
class BatchReport:
    """What a batch run did."""

    statuses: dict[str, dict]
    skipped: list[str]
    table: object = None  # one row per run (results.csv)
    summary: object = None  # one row per task over its seeds (results_summary.csv)
    outputs: list[Path] = field(default_factory=list)
    submission: Path | None = None  # None: no leaderboard file, so no zip
    missing_files: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    submissions: dict[str, tuple[Path, list[str]]] = field(default_factory=dict)  # a grid's, per model: zip, missing

    @property
    def failed(self) -> list[str]:
        """Tasks that failed in this run."""
        return [name for name, status in self.statuses.items() if status.get("status") != "succeeded"]


def pending_tasks(plan: BatchPlan, force: bool) -> tuple[list[str], list[str]]:
    """(tasks to run, tasks already done and skipped)."""
    done = [] if force else [name for name in plan.runs if task_succeeded(plan, name)]
    return [name for name in plan.runs if name not in done], done


def _threads_per_job(jobs: int) -> int:
    """CPU threads each parallel notebook gets."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def execute_jobs(jobs_list: list[BatchJob], jobs: int, progress: bool = True,
                 children: ChildProcesses | None = None) -> dict[str, dict]:
    """Run the jobs `jobs` at a time with a progress bar; interrupted, stop every notebook started."""
    from tqdm.auto import tqdm

    children, statuses = children or ChildProcesses(), {}
    bar = tqdm(total=len(jobs_list), desc="GLUE batch", unit="task", disable=not progress or not jobs_list)
    with ThreadPoolExecutor(max(1, jobs)) as pool, bar:
        try:
            futures = {pool.submit(run_task, job, children): job for job in jobs_list}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    statuses[job.run] = future.result()
                except Exception as err:  # noqa: BLE001 - an unexpected error (e.g. an unwritable folder) fails its task
                    statuses[job.run] = {"run": job.run, "status": "failed", "parameters": job.parameters,
                                         "error": f"batch error: {type(err).__name__}: {err}", "log": str(job.log)}
                    write_json(job.folder / STATUS, statuses[job.run])
                bar.update()
                bar.write(status_line(statuses[job.run]))
        except BaseException:
            children.stop_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return {job.run: statuses[job.run] for job in jobs_list}


def status_line(status: dict) -> str:
    """One line per finished task."""
    if status.get("status") == "succeeded":
        return f"  ok      {status['run']:8s} {status.get('seconds', '?')} s"
    return f"  FAILED  {status['run']:8s} {status.get('error')}  (log: {status.get('log')})"


def task_problems(plan: BatchPlan) -> dict[str, str]:
    """Tasks whose status.json or metrics.json is unreadable, and what is wrong (the file's path and why)."""
    outcomes = {name: task_outcome(plan.task_dir(name)) for name in plan.runs}
    return {name: problem for name, (state, problem) in outcomes.items() if state == "corrupt"}


def gather(plan: BatchPlan, statuses: dict[str, dict] | None = None, skipped: list[str] | None = None,
           problems: dict[str, str] | None = None) -> BatchReport:
    """Write results.csv/.md/.png and glue_submission.zip for all of the plan's tasks (runs nothing)."""
    problems = task_problems(plan) if problems is None else problems
    table, summary, outputs = write_results(plan.out, plan.runs)
    report = BatchReport(statuses or {}, skipped or [], table, summary, outputs, problems=problems)
    if not plan.writes_leaderboard:
        return report
    chosen = submission_runs(table)
    if not plan.models:
        report.submission, report.missing_files = collect_submission(plan.out, [plan.task_dir(r) for r in chosen])
    for slug in plan.models or ():  # a leaderboard takes one model's files: one zip per model, in its folder
        zipped = collect_submission(plan.out / slug, [plan.task_dir(r) for r in chosen if r.startswith(f"{slug}/")])
        if zipped[0] is not None:  # no files, no zip
            report.submissions[slug] = zipped
    return report


def submission_runs(table) -> list[str]:
    """Per task (and model): the run whose leaderboard files are zipped, the median non-degenerate finished seed."""
    # the median, not the best: a typical working run, neither the luckiest nor a collapsed one
    chosen = []
    done = table[table["status"] == "succeeded"]
    for _, runs in done.groupby(group_keys(table), sort=False):
        working = runs[~runs["degenerate"].eq(True)]
        ranked = (working if len(working) else runs).sort_values(["primary_value", "seed"], na_position="first",
                                                                  kind="stable")
        chosen.append(ranked["run"].iloc[(len(ranked) - 1) // 2])
    return chosen


@contextmanager
def _signals_stop_the_batch():
    """SIGTERM and SIGHUP stop the batch the way Ctrl-C does (its notebooks are stopped on the way out)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    main = threading.current_thread() is threading.main_thread()  # only the main thread may set handlers
    with ExitStack() as restore:
        for sig in [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if main and hasattr(signal, name)]:
            restore.callback(signal.signal, sig, signal.signal(sig, interrupt))  # the old handler is put back after
        yield


def run_batch(plan: BatchPlan, jobs: int = 1, force: bool = False, progress: bool = True,
              executor=None) -> BatchReport:
    """Run the pending tasks (here, `jobs` at a time, or on `executor`), then gather the results of all tasks."""
    if jobs < 1:
        raise GlueHelpersError(f"--jobs must be at least 1, got {jobs}.")
    with run_lock(plan.out) as lock, _signals_stop_the_batch():
        if executor is not None:
            executor.check(plan)  # before anything is written or archived: can the workers run here at all?
        write_json(plan.out / MANIFEST, {**plan.manifest(), "overrides": as_json(plan.overrides),
                                         "updated_at": datetime.now(timezone.utc).isoformat()})
        problems = task_problems(plan)
        for name, problem in problems.items():
            print(f"{name}: {problem}; it runs again (the old files are kept as *.failed-N.*).", file=sys.stderr)
        todo, skipped = pending_tasks(plan, force)
        for name in todo:
            plan.task_dir(name).mkdir(parents=True, exist_ok=True)
            archive_previous(plan.task_dir(name), plan.notebook.name,
                             "previous" if task_succeeded(plan, name) else "failed")
        threads = executor.threads if executor is not None else _threads_per_job(min(jobs, len(todo)) or 1)
        batch = [make_job(plan, name, threads) for name in todo]
        statuses = (executor.execute(batch, progress) if executor is not None
                    else execute_jobs(batch, jobs, progress, ChildProcesses(lock)))
        return gather(plan, statuses, skipped, problems)


def run_notebook_01(out: str | Path, task, seeds: list[int], parameters: dict, progress: bool = True) -> BatchReport:
    """Notebook 01 once per seed on one task (name, YAML or record) via the batch; raise, naming a failed run's log."""
    spec = getattr(task, "source", None) or getattr(task, "name", task)
    plan = make_plan(None, out, [spec], parameters, seeds=seeds)
    report = run_batch(plan, progress=progress)
    failed = report.table.loc[report.table["status"] != "succeeded", "run"].tolist()
    if failed:
        raise GlueHelpersError(f"Notebook 01 failed in {', '.join(failed)} under {plan.out}: "
                               f"see {plan.task_dir(failed[0]) / LOG} and the executed notebook beside it.")
    return report


def run_notebook(notebook: Path, folder: Path, parameters: dict, label: str) -> int:
    """Run a notebook in a child process that dies with this one, streaming its prints; raise its error as one line."""
    # the executed copy, parameters and log stay in `folder`, named by the time and `label` so none replaces another
    stem = f"{notebook.stem}.{datetime.now().strftime('%Y-%m-%d-%H%M%S')}.{label}"
    executed, log, parameters_file = (folder / f"{stem}{suffix}" for suffix in (".ipynb", ".log", ".parameters.yaml"))
    write_text(parameters_file, yaml.safe_dump(parameters, sort_keys=False))
    cmd = _papermill(notebook, executed, parameters_file, os.getcwd(), "--no-log-output", "--stdout-file", "-")
    children = ChildProcesses()
    with open(log, "a", encoding="utf-8") as log_file, _signals_stop_the_batch():
        # the notebook's own prints on stdout (here and in the log); warnings, progress bars and papermill: the log
        proc = children.start(cmd, stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL, text=True)
        try:
            for line in proc.stdout:
                print(line, end="", flush=True)
                log_file.write(line)
        except BaseException:
            children.stop_all()
            raise
        code = children.wait(proc)
    if code:
        error = notebook_error(executed, ours_bare=True) or f"papermill exited with {code}: {_log_tail(log)}"
        raise GlueHelpersError(f"{error} (executed notebook: {executed}; log: {log})")
    print(f"executed notebook: {executed}", flush=True)
    return 0
