"""What a batch runs, checked before any work starts, and how a task's folder says it ended."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..custom_task import is_task_file, resolve_task
from ..errors import GlueHelpersError
from ..recipe import BATCH_NOTEBOOK, SEED_MAX
from ..rundir import METRICS
from ..tasks import TASK_NAMES

DEFAULT_NOTEBOOK = Path(BATCH_NOTEBOOK)
MANIFEST = "batch.json"
STATUS = "status.json"
PARAMETERS = "parameters.yaml"
LOG = "run.log"
RESERVED = ("task", "output_dir")
SETTINGS_TAG = "settings"  # a notebook's cell of rarely changed parameters, before its `parameters` cell
SEED_PARAMETER = "seed"  # reserved too when the batch runs several seeds: it sets it per run
MODEL_PARAMETER = "model_checkpoint"  # reserved too when the batch runs several models: it sets it per run
SEED_FOLDER = re.compile(r"seed-(\d+)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
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


def _canonical_names(names: list[str], custom: dict[str, str]) -> list[str]:
    """The canonical name of each task; unknown names in one error; custom task YAML paths recorded in `custom`."""
    found, unknown = [], []
    for name in names:
        if name in custom:
            found.append(name)
            continue
        try:
            task = resolve_task(name)  # a custom task's YAML is read and checked here, once
        except GlueHelpersError as err:
            unknown.append(f"{name!r} ({err})" if is_task_file(name) else repr(name))
            continue
        if is_task_file(name):
            custom[task.name] = str(Path(name).expanduser().resolve())
        found.append(task.name)
    if unknown:
        raise GlueHelpersError(f"Unknown task(s): {', '.join(unknown)}. Valid GLUE tasks: "
                               f"{', '.join(TASK_NAMES)} (aliases such as 'sst-2', 'sts-b', 'mnli_mm' work too), "
                               "or a custom task's .yaml file.")
    return found


def resolve_tasks(names: list[str] | None, custom: dict[str, str] | None = None) -> list[str]:
    """Canonical task names in order, without repeats (default: every GLUE task); every unknown name in one error."""
    custom = {} if custom is None else custom
    return list(dict.fromkeys(_canonical_names(list(names or TASK_NAMES), custom)))


def _beside(config: Path, name: str) -> str:
    """A task named in a batch config: a relative task YAML path is taken from the config's folder."""
    if is_task_file(name) and not os.path.isabs(name):
        return str(config.parent / name)
    return name


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


CONFIG_KEYS = ("parameters", "tasks", "run", "seeds", "models")


def load_config(path: str | Path) -> BatchConfig:
    """A batch YAML: shared `parameters`, per-task `tasks` overrides, and `run`, `seeds`, `models` (the flags win)."""
    path = Path(path)
    if not path.is_file():
        raise GlueHelpersError(f"Config file {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise GlueHelpersError(f"Config file {path}: not valid YAML ({' '.join(str(err).split())}). It holds plain "
                               "keys and values: parameters, tasks and run.") from None
    extra = set(data) - {*CONFIG_KEYS} if isinstance(data, dict) else {"(not a mapping)"}
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
    if run:
        run = resolve_tasks([_beside(path, name) for name in run], custom)
    overrides = {}
    for name, values in zip(_canonical_names(list(per_task), custom), per_task.values(), strict=True):
        overrides[name] = {key: _numbers_from_yaml(value) for key, value in values.items()}
    shared = {key: _numbers_from_yaml(value) for key, value in params.items()}
    models = data.get("models")
    check_models(models, f"{path}: 'models'")
    return BatchConfig(shared, overrides, run, custom, check_seeds(data.get("seeds"), f"{path}: 'seeds'"), models)


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
    seeds: list[int] | None = None
    models: dict[str, str] | None = None  # folder name -> checkpoint, with --models

    @property
    def runs(self) -> list[str]:
        """The runs by folder under `out`, `[<model>/]<task>[/seed-<n>]`; task-major, so a task's seeds end together."""
        seeds = [None] if self.seeds is None else self.seeds
        slugs = [None] if self.models is None else list(self.models)
        return [run_name(task, seed, slug) for slug in slugs for task in self.tasks for seed in seeds]

    def task_dir(self, run: str) -> Path:
        """Where one run's notebook, log, metrics and model go."""
        return self.out / run

    def task_parameters(self, run: str) -> dict:
        """A run's parameters: shared, the task's overrides, its model and seed, then task and output_dir."""
        slug, task, seed = split_grid_run(run)
        seed = {} if seed is None else {SEED_PARAMETER: seed}
        model = {} if slug is None else _absolute_paths({MODEL_PARAMETER: self.models[slug]})
        return {**self.parameters, **self.overrides.get(task, {}), **model, **seed,
                "task": self.custom.get(task, task), "output_dir": str(self.task_dir(run))}

    def manifest(self) -> dict:
        """What identifies this run in batch.json (as JSON reads it back)."""
        # no seeds or models: adding one to a finished batch runs only the new runs
        custom = {"custom_tasks": self.custom} if self.custom else {}
        return json.loads(json.dumps({"notebook": str(self.notebook), "parameters": self.parameters, **custom}))


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
    """A notebook's parameters (papermill's parser): its `parameters` cell's and those of `settings` cells before it."""
    import nbformat
    import papermill
    from papermill.translators import PythonTranslator

    declared = papermill.inspect_notebook(str(notebook))
    for cell in nbformat.read(notebook, as_version=4).cells:
        if "parameters" in cell.metadata.get("tags", []):
            break
        if SETTINGS_TAG in cell.metadata.get("tags", []):
            declared.update({p.name: p._asdict() for p in PythonTranslator.inspect(cell)})
    return declared


