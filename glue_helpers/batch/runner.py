"""Run a parameterized notebook once per GLUE task with papermill: in parallel, failure-isolated and resumable.

Layout of a run folder `<out>`:
  batch.json                 the notebook and shared parameters of this run (a different run is refused)
  <task>/<notebook>.ipynb    the executed notebook (errors shown in it when the task failed)
  <task>/run.log             papermill's log and the notebook's stdout/stderr
  <task>/status.json         written when the task ends: succeeded or failed, parameters, time
  <task>/metrics.json        written by the notebook; <task>/model, <task>/leaderboard/ too
  <task>/*.failed-N*         an earlier attempt, set aside whole before the task runs again
  results.csv/.md/.png, glue_submission.zip
  .batch.lock                while a batch runs: its pid, host, start time and notebook processes

A task is finished when its status.json says succeeded and its metrics.json parses. The notebooks run in their own
sessions and die with the batch (Linux: even on kill -9), and a new batch waits for a killed one's notebooks, so two
runs never write one folder. Every file written here goes through `glue_helpers.atomic` (temp file + rename).
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from .atomic import write_json, write_text
from .errors import GlueHelpersError
from .rundir import METRICS, RUN_OUTPUTS
from .tasks import TASK_NAMES, get_task

DEFAULT_NOTEBOOK = Path("notebooks/01_text_classification.ipynb")
MANIFEST = "batch.json"
STATUS = "status.json"
LOG = "run.log"
LOCK = ".batch.lock"
POLL_S = 0.5  # how often a running task's new processes (its kernel) are recorded in the lock
ORPHAN_WAIT_S = 15.0  # how long a new batch waits for a killed batch's notebooks to stop before it refuses
STOP_GRACE_S = 3.0  # how long stopped notebooks get to exit before they are killed
PR_SET_PDEATHSIG = 1  # linux/prctl.h
RESERVED = ("task", "output_dir")
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)", re.IGNORECASE)


def parse_value(text: str):
    """A command-line value the way papermill's `-p` reads it: True/False/None, int, float, else the string."""
    if not isinstance(text, str):
        return text
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    if _INT.fullmatch(text):
        return int(text)
    return float(text) if _FLOAT.fullmatch(text) else text


def _numbers_from_yaml(value):
    """YAML reads 2e-5 as a string; read numbers the way `-p` does (strings only)."""
    return parse_value(value) if isinstance(value, str) and _FLOAT.fullmatch(value) else value


def _is_task_file(name: str) -> bool:
    """True for a custom task's YAML file rather than a GLUE task name."""
    return str(name).endswith((".yaml", ".yml"))


def resolve_tasks(names: list[str] | None, custom: dict[str, str] | None = None) -> list[str]:
    """Canonical task names in the given order, without repeats; every unknown name listed in one error.
    A custom task's YAML path is named by its task name, and `custom` (name -> absolute YAML path) records it."""
    names = list(names or TASK_NAMES)
    custom = {} if custom is None else custom
    found, unknown = [], []
    for name in names:
        try:
            if name in custom:
                found.append(name)
                continue
            task = get_task(name)
            if _is_task_file(name):
                custom[task.name] = str(Path(name).expanduser().resolve())
            found.append(task.name)
        except GlueHelpersError as err:
            unknown.append(f"{name!r} ({err})" if _is_task_file(name) else repr(name))
    if unknown:
        raise GlueHelpersError(f"Unknown task(s): {', '.join(unknown)}. Valid GLUE tasks: "
                               f"{', '.join(TASK_NAMES)} (aliases such as 'sst-2', 'sts-b', 'mnli_mm' work too), "
                               "or a custom task's .yaml file.")
    return list(dict.fromkeys(found))


@dataclass
class BatchConfig:
    """A batch YAML: shared parameters, per-task overrides, and optionally which tasks to run."""

    parameters: dict
    overrides: dict[str, dict]
    run: list[str] | None
    custom: dict[str, str]


