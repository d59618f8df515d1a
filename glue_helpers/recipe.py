"""The recipe's knobs, each declared once (default, help, rule: a name in RULES, the one table of checks).

Standard library only, so the command line shows the defaults without loading torch."""

import importlib.util
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real

from .errors import GlueHelpersError

TASK = "cola"
MODEL_CHECKPOINT = "distilbert-base-uncased"
SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are 32-bit
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Experiment tracking (`TrainingArguments.report_to`): "none", or one backend (with the package it needs), writing
# offline into the run folder's tracking/ (rundir.start_tracking).
TRACKING_PACKAGES = {"none": None, "tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb",
                     "mlflow": "mlflow"}
REPORT_TOS = tuple(TRACKING_PACKAGES)
PEFTS = (None, "lora")
PRUNERS = ("asha", "median", "hyperband", "none")
BACKENDS = ("optuna", "ray")
LORA_LEARNING_RATE = 5e-4  # LoRA's usual rate: few weights, started at zero, need larger steps than 2e-5
VALIDATION_FRACTION = 0.1  # custom data without a validation file: the share of train carved off to validate on


def _int(value) -> bool:
    """A whole number, not a bool (numpy's integers too)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _real(value) -> bool:
    """A finite number, not a bool (NaN and infinities are not)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _module_names(value) -> bool:
    """None, a comma-separated string, or a non-empty list of non-empty names."""
    names = value.split(",") if isinstance(value, str) else value
    return value is None or (isinstance(names, (list, tuple)) and bool(names)
                             and all(isinstance(n, str) and n.strip() for n in names))


# rule -> (test, message); {name} is the knob as the user wrote it (a parameter or a flag), {value!r} its value.
RULES = {
    "count": (lambda v: _int(v) and v > 0, "{name} must be a positive integer, got {value!r}."),
    "positive": (lambda v: _real(v) and v > 0, "{name} must be a positive finite number, got {value!r}."),
    "seed": (lambda v: _int(v) and 0 <= v <= SEED_MAX,
             f"{{name}} must be a whole number from 0 to {SEED_MAX} (e.g. 42), got {{value!r}}."),
    "rows": (lambda v: v is None or _int(v) and v > 0,
             "{name} must be a positive integer or None (use all rows), got {value!r}."),
    "fraction": (lambda v: _real(v) and 0 <= v < 1, "{name} must be a number in [0, 1), e.g. 0.1; got {value!r}."),
    "share": (lambda v: _real(v) and 0 < v <= 1, "{name} must be in (0, 1] (e.g. 0.1 for a tenth), got {value!r}."),
    "min_rows": (lambda v: _int(v) and v >= 0, "{name} must be a whole number >= 0 (e.g. 2500), got {value!r}."),
    "budget": (lambda v: v is None or _real(v) and v > 0,
               "{name} must be a finite number of recipe runs above 0 (e.g. 2.0), or None; got {value!r}."),
    "gpus": (lambda v: v is None or _real(v) and v >= 0,
             "{name} must be None (1 when the cluster has GPUs) or a number of GPUs >= 0, e.g. 0.5; got {value!r}."),
    "recheck_seeds": (lambda v: _int(v) and (v >= 2 or v == 0),
                      "{name} must be a whole number >= 2 (the spread needs two seeds), got {value!r}; 0 skips the "
                      "re-check where the caller allows it."),
    "modules": (_module_names, "{name} must be None (found from the architecture), module names such as "
                               "['query', 'value'], or 'query,value'; got {value!r}."),
    "pruner": (lambda v: v is None or hasattr(v, "prune") or isinstance(v, str) and v.lower() in PRUNERS,
               f"Unknown pruner {{value!r}} for {{name}}. Valid ones: {', '.join(PRUNERS)}, or an Optuna pruner "
               "object."),
    "report_to": (lambda v: isinstance(v, str) and v in REPORT_TOS,
                  f"{{name}}={{value!r}} is not a tracking backend: use one of {', '.join(map(repr, REPORT_TOS))} "
                  "(e.g. -p report_to tensorboard, --report-to tensorboard)."),
}


def check(rule: str, name: str, value):
    """Apply one rule of RULES to a value named `name`; return the value, or raise naming it and the fix."""
    test, message = RULES[rule]
    if not test(value):
        raise GlueHelpersError(message.format(name=name, value=value))
    return value


