"""What a batch runs, checked before any work starts, and how a task's folder says it ended."""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..custom_task import is_task_file, resolve_task
from ..errors import INTERFACE, GlueHelpersError, setting
from ..recipe import SEED_MAX, Recipe, check_knobs
from ..rundir import METRICS, read_yaml
from ..tasks import TASK_NAMES

BATCH_NOTEBOOK = "01_text_classification.ipynb"  # what `batch` runs by default
MANIFEST = "batch.json"
STATUS = "status.json"
PARAMETERS = "parameters.yaml"
LOG = "run.log"
RESERVED = ("task", "output_dir")
SEED_PARAMETER = "seed"  # reserved too when the batch runs several seeds: it sets it per run
MODEL_PARAMETER = "model_checkpoint"  # reserved too when the batch runs several models: it sets it per run
SEED_FOLDER = re.compile(r"seed-(\d+)")
CONFIG_KEYS = ("parameters", "tasks", "run", "seeds", "models")
_PACKAGE = Path(__file__).resolve().parents[1]
_WORDS = {"True": True, "False": False, "None": None}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)", re.IGNORECASE)
_UNSET = object()


def parse_value(text: str):
    """A command-line value the way papermill's `-p` reads it: True/False/None, int, float, else the string."""
    if not isinstance(text, str):
        return text
    if text in _WORDS:
        return _WORDS[text]
    return int(text) if _INT.fullmatch(text) else float(text) if _FLOAT.fullmatch(text) else text


def _numbers_from_yaml(values: dict) -> dict:
    """YAML reads 2e-5 as a string; read numbers the way `-p` does (strings only)."""
    return {key: parse_value(v) if isinstance(v, str) and _FLOAT.fullmatch(v) else v for key, v in values.items()}


def resolve_tasks(names: list[str] | None, custom: dict[str, str] | None = None, unique: bool = True) -> list[str]:
    """Canonical task names (default: all of GLUE), no repeats if `unique`; unknowns in one error; YAMLs in `custom`."""
    found, unknown, custom = [], [], {} if custom is None else custom
    for name in TASK_NAMES if names is None else names:
        if name in custom:
            found.append(name)
            continue
        try:
            task = resolve_task(name)  # a custom task's YAML is read and checked here, once
        except GlueHelpersError as err:
            unknown.append(f"{name!r} ({err})" if is_task_file(name) else repr(name))
            continue
        if is_task_file(name):
            path = str(Path(name).expanduser().resolve())
            if custom.setdefault(task.name, path) != path:
                raise GlueHelpersError(f"{custom[task.name]} and {path} both define a task named {task.name!r}; its "
                                       "runs would share one folder. Give one of them another `name:`.")
        found.append(task.name)
    if unknown:
        raise GlueHelpersError(f"Unknown task(s): {', '.join(unknown)}. Valid GLUE tasks: "
                               f"{', '.join(TASK_NAMES)} (aliases such as 'sst-2', 'sts-b', 'mnli_mm' work too), "
                               "or a custom task's .yaml file.")
    return list(dict.fromkeys(found)) if unique else found


@dataclass
class BatchConfig:
    """A batch YAML: shared parameters, per-task overrides, and optionally which tasks to run."""

    parameters: dict
    overrides: dict[str, dict]
    run: list[str] | None
    custom: dict[str, str]
    seeds: list[int] | None = None
    models: list[str] | None = None


def model_slug(checkpoint: str) -> str:
    """A model's folder name in a grid: a local folder's name, or a Hub id with `/` as `--`; unsafe characters `_`."""
    text = str(checkpoint).rstrip("/\\")
    local = os.path.isabs(text) or text.startswith((".", "~")) or Path(text).expanduser().exists()
    name = Path(text).expanduser().name if local else text.replace("/", "--")
    return _UNSAFE.sub("_", name).lstrip(".") or "model"


def check_models(models, where: str = "--models") -> dict[str, str] | None:
    """Models as {folder name: checkpoint}, in order (None: the notebook's own); two sharing a folder are refused."""
    if models is None:
        return None
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m.strip() for m in models):
        raise GlueHelpersError(f"{where} must list one or more model checkpoints (Hub ids or local folders), e.g. "
                               "--models distilbert-base-uncased bert-base-uncased (YAML: models: [a, b]).")
    slugs: dict[str, str] = {}
    for model in models:
        slug = model_slug(model)
        if slug in slugs:
            same = "is listed twice" if slugs[slug] == model else f"and {slugs[slug]!r} both"
            raise GlueHelpersError(f"{where}: {model!r} {same} map to the folder {slug!r}. List each model once; "
                                   "for two local folders of the same name, rename (or link) one of them.")
        slugs[slug] = model
    return slugs