def load_config(path: str | Path) -> BatchConfig:
    """A YAML file with `parameters:` (shared), `tasks: {task: {name: value}}` (per-task overrides) and
    `run: [cola, my_task.yaml]` (the tasks, GLUE names or custom task files, when --tasks is not given)."""
    path = Path(path)
    if not path.is_file():
        raise GlueHelpersError(f"Config file {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise GlueHelpersError(f"Config file {path}: not valid YAML ({' '.join(str(err).split())}). It holds plain "
                               "keys and values: parameters, tasks and run.") from None
    extra = set(data) - {"parameters", "tasks", "run"} if isinstance(data, dict) else {"(not a mapping)"}
    if extra:
        raise GlueHelpersError(f"{path}: only the keys 'parameters', 'tasks' and 'run' are allowed, found "
                               f"{sorted(extra)}.")
    params, per_task, run = data.get("parameters") or {}, data.get("tasks") or {}, data.get("run")
    if not isinstance(params, dict) or not isinstance(per_task, dict) or not all(
            isinstance(v, dict) for v in per_task.values()):
        raise GlueHelpersError(f"{path}: 'parameters' must map names to values and 'tasks' must map each task to "
                               "its own {name: value} overrides, e.g. tasks: {mrpc: {num_train_epochs: 5}}.")
    if run is not None and (not isinstance(run, list) or not run):
        raise GlueHelpersError(f"{path}: 'run' must be a non-empty list of tasks, e.g. run: [cola, reviews.yaml].")
    custom: dict[str, str] = {}
    if run:
        run = resolve_tasks([str(path.parent / r) if _is_task_file(r) and not os.path.isabs(r) else r for r in run],
                            custom)
    canon = resolve_tasks(list(per_task), custom) if per_task else []
    overrides = {t: {k: _numbers_from_yaml(v) for k, v in per_task[n].items()} for t, n in zip(canon, per_task,
                                                                                                strict=True)}
    return BatchConfig({k: _numbers_from_yaml(v) for k, v in params.items()}, overrides, run, custom)


def _absolute_paths(params: dict) -> dict:
    """Relative paths that exist from here become absolute, since the notebook runs in its own folder."""
    out = {}
    for key, value in params.items():
        is_rel_path = isinstance(value, str) and value and not os.path.isabs(value) and Path(value).exists()
        out[key] = str(Path(value).resolve()) if is_rel_path else value
    return out


@dataclass
class BatchPlan:
    """What to run: a notebook, an output folder, tasks, shared parameters and per-task overrides."""

    notebook: Path
    out: Path
    tasks: list[str]
    parameters: dict = field(default_factory=dict)
    overrides: dict[str, dict] = field(default_factory=dict)
    kernel: str | None = None
    custom: dict[str, str] = field(default_factory=dict)

    def task_dir(self, task: str) -> Path:
        """Where one task's notebook, log, metrics and model go."""
        return self.out / task

    def task_parameters(self, task: str) -> dict:
        """Shared parameters, then the task's overrides, then task and output_dir."""
        return {**self.parameters, **self.overrides.get(task, {}), "task": self.custom.get(task, task),
                "output_dir": str(self.task_dir(task))}

    def manifest(self) -> dict:
        """What identifies this run in batch.json (as JSON would read it back)."""
        custom = {"custom_tasks": self.custom} if self.custom else {}
        return json.loads(json.dumps({"notebook": str(self.notebook), "parameters": self.parameters, **custom}))


def declared_parameters(notebook: Path) -> dict:
    """The parameters the notebook's `parameters` cell declares (papermill's own parser)."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def check_parameters(notebook: Path, parameters: dict, overrides: dict[str, dict]) -> None:
    """Refuse parameters the notebook does not declare (papermill would only warn), and reserved ones."""
    declared = declared_parameters(notebook)
    if not declared:
        raise GlueHelpersError(f"{notebook} has no cell tagged 'parameters', so batch cannot parameterize it.")
    missing = [p for p in RESERVED if p not in declared]
    if missing:
        raise GlueHelpersError(f"{notebook} must declare {' and '.join(missing)} in its parameters cell: batch "
                               "sets them for each task.")
    reserved = sorted(set(parameters).union(*overrides.values()).intersection(RESERVED))
    if reserved:
        raise GlueHelpersError(f"Don't set {', '.join(reserved)}: batch sets them per task (use --tasks and --out).")
    unknown = sorted(set(parameters).union(*overrides.values()) - set(declared))
    if unknown:
        raise GlueHelpersError(f"{notebook} does not declare parameter(s) {', '.join(unknown)}. It declares: "
                               f"{', '.join(declared)}.")


def _read_json(path: Path) -> dict:
    """A JSON file as a dict, or {} when it is absent or unreadable."""
    return read_record(path)[0]


def read_record(path: Path, required: bool = False) -> tuple[dict, str | None]:
    """A JSON object file and what is wrong with it: ({}, None) when absent (unless `required`), ({}, problem)
    when it is truncated, not JSON or not an object, so a caller can say which file instead of crashing."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}, f"{path} is missing" if required else None
    except (OSError, UnicodeDecodeError) as err:
        return {}, f"{path} can't be read ({err})"
    try:
        record = json.loads(text)
    except ValueError as err:
        return {}, f"{path} is not valid JSON, e.g. truncated ({err})"
    if not isinstance(record, dict):
        return {}, f"{path} does not hold a JSON object"
    return record, None


