"""Run a parameterized notebook once per task with papermill: in parallel, failure-isolated and resumable.

A failed task keeps its notebook and log and fails alone; a rerun skips finished tasks and sets a failed attempt's
files aside whole (`*.failed-N*`) before running it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ..errors import GlueHelpersError
from ..rundir import METRICS, RUN_OUTPUTS, write_json, write_text
from .lock import BatchStopping, ChildProcesses, run_lock
from .plan import LOG, MANIFEST, PARAMETERS, STATUS, BatchPlan, as_json, read_record, task_outcome, task_succeeded
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
    kernel: str | None = None
    threads: int | None = None

    @property
    def parameters_file(self) -> Path:
        """The task's parameters, as papermill reads them (`-f`)."""
        return self.folder / PARAMETERS

    @property
    def log(self) -> Path:
        """papermill's log and the notebook's stdout/stderr."""
        return self.folder / LOG


def _archived(folder: Path, name: str, label: str, n: int) -> Path:
    """`<stem>.<label>-N<suffix>`: model -> model.failed-1, metrics.json -> metrics.failed-1.json."""
    path = Path(name)
    return folder / f"{path.stem}.{label}-{n}{path.suffix}"


def archive_previous(folder: Path, notebook_name: str, label: str) -> list[Path]:
    """Rename the previous attempt's notebook, status and run outputs to *.<label>-N.* (one N); nothing is deleted."""
    names = [n for n in dict.fromkeys((notebook_name, *RUN_OUTPUTS, STATUS)) if (folder / n).exists()]
    if not names:
        return []
    n = 1
    while any(_archived(folder, name, label, n).exists() for name in names):
        n += 1
    kept = []
    for name in names:
        target = _archived(folder, name, label, n)
        (folder / name).rename(target)
        kept.append(target)
    return kept


# papermill gives a kernel 60 s to answer; on a busy machine (--jobs N kernels importing torch at once, or a loaded
# cluster node) one measured over 60 s and its task failed without running a cell.
KERNEL_START_TIMEOUT_S = 300


def papermill_command(job: BatchJob) -> list[str]:
    """The `python -m papermill` command for one task (its parameters.yaml), run in the notebook's folder."""
    cmd = [sys.executable, "-m", "papermill", str(job.notebook), str(job.output), "-f", str(job.parameters_file),
           "--cwd", str(job.notebook.parent), "--log-output", "--no-progress-bar", "--log-level", "INFO",
           "--start-timeout", str(KERNEL_START_TIMEOUT_S)]
    if job.kernel:
        cmd += ["--kernel", job.kernel]
    return cmd


def notebook_error(path: str | Path) -> str | None:
    """The first error an executed notebook shows, as 'Name: value (cell N)', or None."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')} (cell {cell.get('execution_count')})"
    return None


def _log_tail(path: Path, lines: int = 3) -> str:
    """The last non-empty lines of a log, joined, for an error with no notebook to show it."""
    text = [x for x in path.read_text(errors="replace").splitlines() if x.strip()] if path.is_file() else []
    return " | ".join(text[-lines:])


def task_environment(threads: int | None) -> dict:
    """This environment, with each notebook's CPU threads capped to its share unless the user chose already."""
    env = dict(os.environ)
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, str(threads))
    return env


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
    metrics = job.folder / METRICS
    if not metrics.is_file():
        return f"the notebook finished but wrote no {METRICS}"
    _, problem = read_record(metrics, required=True)
    return problem


def run_task(job: BatchJob, children: ChildProcesses | None = None) -> dict:
    """Execute the notebook for one task in a papermill process, log to run.log, write status.json; never raises."""
    start = time.monotonic()
    job.folder.mkdir(parents=True, exist_ok=True)
    write_text(job.parameters_file, yaml.safe_dump(job.parameters, sort_keys=False))
    with open(job.log, "a", encoding="utf-8") as log_file:
        log_file.write(f"\n===== {job.run}: {datetime.now(timezone.utc).isoformat()} =====\n"
                       f"parameters: {json.dumps(job.parameters)}\n")
        log_file.flush()
        error = _execute(job, log_file, children or ChildProcesses())
        outcome = "succeeded" if error is None else f"failed: {error}"
        log_file.write(f"===== {job.run}: {outcome} =====\n")
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
                    parameters=as_json(plan.task_parameters(name)), kernel=plan.kernel, threads=threads)


def prepare_task(plan: BatchPlan, name: str) -> list[Path]:
    """Create the task folder and keep any previous attempt under a new name; return what was kept."""
    folder = plan.task_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    label = "previous" if task_succeeded(plan, name) else "failed"
    return archive_previous(folder, plan.notebook.name, label)