def check_seeds(seeds, where: str = "--seeds") -> list[int] | None:
    """Seeds as a list of distinct non-negative integers (None: one run per task, with the notebook's seed)."""
    if seeds is None:
        return None
    if not isinstance(seeds, list) or not seeds:
        raise GlueHelpersError(f"{where} must list one or more seeds, e.g. --seeds 42 43 44 (YAML: seeds: [42, 43]).")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= SEED_MAX]
    if bad:
        raise GlueHelpersError(f"{where}: seeds are whole numbers from 0 to {SEED_MAX}; got "
                               f"{', '.join(map(repr, bad))}.")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise GlueHelpersError(f"{where}: seed(s) {', '.join(map(str, repeated))} listed twice; list each once.")
    return list(seeds)


def load_config(path: str | Path) -> BatchConfig:
    """A batch YAML: shared `parameters`, per-task `tasks` overrides, and `run`, `seeds`, `models` (the flags win)."""
    path = Path(path)
    data = read_yaml(path, "Config file", "'parameters: {num_train_epochs: 3}'")
    extra = set(data) - {*CONFIG_KEYS}
    if extra:
        raise GlueHelpersError(f"{path}: only the keys {', '.join(map(repr, CONFIG_KEYS))} are allowed, found "
                               f"{sorted(extra)}.")
    params, per_task, run = data.get("parameters") or {}, data.get("tasks") or {}, data.get("run")
    if not isinstance(params, dict) or not isinstance(per_task, dict) or not all(
            isinstance(v, dict) for v in per_task.values()):
        raise GlueHelpersError(f"{path}: 'parameters' must map names to values and 'tasks' must map each task to "
                               "its own {name: value} overrides, e.g. tasks: {mrpc: {num_train_epochs: 5}}.")
    if run is not None and (not isinstance(run, list) or not run):
        raise GlueHelpersError(f"{path}: 'run' must be a non-empty list of tasks, e.g. run: [cola, reviews.yaml].")
    custom: dict[str, str] = {}
    if run:  # a relative task YAML path is taken from the config's folder
        run = resolve_tasks([str(path.parent / name) if is_task_file(name) else name for name in run], custom)
    names = resolve_tasks(list(per_task), custom, unique=False)
    overrides = {name: _numbers_from_yaml(values) for name, values in zip(names, per_task.values(), strict=True)}
    check_models(data.get("models"), f"{path}: 'models'")
    seeds = check_seeds(data.get("seeds"), f"{path}: 'seeds'")
    return BatchConfig(_numbers_from_yaml(params), overrides, run, custom, seeds, data.get("models"))


def _absolute(value):
    """A relative path that exists from here, made absolute (the notebook runs in its own folder); else the value."""
    relative = isinstance(value, str) and value and not os.path.isabs(value) and Path(value).exists()
    return str(Path(value).resolve()) if relative else value


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
    seeds: list[int] | None = None
    models: dict[str, str] | None = None  # folder name -> checkpoint, with --models

    @property
    def runs(self) -> list[str]:
        """The runs by folder under `out`, `[<model>/]<task>[/seed-<n>]`; task-major, so a task's seeds end together."""
        return [run_name(task, seed, slug) for slug in self.models or [None] for task in self.tasks
                for seed in self.seeds or [None]]

    def task_dir(self, run: str) -> Path:
        """Where one run's notebook, log, metrics and model go."""
        return self.out / run

    def task_parameters(self, run: str) -> dict:
        """A run's parameters: shared, the task's overrides, its model and seed, then task and output_dir."""
        slug, task, seed = split_grid_run(run)
        seed = {} if seed is None else {SEED_PARAMETER: seed}
        model = {} if slug is None else {MODEL_PARAMETER: _absolute(self.models[slug])}
        return {**self.parameters, **self.overrides.get(task, {}), **model, **seed,
                "task": self.custom.get(task, task), "output_dir": str(self.task_dir(run))}

    @property
    def writes_leaderboard(self) -> bool:
        """False when every run sets write_leaderboard=False: then there is no submission to gather."""
        return any(self.task_parameters(run).get("write_leaderboard", True) is not False for run in self.runs)

    def manifest(self) -> dict:
        """What identifies this run in batch.json (as JSON reads it back)."""
        # no seeds or models: adding one to a finished batch runs only the new runs
        custom = {"custom_tasks": self.custom} if self.custom else {}
        return as_json({"notebook": str(self.notebook), "parameters": self.parameters, **custom})