def task_outcome(folder: Path) -> tuple[str, str | None]:
    """How a task's folder says it ended: 'succeeded' (status.json says so and metrics.json parses), 'failed',
    'not run', or 'corrupt' (status.json or a finished task's metrics.json is unreadable); and the problem."""
    status, problem = read_record(folder / STATUS)
    if problem:
        return "corrupt", problem
    state = status.get("status", "not run")
    if state != "succeeded":
        return state, None
    _, problem = read_record(folder / METRICS, required=True)
    return ("corrupt", problem) if problem else ("succeeded", None)


def check_out_dir(plan: BatchPlan, force: bool) -> None:
    """Refuse an output folder holding another run (other notebook/parameters, or a task done differently)."""
    if force:
        return
    old = _read_json(plan.out / MANIFEST)
    if old and {k: v for k in ("notebook", "parameters", "custom_tasks") if (v := old.get(k)) is not None} != \
            plan.manifest():
        raise GlueHelpersError(
            f"{plan.out} holds a different run (notebook {old.get('notebook')}, parameters {old.get('parameters')}); "
            f"this one is notebook {plan.notebook}, parameters {plan.parameters}. Use another --out, or --force "
            "to rerun every chosen task there (previous notebooks are kept as *.previous-N.ipynb).")
    changed = [t for t in plan.tasks if task_succeeded(plan, t)
               and _read_json(plan.task_dir(t) / STATUS).get("parameters") != _as_json(plan.task_parameters(t))]
    if changed:
        raise GlueHelpersError(f"Task(s) {', '.join(changed)} in {plan.out} finished with other parameters; use "
                               "another --out, or --force to redo them.")


def _as_json(value):
    """The value as it reads back from JSON."""
    return json.loads(json.dumps(value))


def find_notebook(path: str | Path) -> Path:
    """The notebook path, absolute; the default one is also found from outside the repo (editable install)."""
    path = Path(path).expanduser()
    in_repo = Path(__file__).resolve().parents[1] / DEFAULT_NOTEBOOK
    if path == DEFAULT_NOTEBOOK and not path.is_file() and in_repo.is_file():
        return in_repo
    return path.resolve()


def make_plan(notebook: str | Path, out: str | Path, tasks: list[str] | None = None, parameters: dict | None = None,
              config: str | Path | None = None, kernel: str | None = None, force: bool = False) -> BatchPlan:
    """Check everything that can be checked before any work starts, and return the plan."""
    config = load_config(config) if config else BatchConfig({}, {}, None, {})
    custom = dict(config.custom)
    chosen = resolve_tasks(tasks or config.run, custom)
    notebook = find_notebook(notebook)
    if not notebook.is_file():
        raise GlueHelpersError(f"Notebook {str(notebook)!r} does not exist (pass --notebook PATH).")
    if notebook.suffix != ".ipynb":
        raise GlueHelpersError(f"{notebook} is not a .ipynb notebook; pair/convert it first, e.g. "
                               f"`jupytext --to ipynb {notebook.name}`.")
    shared, overrides = config.parameters, config.overrides
    cli = dict(parameters or {})
    shared = _absolute_paths({**shared, **cli})
    overrides = {t: _absolute_paths({k: v for k, v in o.items() if k not in cli}) for t, o in overrides.items()}
    check_parameters(notebook, shared, overrides)
    plan = BatchPlan(notebook, Path(out).expanduser().resolve(), chosen, shared,
                     {t: o for t, o in overrides.items() if t in chosen and o}, kernel,
                     {t: p for t, p in custom.items() if t in chosen})
    check_out_dir(plan, force)
    return plan