def _check_per_run(notebook: Path, declared: dict, given: set, name: str, flag: str, example: str) -> None:
    """A parameter the batch sets per run (with --seeds or --models): declared by the notebook, not given."""
    if name not in declared:
        raise GlueHelpersError(f"{notebook} does not declare '{name}' in its parameters cell, so {flag} can't set "
                               f"it. Add `{name} = {example}` to that cell, or run without {flag}.")
    if name in given:
        raise GlueHelpersError(f"Don't set the parameter '{name}' together with {flag} (or '{flag[2:]}:'): batch "
                               f"sets it for each run. List every value in {flag} instead.")


def check_parameters(notebook: Path, parameters: dict, overrides: dict[str, dict], seeds: bool = False,
                     models: bool = False) -> None:
    """Refuse parameters the notebook does not declare (papermill would only warn) and those the batch sets itself."""
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
    if seeds:
        _check_per_run(notebook, declared, given, SEED_PARAMETER, "--seeds", "42")
    if models:
        _check_per_run(notebook, declared, given, MODEL_PARAMETER, "--models", '"distilbert-base-uncased"')
    unknown = sorted(given - set(declared))
    if unknown:
        raise GlueHelpersError(f"{notebook} does not declare parameter(s) {', '.join(unknown)}. It declares: "
                               f"{', '.join(declared)}.")


def _read_json(path: Path) -> dict:
    """A JSON file as a dict, or {} when it is absent or unreadable."""
    return read_record(path)[0]


def read_record(path: Path, required: bool = False) -> tuple[dict, str | None]:
    """A JSON object file and its problem: ({}, problem) when unreadable, ({}, None) when absent and not `required`."""
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


def _recorded(manifest: dict) -> dict:
    """The part of a batch.json that identifies a run (what `BatchPlan.manifest` writes)."""
    keys = ("notebook", "parameters", "custom_tasks")
    return {key: manifest[key] for key in keys if manifest.get(key) is not None}


def check_out_dir(plan: BatchPlan, force: bool) -> None:
    """Refuse an output folder holding another run (other notebook or parameters, or a task run differently)."""
    if force:
        return
    old = _read_json(plan.out / MANIFEST)
    if old and _recorded(old) != plan.manifest():
        raise GlueHelpersError(
            f"{plan.out} holds a different run (notebook {old.get('notebook')}, parameters {old.get('parameters')}); "
            f"this one is notebook {plan.notebook}, parameters {plan.parameters}. Use another --out, or --force "
            "to rerun every chosen task there (previous notebooks are kept as *.previous-N.ipynb).")
    changed = []
    for name in plan.runs:
        recorded = _read_json(plan.task_dir(name) / STATUS).get("parameters")
        if task_succeeded(plan, name) and recorded != as_json(plan.task_parameters(name)):
            changed.append(name)
    if changed:
        raise GlueHelpersError(f"Task(s) {', '.join(changed)} in {plan.out} finished with other parameters (or "
                               "outside the batch); use another --out, or --force to redo them.")


def as_json(value):
    """The value as it reads back from JSON."""
    return json.loads(json.dumps(value))


def find_notebook(path: str | Path) -> Path:
    """The notebook path, absolute; the default one is also found from outside the repo (editable install)."""
    path = Path(path).expanduser()
    in_repo = Path(__file__).resolve().parents[2] / DEFAULT_NOTEBOOK
    if path == DEFAULT_NOTEBOOK and not path.is_file() and in_repo.is_file():
        return in_repo
    return path.resolve()


def make_plan(notebook: str | Path, out: str | Path, tasks: list[str] | None = None, parameters: dict | None = None,
              config: str | Path | None = None, kernel: str | None = None, force: bool = False,
              seeds: list[int] | None = None, models: list[str] | None = None) -> BatchPlan:
    """Check everything that can be checked before any work starts, and return the plan."""
    config = load_config(config) if config else BatchConfig({}, {}, None, {})
    seeds = check_seeds(seeds) if seeds is not None else config.seeds
    models = check_models(models if models is not None else config.models)
    custom = dict(config.custom)
    chosen = resolve_tasks(tasks or config.run, custom)
    notebook = find_notebook(notebook)
    if not notebook.is_file():
        raise GlueHelpersError(f"Notebook {str(notebook)!r} does not exist (pass --notebook PATH).")
    if notebook.suffix != ".ipynb":
        raise GlueHelpersError(f"{notebook} is not a .ipynb notebook; pair/convert it first, e.g. "
                               f"`jupytext --to ipynb {notebook.name}`.")
    cli = dict(parameters or {})
    shared = _absolute_paths({**config.parameters, **cli})
    overrides = {}
    for name, values in config.overrides.items():  # the command line's -p wins over the config's per-task values
        overrides[name] = _absolute_paths({k: v for k, v in values.items() if k not in cli})
    check_parameters(notebook, shared, overrides, seeds=seeds is not None, models=models is not None)
    plan = BatchPlan(notebook, Path(out).expanduser().resolve(), chosen, shared,
                     {name: values for name, values in overrides.items() if name in chosen and values}, kernel,
                     {name: path for name, path in custom.items() if name in chosen}, seeds, models)
    check_out_dir(plan, force)
    return plan


def task_succeeded(plan: BatchPlan, name: str) -> bool:
    """True when the task finished (`task_outcome`)."""
    return task_outcome(plan.task_dir(name))[0] == "succeeded"