def run_name(task: str, seed: int | None, model: str | None = None) -> str:
    """A run's folder under the batch folder: `[<model>/]<task>[/seed-<n>]` (a model's folder name has no `/`)."""
    parts = [model, task, None if seed is None else f"seed-{seed}"]
    return "/".join(part for part in parts if part is not None)


def split_grid_run(run: str) -> tuple[str | None, str, int | None]:
    """(model folder, task, seed) of a run name made by `run_name`; None for what it leaves out."""
    parts = run.split("/")
    match = SEED_FOLDER.fullmatch(parts[-1]) if len(parts) > 1 else None
    if match:
        parts = parts[:-1]
    model = parts[0] if len(parts) > 1 else None
    return model, parts[-1], int(match.group(1)) if match else None


def seeds_on_disk(out: Path, tasks: list[str], models: list[str] | None = None) -> list[int] | None:
    """The seeds a batch folder holds runs of (`[<model>/]<task>/seed-<n>/`)."""
    folders = [out / run_name(task, None, model) for model in (models or [None]) for task in tasks]
    found = {int(m.group(1)) for folder in folders if folder.is_dir() for child in folder.iterdir()
             if child.is_dir() and (m := SEED_FOLDER.fullmatch(child.name))}
    return sorted(found) or None


def declared_parameters(notebook: Path) -> dict:
    """A notebook's parameters, by papermill's parser of its `parameters` cell."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def check_parameters(notebook: Path, parameters: dict, overrides: dict[str, dict], seeds: bool = False,
                     models: bool = False) -> dict:
    """Refuse what the notebook does not declare (papermill would only warn) or the batch sets; return what it does."""
    declared = declared_parameters(notebook)
    if not declared:
        raise GlueHelpersError(f"{notebook} has no cell tagged 'parameters', so batch cannot parameterize it.")
    missing = [p for p in RESERVED if p not in declared]
    if missing:
        raise GlueHelpersError(f"{notebook} must declare {' and '.join(missing)} in its parameters cell: batch "
                               "sets them for each task.")
    given = set(parameters).union(*overrides.values())
    reserved = sorted(given.intersection(RESERVED))
    if reserved:
        raise GlueHelpersError(f"Don't set {', '.join(reserved)}: batch sets them per task (use --tasks and --out).")
    for per_run, name, flag, example in ((seeds, SEED_PARAMETER, "--seeds", "42"),
                                         (models, MODEL_PARAMETER, "--models", '"distilbert-base-uncased"')):
        if per_run and name not in declared:
            raise GlueHelpersError(f"{notebook} does not declare '{name}' in its parameters cell, so {flag} can't "
                                   f"set it. Add `{name} = {example}` to that cell, or run without {flag}.")
        if per_run and name in given:
            raise GlueHelpersError(f"Don't set the parameter '{name}' together with {flag} (or '{flag[2:]}:'): "
                                   f"batch sets it for each run. List every value in {flag} instead.")
    unknown = sorted(given - set(declared))
    if unknown:
        raise GlueHelpersError(f"{notebook} does not declare parameter(s) {', '.join(unknown)}. It declares: "
                               f"{', '.join(declared)}.")
    return declared


def notebook_01_defaults(declared: dict) -> dict | None:
    """A notebook's parameter defaults when it declares all of notebook 01's (it is one, or a copy), else None."""
    # by what it declares, not its file name: check_inputs reads these names, and a copy elsewhere is notebook 01 too
    if not set(declared_parameters(notebook_path(BATCH_NOTEBOOK))) <= set(declared):
        return None
    try:
        return {name: ast.literal_eval(parameter["default"]) for name, parameter in declared.items()}
    except (ValueError, SyntaxError):  # a default that is an expression: left to the notebook's own check
        return None


def _in_batch_command() -> bool:
    """True under `python -m glue_helpers batch`, whose user sets parameters with -p and has --out and --force."""
    return os.environ.get(INTERFACE) == "batch"


def _culprits(message: str, params: dict, defaults: dict, as_set) -> str:
    """' (-p name value, ...)': the text values set (not defaults) that an error quotes, e.g. a model folder, or ''."""
    # the model's and data's checks name the path, not the parameter: name it as the user set it
    named = [setting(name, value) for name, value in params.items() if defaults.get(name) != value
             and name not in RESERVED and isinstance(value, str) and len(value) > 1 and as_set(name) not in message
             and (f"'{value}'" in message or os.sep in value and value in message)]
    return f" ({', '.join(named)})" if named else ""


def check_run_inputs(plan: BatchPlan, defaults: dict, on_cluster: bool = False) -> None:
    """Notebook 01's input check on every run before any starts, naming the first bad run (the Hub is asked once)."""
    from ..inputs import check_inputs  # torch: only for a batch of notebook 01

    as_set = "-p {}".format if _in_batch_command() else str  # a parameter as the user sets it
    for run in plan.runs:
        params = {**defaults, **plan.task_parameters(run)}
        try:
            check_knobs(Recipe, params, as_set)
            # on a cluster the workers' GPUs decide whether a precision runs; here only its name is checked (above)
            check_inputs({**params, "precision": "auto"} if on_cluster else params, claim=False)
        except GlueHelpersError as err:
            culprits = _culprits(str(err), params, defaults, as_set)
            raise GlueHelpersError(f"Run {run}{culprits}: {err} Nothing was started.") from None