def task_succeeded(plan: BatchPlan, task: str) -> bool:
    """True when the task finished: its status.json says succeeded and its metrics.json parses."""
    return task_outcome(plan.task_dir(task))[0] == "succeeded"


def _archived(folder: Path, name: str, label: str, n: int) -> Path:
    """`<stem>.<label>-N<suffix>`: model -> model.failed-1, metrics.json -> metrics.failed-1.json."""
    path = Path(name)
    return folder / f"{path.stem}.{label}-{n}{path.suffix}"


def archive_previous(folder: Path, notebook_name: str, label: str) -> list[Path]:
    """Rename the previous attempt's notebook, status and every run output (metrics, model, leaderboard, ...) to
    *.<label>-N.*, one N for the whole attempt; nothing is deleted and the next attempt starts in a clean folder."""
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


def papermill_command(job: dict) -> list[str]:
    """The `python -m papermill` command line for one task (parameters from the task's parameters.yaml)."""
    cmd = [sys.executable, "-m", "papermill", job["notebook"], job["output"], "-f", job["parameters_file"],
           "--cwd", job["cwd"], "--log-output", "--no-progress-bar", "--log-level", "INFO"]
    return cmd + (["--kernel", job["kernel"]] if job.get("kernel") else [])


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


def _execute(job: dict, log_file, children: ChildProcesses) -> str | None:
    """Run papermill in its own process, output to run.log; return None on success, else the error line."""
    try:
        proc = children.start(papermill_command(job), stdout=log_file, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=task_environment(job.get("threads")))
    except BatchStopping:
        return "not started: the batch was stopped"
    except OSError as err:
        return f"could not start papermill: {err}"
    code = children.wait(proc)
    if children.stopping:
        return f"stopped: the batch was interrupted (papermill exit code {code})"
    if code != 0:
        return notebook_error(job["output"]) or f"papermill exited with {code}: {_log_tail(Path(job['folder']) / LOG)}"
    metrics = Path(job["folder"]) / METRICS
    if not metrics.is_file():
        return f"the notebook finished but wrote no {METRICS}"
    _, problem = read_record(metrics, required=True)
    return problem


def run_task(job: dict, children: ChildProcesses | None = None) -> dict:
    """Execute the notebook for one task in a papermill process, log to run.log, write status.json; never raises."""
    folder, start = Path(job["folder"]), time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    write_text(job["parameters_file"], yaml.safe_dump(job["parameters"], sort_keys=False))
    with open(folder / LOG, "a", encoding="utf-8") as log_file:
        log_file.write(f"\n===== {job['task']}: {datetime.now(timezone.utc).isoformat()} =====\n"
                       f"parameters: {json.dumps(job['parameters'])}\n")
        log_file.flush()
        error = _execute(job, log_file, children or ChildProcesses())
        log_file.write(f"===== {job['task']}: {'succeeded' if error is None else 'failed: ' + error} =====\n")
    status = {"task": job["task"], "status": "succeeded" if error is None else "failed", "error": error,
              "seconds": round(time.monotonic() - start, 1), "finished_at": datetime.now(timezone.utc).isoformat(),
              "notebook": job["notebook"], "executed_notebook": job["output"], "log": str(folder / LOG),
              "parameters": job["parameters"]}
    write_json(folder / STATUS, status)
    return status


def make_job(plan: BatchPlan, task: str, threads: int | None = None) -> dict:
    """Everything one worker needs to run one task (plain data, so it pickles)."""
    folder = plan.task_dir(task)
    return {"task": task, "folder": str(folder), "notebook": str(plan.notebook),
            "output": str(folder / plan.notebook.name), "parameters": _as_json(plan.task_parameters(task)),
            "parameters_file": str(folder / "parameters.yaml"), "kernel": plan.kernel, "cwd": str(plan.notebook.parent),
            "threads": threads}


def prepare_task(plan: BatchPlan, task: str) -> list[Path]:
    """Create the task folder and keep any previous attempt under a new name; return what was kept."""
    folder = plan.task_dir(task)
    folder.mkdir(parents=True, exist_ok=True)
    label = "previous" if task_succeeded(plan, task) else "failed"
    return archive_previous(folder, plan.notebook.name, label)