@dataclass
class BatchReport:
    """What a batch run did."""

    statuses: dict[str, dict]
    skipped: list[str]
    table: object = None  # one row per run (results.csv)
    summary: object = None  # one row per task over its seeds (results_summary.csv)
    outputs: list[Path] = field(default_factory=list)
    submission: Path | None = None
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
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    children = children or ChildProcesses()
    statuses = {}
    pool = ThreadPoolExecutor(max(1, jobs))
    try:
        with tqdm(total=len(jobs_list), desc="GLUE batch", unit="task", disable=not progress or not jobs_list) as bar:
            futures = {pool.submit(run_task, job, children): job for job in jobs_list}
            for future in as_completed(futures):
                job = futures[future]
                statuses[job.run] = _result_or_crash(future, job)
                bar.update()
                bar.write(status_line(statuses[job.run]))
    except BaseException:
        children.stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return {job.run: statuses[job.run] for job in jobs_list}


def _result_or_crash(future, job: BatchJob) -> dict:
    """The task's status, or a failed status when running it raised (e.g. its folder is not writable)."""
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - an unexpected error fails its task only
        status = {"run": job.run, "status": "failed", "error": f"batch error: {type(err).__name__}: {err}",
                  "parameters": job.parameters, "log": str(job.log)}
        write_json(job.folder / STATUS, status)
        return status


def status_line(status: dict) -> str:
    """One line per finished task."""
    if status.get("status") == "succeeded":
        return f"  ok      {status['run']:8s} {status.get('seconds', '?')} s"
    return f"  FAILED  {status['run']:8s} {status.get('error')}  (log: {status.get('log')})"


def task_problems(plan: BatchPlan) -> dict[str, str]:
    """Tasks whose status.json or metrics.json is unreadable, and what is wrong (the file's path and why)."""
    problems = {}
    for name in plan.runs:
        state, problem = task_outcome(plan.task_dir(name))
        if state == "corrupt":
            problems[name] = problem
    return problems


def gather(plan: BatchPlan, statuses: dict[str, dict] | None = None, skipped: list[str] | None = None,
           problems: dict[str, str] | None = None) -> BatchReport:
    """Write results.csv/.md/.png and glue_submission.zip for all of the plan's tasks (runs nothing)."""
    plan.out.mkdir(parents=True, exist_ok=True)
    problems = task_problems(plan) if problems is None else problems
    table, summary, outputs = write_results(plan.out, plan.runs)
    chosen = submission_runs(table)
    if plan.models:  # a leaderboard takes one model's files: one zip per model, in its folder
        zips = {slug: collect_submission(plan.out / slug, [plan.task_dir(run) for run in chosen
                                                            if run.startswith(f"{slug}/")]) for slug in plan.models}
        return BatchReport(statuses or {}, skipped or [], table, summary, outputs, problems=problems, submissions=zips)
    zip_path, missing = collect_submission(plan.out, [plan.task_dir(run) for run in chosen])
    return BatchReport(statuses or {}, skipped or [], table, summary, outputs, zip_path, missing, problems)


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
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    wanted = [sig for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig is not None]
    previous = {sig: signal.signal(sig, interrupt) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_batch(plan: BatchPlan, jobs: int = 1, force: bool = False, progress: bool = True,
              executor=None) -> BatchReport:
    """Run the pending tasks (here, `jobs` at a time, or on `executor`), then gather the results of all tasks."""
    if jobs < 1:
        raise GlueHelpersError(f"--jobs must be at least 1, got {jobs}.")
    with run_lock(plan.out) as lock, _signals_stop_the_batch():
        if executor is not None:
            executor.check(plan)  # before anything is written or archived: can the workers run here at all?
        return _run_locked(plan, jobs, force, progress, ChildProcesses(lock), executor)


def _run_locked(plan: BatchPlan, jobs: int, force: bool, progress: bool, children: ChildProcesses,
                executor=None) -> BatchReport:
    """run_batch's body, under the folder lock."""
    write_json(plan.out / MANIFEST, {**plan.manifest(), "overrides": as_json(plan.overrides),
                                     "updated_at": datetime.now(timezone.utc).isoformat()})
    problems = task_problems(plan)
    for name, problem in problems.items():
        print(f"{name}: {problem}; it runs again (the old files are kept as *.failed-N.*).", file=sys.stderr)
    todo, skipped = pending_tasks(plan, force)
    for name in todo:
        prepare_task(plan, name)
    if executor is not None:
        statuses = executor.execute([make_job(plan, name, executor.threads) for name in todo], progress)
    else:
        threads = _threads_per_job(min(jobs, len(todo)) or 1)
        statuses = execute_jobs([make_job(plan, name, threads) for name in todo], jobs, progress, children)
    return gather(plan, statuses, skipped, problems)