def read_record(path: Path, required: bool = False) -> tuple[dict, str | None]:
    """A JSON object file and its problem: ({}, problem) when unreadable, ({}, None) when absent and not `required`."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return {}, f"{path} is missing" if required else None
    except (OSError, UnicodeDecodeError) as err:
        return {}, f"{path} can't be read ({err})"
    except ValueError as err:
        return {}, f"{path} is not valid JSON, e.g. truncated ({err})"
    if not isinstance(record, dict):
        return {}, f"{path} does not hold a JSON object"
    return record, None


def task_outcome(folder: Path) -> tuple[str, str | None]:
    """How a task's folder says it ended: 'succeeded', 'failed', 'not run' or 'corrupt'; and the problem."""
    # no parameters.yaml: a `train` (or by-hand) run, finished when its metrics.json, written last, parses
    status, problem = read_record(folder / STATUS)
    if problem:
        return "corrupt", problem
    made_elsewhere = not status and not (folder / PARAMETERS).exists()
    if made_elsewhere and not (folder / METRICS).exists():
        return "not run", None
    state = "succeeded" if made_elsewhere else status.get("status", "not run")
    if state != "succeeded":
        return state, None
    _, problem = read_record(folder / METRICS, required=True)
    return ("corrupt", problem) if problem else ("succeeded", None)


def task_succeeded(plan: BatchPlan, name: str) -> bool:
    """True when the task finished (`task_outcome`)."""
    return task_outcome(plan.task_dir(name))[0] == "succeeded"


def _changes(old: dict, new: dict) -> str:
    """What differs between two records of {name: value}: 'name old, now new; ...' ('unset': the notebook's default)."""
    def shown(value) -> str:
        return "unset" if value is _UNSET else repr(value) if isinstance(value, str) else str(value)

    pairs = [(name, old.get(name, _UNSET), new.get(name, _UNSET)) for name in {**old, **new}]
    return "; ".join(f"{name} {shown(was)}, now {shown(now)}" for name, was, now in pairs if was != now)


def _identity(manifest: dict) -> dict:
    """What identifies a batch as one {name: value}: the notebook, each shared parameter, each custom task's file."""
    custom = {f"the file of task {name}": path for name, path in (manifest.get("custom_tasks") or {}).items()}
    return {"the notebook": manifest.get("notebook"), **(manifest.get("parameters") or {}), **custom}