@dataclass
class BatchReport:
    """What a batch run did."""

    statuses: dict[str, dict]
    skipped: list[str]
    table: object = None
    outputs: list[Path] = field(default_factory=list)
    submission: Path | None = None
    missing_files: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        """Tasks that failed in this run."""
        return [t for t, s in self.statuses.items() if s.get("status") != "succeeded"]


def pending_tasks(plan: BatchPlan, force: bool) -> tuple[list[str], list[str]]:
    """(tasks to run, tasks already done and skipped)."""
    done = [] if force else [t for t in plan.tasks if task_succeeded(plan, t)]
    return [t for t in plan.tasks if t not in done], done


def _threads_per_job(jobs: int) -> int:
    """CPU threads each parallel notebook gets."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def execute_jobs(jobs_list: list[dict], jobs: int, progress: bool = True,
                 children: ChildProcesses | None = None) -> dict[str, dict]:
    """Run the jobs `jobs` at a time (each a papermill process), with a progress bar over tasks. Interrupted
    (Ctrl-C, SIGTERM, an error), it stops every notebook it started before it returns."""
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
                statuses[job["task"]] = _result_or_crash(future, job)
                bar.update()
                bar.write(status_line(statuses[job["task"]]))
    except BaseException:
        children.stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return {j["task"]: statuses[j["task"]] for j in jobs_list}


def _result_or_crash(future, job: dict) -> dict:
    """The task's status, or a failed status when running it raised (e.g. its folder is not writable)."""
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - an unexpected error fails its task only
        status = {"task": job["task"], "status": "failed", "error": f"batch error: {type(err).__name__}: {err}",
                  "parameters": job["parameters"], "log": str(Path(job["folder"]) / LOG)}
        write_json(Path(job["folder"]) / STATUS, status)
        return status


def status_line(status: dict) -> str:
    """One line per finished task."""
    if status.get("status") == "succeeded":
        return f"  ok      {status['task']:8s} {status.get('seconds', '?')} s"
    return f"  FAILED  {status['task']:8s} {status.get('error')}  (log: {status.get('log')})"


def task_problems(plan: BatchPlan) -> dict[str, str]:
    """Tasks whose status.json or metrics.json is unreadable, and what is wrong (the file's path and why)."""
    found = {t: task_outcome(plan.task_dir(t)) for t in plan.tasks}
    return {t: problem for t, (state, problem) in found.items() if state == "corrupt"}


def gather(plan: BatchPlan, statuses: dict[str, dict] | None = None, skipped: list[str] | None = None,
           problems: dict[str, str] | None = None) -> BatchReport:
    """Write results.csv/.md/.png and glue_submission.zip for all of the plan's tasks (runs nothing). `problems`:
    the corrupt files this run found (and redid); by default, those the folder holds now."""
    from .results import write_results
    from .submission import collect_submission

    plan.out.mkdir(parents=True, exist_ok=True)
    problems = task_problems(plan) if problems is None else problems
    table, outputs = write_results(plan.out, plan.tasks)
    done = [t for t in plan.tasks if task_succeeded(plan, t)]
    zip_path, missing = collect_submission(plan.out, [plan.task_dir(t) for t in done])
    return BatchReport(statuses or {}, skipped or [], table, outputs, zip_path, missing, problems)


class BatchStopping(Exception):
    """The batch is stopping: start no more notebooks."""