# What would take a tracking backend online (deploy, sync or send), whatever glue_helpers asks of it: a run refuses it.
ONLINE = {"trackio": ("TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "TRACKIO_BUCKET_ID", "TRACKIO_DATASET_ID",
                      "TRACKIO_WEBHOOK_URL"),
          "wandb": ("WANDB_MODE",), "mlflow": ("MLFLOW_TRACKING_URI",)}
OFFLINE_VALUES = {"WANDB_MODE": ("offline", "disabled", "dryrun")}  # what those may say and stay offline


def _online(name: str) -> bool:
    """True when the environment variable `name` would send a backend's data off this machine."""
    value = os.environ.get(name)
    if value is None:
        return False
    if name == "MLFLOW_TRACKING_URI":  # a folder or file: URI is local; a server is not
        return "://" in value and not value.startswith("file:")
    return value.strip().lower() not in OFFLINE_VALUES.get(name, ())


def check_report_to(report_to, name: str = "report_to") -> str:
    """"none" or one tracking backend whose package is installed and that nothing in the environment takes online."""
    check("report_to", name, report_to)
    package = TRACKING_PACKAGES[report_to]
    if package and importlib.util.find_spec(package) is None:
        raise GlueHelpersError(f"{name}={report_to!r} needs the {package} package, which is not installed: "
                               f"pip install {package} (or choose report_to='none').")
    online = [variable for variable in ONLINE.get(report_to, ()) if _online(variable)]
    if online:
        raise GlueHelpersError(f"{name}={report_to!r} tracks offline, into the run folder, but {', '.join(online)} "
                               f"{'is' if len(online) == 1 else 'are'} set, which would send the run to a server "
                               f"(deploy, sync or upload it). Unset {' and '.join(online)} for this run (e.g. "
                               f"`env -u {online[0]} ...`, or `os.environ.pop({online[0]!r})` in a notebook), or "
                               "choose report_to='none'.")
    return report_to


def knob(default, help: str, rule: str | None = None, *, choices: tuple | None = None, flags: tuple[str, ...] = (),
         nargs: str | None = None):
    """A knob: its default, its --help text, its rule (a RULES name) or its choices, extra flag names."""
    return field(default=default, metadata={"help": help, "rule": rule, "choices": choices, "flags": flags,
                                            "nargs": nargs})


def check_knobs(config: type, values: Mapping, label=str) -> None:
    """Check each knob of the dataclass `config` found in `values`, naming a bad one `label(name)`."""
    for f in fields(config):
        if f.name not in values:
            continue
        name, value, rule, choices = label(f.name), values[f.name], f.metadata["rule"], f.metadata["choices"]
        if rule == "report_to":
            check_report_to(value, name)
        elif rule:
            check(rule, name, value)
        elif choices and value not in choices:  # a knob with a rule lists its choices for --help only
            raise GlueHelpersError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


class Knobs:
    """What the knob dataclasses share: every field checked when one is built, and building one from a notebook."""

    def __post_init__(self):
        """Check every knob; a value that fails names the knob and a fix."""
        check_knobs(type(self), vars(self))

    @classmethod
    def from_params(cls, params: Mapping):
        """Built from the knobs found in `params` (a notebook's `globals()`), checked; the rest at their defaults."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})


@dataclass(frozen=True)
class Recipe(Knobs):
    """Notebook 01's training knobs (its parameter names, `train`'s flags), each checked when a Recipe is built."""

    learning_rate: float = knob(2e-5, "peak learning rate (LoRA's usual: 5e-4)", "positive", flags=("--lr",))
    batch_size: int = knob(16, "per device; the global batch is this times the number of processes", "count")
    num_train_epochs: float = knob(5, "epochs; the best one is kept", "positive", flags=("--epochs",))
    weight_decay: float = knob(0.01, "AdamW's weight decay", "fraction")
    warmup_ratio: float = knob(0.0, "share of the training steps that warm the learning rate up from 0", "fraction")
    seed: int = knob(42, "seed of the data subsets, the new head and the training", "seed")
    precision: str = knob("auto", "auto: bf16/fp16 where the GPU or CPU runs it natively, else fp32",
                          choices=PRECISIONS)
    max_train_samples: int | None = knob(None, "train on a random subset of this many rows; None: all", "rows")
    max_eval_samples: int | None = knob(None, "evaluate on a random subset of this many rows; None: all", "rows")
    report_to: str = knob("none", "experiment tracking, offline into the run folder's tracking/", "report_to",
                         choices=REPORT_TOS)
    peft: str | None = knob(None, "lora: train LoRA adapters and the head only (raise the learning rate); None: "
                            "every weight", choices=PEFTS)
    lora_r: int = knob(8, "LoRA rank", "count")
    lora_alpha: float = knob(16, "LoRA scaling: the adapters' output times alpha / r", "positive")
    lora_dropout: float = knob(0.1, "dropout on the adapters' input", "fraction")
    lora_target_modules: list[str] | None = knob(None, "modules to adapt; None: the attention projections",
                                                 "modules", nargs="+")

    def warn_if_odd(self) -> None:
        """Warn about a legal but likely mistaken combination: LoRA at full fine-tuning's learning rate."""
        if self.peft == "lora" and self.learning_rate < LORA_LEARNING_RATE / 10:
            warnings.warn(f"learning_rate={self.learning_rate:g} is low for LoRA, which trains few weights that "
                          f"start at zero; its usual rate is {LORA_LEARNING_RATE:g}.", UserWarning, stacklevel=3)

    def as_record(self) -> dict:
        """The knobs as metrics.json's "recipe"."""
        return asdict(self)