def check_out_dir(plan: BatchPlan, force: bool) -> None:
    """Refuse an output folder holding another run (other notebook or parameters, or a task run differently)."""
    if force:
        return
    fix = ("Use another --out, or --force to rerun there (the old files are kept as *.previous-N.*)."
           if _in_batch_command() else f"Use another output folder, or move {plan.out} away, to rerun.")
    old = read_record(plan.out / MANIFEST)[0]
    if old and (changes := _changes(_identity(old), _identity(plan.manifest()))):
        raise GlueHelpersError(f"{plan.out} holds a batch run with other settings ({changes}). {fix}")
    changed: dict[str, list[str]] = {}
    for name in plan.runs:
        recorded = read_record(plan.task_dir(name) / STATUS)[0].get("parameters")
        now = as_json(plan.task_parameters(name))
        if task_succeeded(plan, name) and recorded != now:
            why = (f"finished with other parameters ({_changes(recorded, now)})" if isinstance(recorded, dict)
                   else "finished outside the batch (no parameters recorded: a `train` run?)")
            changed.setdefault(why, []).append(name)
    if changed:
        runs = "; ".join(f"{', '.join(names)} {why}" for why, names in changed.items())
        raise GlueHelpersError(f"In {plan.out}, {runs}. {fix}")


def as_json(value):
    """The value as it reads back from JSON."""
    return json.loads(json.dumps(value))


def notebook_path(name: str) -> Path:
    """A notebook shipped with the package: glue_helpers/notebooks/ in a wheel, the checkout's notebooks/ otherwise."""
    for folder in (_PACKAGE / "notebooks", _PACKAGE.parent / "notebooks"):
        if (folder / name).is_file():
            return folder / name
    raise GlueHelpersError(f"The notebook {name} is not in this installation of glue_helpers ({_PACKAGE}); "
                           "reinstall it (pip install glue-helpers), or pass its path.")


def is_packaged(notebook: Path) -> bool:
    """True for a notebook shipped inside the installed package (its folder is no place to write)."""
    return _PACKAGE in notebook.resolve().parents


def find_notebook(path: str | Path | None) -> Path:
    """The notebook to run, absolute: the given path, or notebook 01 as shipped with the package."""
    return notebook_path(BATCH_NOTEBOOK) if path is None else Path(path).expanduser().resolve()


def make_plan(notebook: str | Path | None, out: str | Path, tasks: list[str] | None = None,
              parameters: dict | None = None, config: str | Path | None = None, kernel: str | None = None,
              force: bool = False, seeds: list[int] | None = None, models: list[str] | None = None,
              check_runs: bool = True, on_cluster: bool = False) -> BatchPlan:
    """Check all that can be before any work starts (`check_runs`: notebook 01's input check on every run), and plan."""
    config = load_config(config) if config else BatchConfig({}, {}, None, {})
    seeds = check_seeds(seeds) if seeds is not None else config.seeds
    models = check_models(models if models is not None else config.models)
    chosen = resolve_tasks(tasks or config.run, config.custom)
    notebook = find_notebook(notebook)
    if not notebook.is_file():
        raise GlueHelpersError(f"Notebook {str(notebook)!r} does not exist (pass --notebook PATH).")
    if notebook.suffix != ".ipynb":
        raise GlueHelpersError(f"{notebook} is not a .ipynb notebook; pair/convert it first, e.g. "
                               f"`jupytext --to ipynb {notebook.name}`.")
    cli = parameters or {}
    shared = {key: _absolute(value) for key, value in {**config.parameters, **cli}.items()}
    overrides = {name: {k: _absolute(v) for k, v in values.items() if k not in cli}  # -p wins over the config
                 for name, values in config.overrides.items()}
    declared = check_parameters(notebook, shared, overrides, seeds=seeds is not None, models=models is not None)
    plan = BatchPlan(notebook, check_out_path(out), chosen, shared,
                     {name: values for name, values in overrides.items() if name in chosen and values}, kernel,
                     {name: path for name, path in config.custom.items() if name in chosen}, seeds, models)
    check_out_dir(plan, force)
    defaults = notebook_01_defaults(declared) if check_runs else None
    if defaults is not None:  # `on_cluster`: the workers' hardware decides the precision
        check_run_inputs(plan, defaults, on_cluster)
    return plan


def check_out_path(out: str | Path) -> Path:
    """The output folder, absolute; refused when it is a file, or lies under one (a clear error, not a traceback)."""
    out = Path(out).expanduser().resolve()
    blocker = next(path for path in (out, *out.parents) if path.exists())  # the root exists
    if not blocker.is_dir():
        where = "is a file" if blocker == out else f"lies under {blocker}, a file"
        raise GlueHelpersError(f"{'--out ' if _in_batch_command() else 'The output folder '}{out} {where}, not a "
                               "folder. Give a new folder, or the folder of a batch to resume.")
    return out