def _create_time(pid: int) -> float | None:
    """When a process started (with its pid, it names the process even after the pid is reused), or None."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def process_alive(pid: int, create_time: float | None = None) -> bool:
    """True when that process (the same one, if its start time is known) is running and not a zombie."""
    import psutil

    try:
        proc = psutil.Process(int(pid))
        if create_time is not None and abs(proc.create_time() - float(create_time)) > 1:
            return False  # the pid was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _descendants(pid: int) -> list[tuple[int, float]]:
    """(pid, start time) of every process below `pid` (papermill's kernel), or [] when it is gone."""
    import psutil

    try:
        return [(p.pid, p.create_time()) for p in psutil.Process(pid).children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


@functools.cache
def _prctl():
    """libc's prctl on Linux, loaded in the parent so a forked child only has to call it; else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent():
    """A `preexec_fn` that makes the child die (SIGKILL) when this process dies, even by `kill -9` (Linux
    PR_SET_PDEATHSIG); None elsewhere, where children are stopped on SIGTERM, Ctrl-C and exit only."""
    prctl, parent = _prctl(), os.getpid()
    if prctl is None:
        return None

    def set_death_signal():
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_death_signal


class ChildProcesses:
    """This batch's notebook processes (papermill and the kernel it starts): each runs in its own session and dies
    with the batch; they are recorded in the lock, so a new batch waits for them; `stop_all` stops them."""

    def __init__(self, lock: BatchLock | None = None):
        self.lock, self.stopping = lock, False
        self._families: dict[int, dict[int, float]] = {}  # papermill pid -> {pid: start time} of it and its kernel
        self._mutex = threading.Lock()

    def start(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        """Start a child in its own session (a terminal's Ctrl-C reaches the batch, which stops it) that dies with
        this process."""
        with self._mutex:
            if self.stopping:
                raise BatchStopping
            proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent(), **kwargs)
            self._families[proc.pid] = {}
        self._record(proc.pid, [(proc.pid, _create_time(proc.pid) or time.time())])
        return proc

    def wait(self, proc: subprocess.Popen) -> int:
        """Wait for a child, recording the processes it starts (its kernel) as they appear; forget them after."""
        try:
            while True:
                try:
                    return proc.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    self._record(proc.pid, _descendants(proc.pid))
        finally:
            with self._mutex:
                self._families.pop(proc.pid, None)
            self._save()

    def _record(self, root: int, found: list[tuple[int, float]]) -> None:
        """Add processes to a child's family; rewrite the lock when there is a new one."""
        with self._mutex:
            family = self._families.get(root)
            new = family is not None and any(pid not in family for pid, _ in found)
            if new:
                family.update(found)
        if new:
            self._save()

    def records(self) -> list[dict]:
        """Every recorded process, as the lock stores it."""
        with self._mutex:
            return [{"pid": pid, "create_time": t} for family in self._families.values() for pid, t in family.items()]

    def _save(self) -> None:
        """Write the recorded processes into the lock."""
        if self.lock is not None:
            self.lock.set_children(self.records())

    def stop_all(self) -> None:
        """Stop every child and its kernel: SIGTERM, then SIGKILL for whatever is left after STOP_GRACE_S."""
        import psutil

        with self._mutex:
            self.stopping = True
            wanted = [(pid, t) for root, family in self._families.items()
                      for pid, t in [*family.items(), *_descendants(root)]]
        procs = []
        for pid, started in dict(wanted).items():
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - started) <= 1:
                    proc.terminate()
                    procs.append(proc)
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_S)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass


@contextmanager
def _takers_in_turn(folder: Path):
    """Let one batch at a time look at and take the folder's lock (an flock on the folder itself), so two never
    both decide that one stale lock is theirs. Where flock is missing (Windows), os.link alone keeps it atomic."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_lock(path: Path) -> dict | None:
    """The lock's record ({pid, host, create_time, started_at, children}), None when it is gone; a file that is
    not a batch lock is an error saying how to clear it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        text = f"<unreadable: {err}>"
    if _INT.fullmatch(text.strip()):
        return {"pid": int(text.strip())}  # written by an older version: a bare pid
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        raise GlueHelpersError(f"The batch lock {path} is not a lock this program wrote (it holds {text[:80]!r}). "
                               f"If no batch is running in {path.parent}, delete it (rm '{path}') and run again.")
    return record


class BatchLock:
    """`<out>/.batch.lock`: which batch runs in a folder (pid, host, start time) and its notebook processes.
    It is created whole in one step (a hard link to a written file), and stale only when none of them is alive."""

    def __init__(self, out: Path):
        self.out, self.path = out, out / LOCK
        self.record = {"pid": os.getpid(), "host": socket.gethostname(), "create_time": _create_time(os.getpid()),
                       "started_at": datetime.now(timezone.utc).isoformat(), "token": os.urandom(8).hex(),
                       "children": []}

    def acquire(self) -> BatchLock:
        """Take the lock, or raise naming who holds it; a stale one (nothing of it alive) is taken over."""
        self.out.mkdir(parents=True, exist_ok=True)
        with _takers_in_turn(self.out):
            while not self._create():
                self._clear_if_stale()
        return self

    def _temp_copy(self) -> Path:
        """The record in a new file beside the lock."""
        fd, tmp = tempfile.mkstemp(dir=self.out, prefix=f"{LOCK}.tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.record, f)
        return Path(tmp)

    def _create(self) -> bool:
        """Create the lock with its whole record at once; False when there is one already."""
        tmp = self._temp_copy()
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: exclusive create, still under _takers_in_turn
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(tmp.read_text())
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _clear_if_stale(self) -> None:
        """Remove the lock when its batch and notebooks are all gone; else raise saying who still runs."""
        held = read_lock(self.path)
        if held is None:
            return
        host, pid = held.get("host"), held["pid"]
        if host not in (None, socket.gethostname()):
            raise GlueHelpersError(f"A batch on host {host} (process {pid}) holds {self.path}. If it no longer runs, "
                                   f"delete the lock (rm '{self.path}') and run again.")
        if process_alive(pid, held.get("create_time")):
            raise GlueHelpersError(f"Another batch (process {pid}) is running in {self.out}; wait for it or use "
                                   "another --out.")
        left = _wait_for_orphans(held.get("children") or [])
        if left:
            pids = " ".join(str(c["pid"]) for c in left)
            raise GlueHelpersError(
                f"The batch that held {self.path} (process {pid}) is gone, but its notebook process(es) {pids} still "
                f"write in {self.out}. Wait for them to end, or stop them (kill {pids}), then run again.")
        self.path.unlink(missing_ok=True)

    def set_children(self, children: list[dict]) -> None:
        """Record the batch's notebook processes in the lock (replaced whole, so a reader never sees half)."""
        self.record["children"] = children
        os.replace(self._temp_copy(), self.path)

    def release(self) -> None:
        """Remove the lock if it is still this batch's."""
        try:
            held = read_lock(self.path)
        except GlueHelpersError:
            return
        if held and held.get("token") == self.record["token"]:
            self.path.unlink(missing_ok=True)


def _wait_for_orphans(children: list[dict]) -> list[dict]:
    """The recorded notebook processes of a dead batch still alive after up to ORPHAN_WAIT_S (they die with their
    batch, a kernel within about a second)."""
    deadline = time.monotonic() + ORPHAN_WAIT_S
    alive = [c for c in children if process_alive(c["pid"], c.get("create_time"))]
    if alive:
        print(f"Waiting for the notebooks of a stopped batch to exit (process(es) "
              f"{' '.join(str(c['pid']) for c in alive)}) ...", file=sys.stderr)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [c for c in alive if process_alive(c["pid"], c.get("create_time"))]
    return alive


@contextmanager
def run_lock(out: Path):
    """Hold `<out>/.batch.lock` while running, so two batches never write the same folder at once."""
    lock = BatchLock(out).acquire()
    try:
        yield lock
    finally:
        lock.release()


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


def run_batch(plan: BatchPlan, jobs: int = 1, force: bool = False, progress: bool = True) -> BatchReport:
    """Run the pending tasks, then gather the results of all of the plan's tasks."""
    if jobs < 1:
        raise GlueHelpersError(f"--jobs must be at least 1, got {jobs}.")
    with run_lock(plan.out) as lock, _signals_stop_the_batch():
        return _run_locked(plan, jobs, force, progress, ChildProcesses(lock))


def _run_locked(plan: BatchPlan, jobs: int, force: bool, progress: bool, children: ChildProcesses) -> BatchReport:
    """run_batch's body, under the folder lock."""
    write_json(plan.out / MANIFEST, {**plan.manifest(), "overrides": _as_json(plan.overrides),
                                     "updated_at": datetime.now(timezone.utc).isoformat()})
    problems = task_problems(plan)
    for task, problem in problems.items():
        print(f"{task}: {problem}; it runs again (the old files are kept as *.failed-N.*).", file=sys.stderr)
    todo, skipped = pending_tasks(plan, force)
    for task in todo:
        prepare_task(plan, task)
    threads = _threads_per_job(min(jobs, len(todo)) or 1)
    statuses = execute_jobs([make_job(plan, t, threads) for t in todo], jobs, progress, children)
    return gather(plan, statuses, skipped, problems)
