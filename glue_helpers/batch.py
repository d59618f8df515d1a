"""Run a parameterized notebook once per GLUE task with papermill: in parallel, failure-isolated and resumable.

Layout of a run folder `<out>`:
  batch.json                 the notebook and shared parameters of this run (a different run is refused)
  <task>/<notebook>.ipynb    the executed notebook (errors shown in it when the task failed)
  <task>/run.log             papermill's log and the notebook's stdout/stderr
  <task>/status.json         written when the task ends: succeeded or failed, parameters, time
  <task>/metrics.json        written by the notebook; <task>/model, <task>/leaderboard/ too
  results.csv/.md/.png, glue_submission.zip
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from .errors import GlueHelpersError
from .tasks import TASK_NAMES, get_task

DEFAULT_NOTEBOOK = Path("notebooks/01_text_classification.ipynb")
MANIFEST = "batch.json"
STATUS = "status.json"
LOG = "run.log"
LOCK = ".batch.lock"
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
    data = yaml.safe_load(path.read_text()) or {}
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
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


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
    """True when the task's status.json says it finished successfully."""
    return _read_json(plan.task_dir(task) / STATUS).get("status") == "succeeded"


def _next_free(folder: Path, stem: str, label: str, suffix: str) -> Path:
    """`<stem>.<label>-N<suffix>` with the first N not taken."""
    n = 1
    while (folder / f"{stem}.{label}-{n}{suffix}").exists():
        n += 1
    return folder / f"{stem}.{label}-{n}{suffix}"


def archive_previous(folder: Path, notebook_name: str, label: str) -> list[Path]:
    """Rename the previous attempt's notebook, metrics and status to *.<label>-N.*; nothing is deleted."""
    kept = []
    for name in (notebook_name, "metrics.json", STATUS):
        path = folder / name
        if path.exists():
            target = _next_free(folder, path.stem, label, path.suffix)
            path.rename(target)
            kept.append(target)
    return kept


def _write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (a crash never leaves half a status file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


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


def _execute(job: dict, log_file) -> str | None:
    """Run papermill in its own process, output to run.log; return None on success, else the error line."""
    try:
        code = subprocess.run(papermill_command(job), stdout=log_file, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=task_environment(job.get("threads")),
                              check=False).returncode
    except OSError as err:
        return f"could not start papermill: {err}"
    if code != 0:
        return notebook_error(job["output"]) or f"papermill exited with {code}: {_log_tail(Path(job['folder']) / LOG)}"
    if not (Path(job["folder"]) / "metrics.json").is_file():
        return "the notebook finished but wrote no metrics.json"
    return None


def run_task(job: dict) -> dict:
    """Execute the notebook for one task in a papermill process, log to run.log, write status.json; never raises."""
    folder, start = Path(job["folder"]), time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    Path(job["parameters_file"]).write_text(yaml.safe_dump(job["parameters"], sort_keys=False))
    with open(folder / LOG, "a", encoding="utf-8") as log_file:
        log_file.write(f"\n===== {job['task']}: {datetime.now(timezone.utc).isoformat()} =====\n"
                       f"parameters: {json.dumps(job['parameters'])}\n")
        log_file.flush()
        error = _execute(job, log_file)
        log_file.write(f"===== {job['task']}: {'succeeded' if error is None else 'failed: ' + error} =====\n")
    status = {"task": job["task"], "status": "succeeded" if error is None else "failed", "error": error,
              "seconds": round(time.monotonic() - start, 1), "finished_at": datetime.now(timezone.utc).isoformat(),
              "notebook": job["notebook"], "executed_notebook": job["output"], "log": str(folder / LOG),
              "parameters": job["parameters"]}
    _write_json(folder / STATUS, status)
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


def execute_jobs(jobs_list: list[dict], jobs: int, progress: bool = True) -> dict[str, dict]:
    """Run the jobs `jobs` at a time (each a papermill process), with a progress bar over tasks."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    statuses = {}
    with ThreadPoolExecutor(max(1, jobs)) as pool, \
            tqdm(total=len(jobs_list), desc="GLUE batch", unit="task", disable=not progress or not jobs_list) as bar:
        futures = {pool.submit(run_task, job): job for job in jobs_list}
        for future in as_completed(futures):
            job = futures[future]
            statuses[job["task"]] = _result_or_crash(future, job)
            bar.update()
            bar.write(status_line(statuses[job["task"]]))
    return {j["task"]: statuses[j["task"]] for j in jobs_list}


def _result_or_crash(future, job: dict) -> dict:
    """The task's status, or a failed status when running it raised (e.g. its folder is not writable)."""
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - an unexpected error fails its task only
        status = {"task": job["task"], "status": "failed", "error": f"batch error: {type(err).__name__}: {err}",
                  "parameters": job["parameters"], "log": str(Path(job["folder"]) / LOG)}
        _write_json(Path(job["folder"]) / STATUS, status)
        return status


def status_line(status: dict) -> str:
    """One line per finished task."""
    if status.get("status") == "succeeded":
        return f"  ok      {status['task']:8s} {status.get('seconds', '?')} s"
    return f"  FAILED  {status['task']:8s} {status.get('error')}  (log: {status.get('log')})"


def gather(plan: BatchPlan, statuses: dict[str, dict] | None = None, skipped: list[str] | None = None) -> BatchReport:
    """Write results.csv/.md/.png and glue_submission.zip for all of the plan's tasks (runs nothing)."""
    from .results import write_results
    from .submission import collect_submission

    plan.out.mkdir(parents=True, exist_ok=True)
    table, outputs = write_results(plan.out, plan.tasks)
    done = [t for t in plan.tasks if task_succeeded(plan, t)]
    zip_path, missing = collect_submission(plan.out, [plan.task_dir(t) for t in done])
    return BatchReport(statuses or {}, skipped or [], table, outputs, zip_path, missing)


def _pid_alive(pid: int) -> bool:
    """True when a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(out: Path):
    """Hold `<out>/.batch.lock` while running, so two batches never write the same folder at once."""
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pid = int(lock.read_text().strip() or 0) if lock.is_file() else 0
        if pid and _pid_alive(pid):
            raise GlueHelpersError(f"Another batch (process {pid}) is running in {out}; wait for it or use another "
                                   "--out.") from None
        lock.unlink(missing_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def run_batch(plan: BatchPlan, jobs: int = 1, force: bool = False, progress: bool = True) -> BatchReport:
    """Run the pending tasks, then gather the results of all of the plan's tasks."""
    if jobs < 1:
        raise GlueHelpersError(f"--jobs must be at least 1, got {jobs}.")
    with run_lock(plan.out):
        return _run_locked(plan, jobs, force, progress)


def _run_locked(plan: BatchPlan, jobs: int, force: bool, progress: bool) -> BatchReport:
    """run_batch's body, under the folder lock."""
    _write_json(plan.out / MANIFEST, {**plan.manifest(), "overrides": _as_json(plan.overrides),
                                      "updated_at": datetime.now(timezone.utc).isoformat()})
    todo, skipped = pending_tasks(plan, force)
    for task in todo:
        prepare_task(plan, task)
    threads = _threads_per_job(min(jobs, len(todo)) or 1)
    statuses = execute_jobs([make_job(plan, t, threads) for t in todo], jobs, progress)
    return gather(plan, statuses, skipped)