# The knobs a search may tune (a trial's values have these names); LoRA's shape the model, the others the training.
SEARCHABLE = ("learning_rate", "num_train_epochs", "batch_size", "weight_decay", "warmup_ratio", "seed", "lora_r",
              "lora_alpha", "lora_dropout")


def recipe_trial(peft: str | None = None) -> dict:
    """Notebook 01's recipe as a search trial's values (LoRA's learning rate and rank with peft="lora")."""
    recipe = Recipe(peft=peft, learning_rate=LORA_LEARNING_RATE if peft == "lora" else Recipe.learning_rate)
    names = ("learning_rate", "num_train_epochs", "batch_size", "weight_decay", "warmup_ratio")
    return {name: getattr(recipe, name) for name in (*names, *(("lora_r",) if peft == "lora" else ()))}


@dataclass(frozen=True)
class SearchSettings(Knobs):
    """The search's own knobs (notebook 02's parameters, `search`'s flags); the recipe's knobs are `Recipe`'s."""

    n_trials: int = knob(20, "finished trials the study stops at (all runs and workers together); the budget "
                             "usually stops it first", "count")
    search_fraction: float = knob(0.1, "share of the training set each trial trains on ...", "share")
    search_min_rows: int = knob(2500, "... but at least this many rows (or all of a smaller set)", "min_rows")
    search_budget: float | None = knob(2.0, "stop starting trials once all trials have seen this many recipe runs' "
                                       "training examples (train rows x recipe epochs), or none", "budget")
    pruner: str = knob("asha", "stop hopeless trials early", "pruner", choices=PRUNERS)
    recheck_top: int = knob(2, "best trials re-checked next to the recipe", "count")
    recheck_seeds: int = knob(3, "seeds per re-checked configuration, from --seed on; 0: no re-check, retrain the "
                              "best trial once", "recheck_seeds")
    backend: str = knob("optuna", "optuna: trials in this process, --storage shared by workers; ray: Ray Tune "
                        "trials (TPE via OptunaSearch, ASHA early stopping) on a Ray cluster, recorded in the same "
                        "study", choices=BACKENDS)
    cpus_per_trial: float = knob(1, "ray: CPUs per trial", "positive")
    gpus_per_trial: float | None = knob(None, "ray: GPUs per trial; None: 1 when the cluster has GPUs", "gpus")


# Where runs go when no output_dir is given.
RUNS = "runs"


def run_dir_for(task_name: str, dated: bool = False) -> str:
    """The default output_dir of a run: runs/<task>; a notebook's, a new one each run: runs/<task>-<date>-<time>."""
    if dated:
        from datetime import datetime

        return f"{RUNS}/{task_name}-{datetime.now().strftime('%Y-%m-%d-%H%M%S')}"
    return f"{RUNS}/{task_name}"


def search_dir_for(task_name: str) -> str:
    """The default output_dir of a search: runs/<task>-search."""
    return f"{RUNS}/{task_name}-search"
