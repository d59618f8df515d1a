"""The recipe's knobs and their defaults, each declared once (default, help, check) and read by helpers and commands.

The notebooks' parameter cells repeat the defaults (a test checks they agree). Standard library only, so the command
line shows the defaults without loading torch.
"""

import importlib.util
import math
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
LORA_LEARNING_RATE = 5e-4  # LoRA's usual rate: few weights, started at zero, need larger steps than 2e-5


def check_positive(name: str, value, kind: type = Integral) -> None:
    """A positive integer (or, with kind=Real, a positive finite number)."""
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or not math.isfinite(value):
        what = "integer" if kind is Integral else "finite number"
        raise GlueHelpersError(f"{name} must be a positive {what}, got {value!r}.")


def check_seed(seed, name: str = "seed") -> int:
    """A seed numpy and torch accept: a whole number from 0 to 2**32 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= SEED_MAX:
        raise GlueHelpersError(f"{name} must be a whole number from 0 to {SEED_MAX} (e.g. 42), got {seed!r}.")
    return int(seed)


def check_max_samples(name: str, value) -> int | None:
    """None (all rows) or a positive integer (numpy's too)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise GlueHelpersError(f"{name} must be a positive integer or None (use all rows), got {value!r}.")
    return int(value)


def check_report_to(report_to, name: str = "report_to") -> str:
    """"none" or one tracking backend whose package is installed."""
    if not isinstance(report_to, str) or report_to not in REPORT_TOS:
        raise GlueHelpersError(f"{name}={report_to!r} is not a tracking backend: use one of "
                               f"{', '.join(map(repr, REPORT_TOS))} (e.g. -p report_to tensorboard, "
                               "--report-to tensorboard).")
    package = TRACKING_PACKAGES[report_to]
    if package and importlib.util.find_spec(package) is None:
        raise GlueHelpersError(f"{name}={report_to!r} needs the {package} package, which is not installed: "
                               f"pip install {package} (or choose report_to='none').")
    return report_to


def check_fraction(name: str, value) -> None:
    """A number in [0, 1): a dropout probability, a weight decay."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise GlueHelpersError(f"{name} must be a number in [0, 1), e.g. 0.1; got {value!r}.")


def check_target_modules(name: str, value) -> None:
    """None, a comma-separated string, or a non-empty list of module names."""
    names = value.split(",") if isinstance(value, str) else value
    if value is not None and (not isinstance(names, (list, tuple)) or not names
                              or not all(isinstance(n, str) and n.strip() for n in names)):
        raise GlueHelpersError(f"{name} must be None (found from the architecture), module names such as "
                               f"['query', 'value'], or 'query,value'; got {value!r}.")


def check_choice(choices: tuple):
    """A check that the value is one of `choices`."""
    def check(name: str, value) -> None:
        if value not in choices:
            raise GlueHelpersError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return check


def knob(default, help: str, check=None, *, choices: tuple | None = None, flags: tuple[str, ...] = (),
         nargs: str | None = None):
    """A `Recipe` field: its default, its --help text, its check (name, value) or its choices, extra flag names."""
    check = check or (check_choice(choices) if choices else None)
    return field(default=default, metadata={"help": help, "check": check, "choices": choices, "flags": flags,
                                            "nargs": nargs})


def check_knobs(config: type, values: dict, label=str) -> None:
    """Run the check of each field of the dataclass `config` found in `values`, naming a bad value `label(name)`."""
    for f in fields(config):
        if f.name in values and f.metadata.get("check") is not None:
            f.metadata["check"](label(f.name), values[f.name])


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

    learning_rate: float = knob(2e-5, "peak learning rate (LoRA's usual: 5e-4)",
                                lambda n, v: check_positive(n, v, Real), flags=("--lr",))
    batch_size: int = knob(16, "per device; the global batch is this times the number of processes", check_positive)
    num_train_epochs: float = knob(5, "epochs; the best one is kept", lambda n, v: check_positive(n, v, Real),
                                   flags=("--epochs",))
    weight_decay: float = knob(0.01, "AdamW's weight decay", check_fraction)
    seed: int = knob(42, "seed of the data subsets, the new head and the training",
                   lambda n, v: check_seed(v, n))
    precision: str = knob("auto", "auto: bf16/fp16 where the GPU or CPU runs it natively, else fp32",
                          choices=PRECISIONS)
    max_train_samples: int | None = knob(None, "train on a random subset of this many rows; None: all",
                                         check_max_samples)
    max_eval_samples: int | None = knob(None, "evaluate on a random subset of this many rows; None: all",
                                        check_max_samples)
    report_to: str = knob("none", "experiment tracking, offline into the run folder's tracking/",
                         lambda n, v: check_report_to(v, n), choices=REPORT_TOS)
    peft: str | None = knob(None, "lora: train LoRA adapters and the head only (raise the learning rate); None: "
                            "every weight", choices=PEFTS)
    lora_r: int = knob(8, "LoRA rank", check_positive)
    lora_alpha: float = knob(16, "LoRA scaling: the adapters' output times alpha / r",
                             lambda n, v: check_positive(n, v, Real))
    lora_dropout: float = knob(0.1, "dropout on the adapters' input", check_fraction)
    lora_target_modules: list[str] | None = knob(None, "modules to adapt; None: the attention projections",
                                                 check_target_modules, nargs="+")

    @property
    def lora(self) -> dict | None:
        """`apply_lora`'s arguments when peft is "lora", else None."""
        return self.lora_options() if self.peft == "lora" else None

    def lora_options(self) -> dict:
        """The LoRA knobs as `apply_lora`'s keyword arguments."""
        return {name: getattr(self, name) for name in LORA_KNOBS}

    def warn_if_odd(self) -> None:
        """Warn about a legal but likely mistaken combination: LoRA at full fine-tuning's learning rate."""
        if self.peft == "lora" and self.learning_rate < LORA_LEARNING_RATE / 10:
            warnings.warn(f"learning_rate={self.learning_rate:g} is low for LoRA, which trains few weights that "
                          f"start at zero; its usual rate is {LORA_LEARNING_RATE:g}.", UserWarning, stacklevel=3)

    def as_record(self) -> dict:
        """The knobs as metrics.json's "recipe"."""
        return asdict(self)


LORA_KNOBS = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")
# The defaults under their old names, for the modules that read one: still declared once, above.
LEARNING_RATE, BATCH_SIZE, NUM_TRAIN_EPOCHS, WEIGHT_DECAY, SEED, PRECISION, REPORT_TO, PEFT = (
    Recipe.learning_rate, Recipe.batch_size, Recipe.num_train_epochs, Recipe.weight_decay, Recipe.seed,
    Recipe.precision, Recipe.report_to, Recipe.peft)
LORA_R, LORA_ALPHA, LORA_DROPOUT, LORA_TARGET_MODULES = (Recipe.lora_r, Recipe.lora_alpha, Recipe.lora_dropout,
                                                         Recipe.lora_target_modules)

# Custom data without a validation file: the share of train carved off to validate on.
VALIDATION_FRACTION = 0.1

PRUNERS = ("asha", "median", "hyperband", "none")
BACKENDS = ("optuna", "ray")


def check_search_fraction(name: str, value) -> None:
    """A share of the training set in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
        raise GlueHelpersError(f"{name} must be in (0, 1] (e.g. 0.1 for a tenth), got {value!r}.")


def check_min_rows(name: str, value) -> None:
    """A whole number of rows, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise GlueHelpersError(f"{name} must be a whole number >= 0 (e.g. 2500), got {value!r}.")


def check_budget(name: str, value) -> None:
    """None (no budget) or a positive finite number of recipe runs."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not value > 0
                              or not math.isfinite(value)):
        raise GlueHelpersError(f"{name} must be a finite number of recipe runs above 0 (e.g. 2.0), or None; got "
                               f"{value!r}.")


def check_pruner(name: str, value) -> None:
    """One of PRUNERS (any case), None, or an Optuna pruner object (it has `prune`)."""
    if not (value is None or hasattr(value, "prune") or isinstance(value, str) and value.lower() in PRUNERS):
        raise GlueHelpersError(f"Unknown pruner {value!r} for {name}. Valid ones: {', '.join(PRUNERS)}, or an "
                               "Optuna pruner object.")


def check_gpus(name: str, value) -> None:
    """None (Ray decides) or a finite number of GPUs, 0 or more (a fraction shares a GPU)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < math.inf):
        raise GlueHelpersError(f"{name} must be None (1 when the cluster has GPUs) or a number of GPUs >= 0, e.g. "
                               f"0.5; got {value!r}.")


def check_recheck_seeds(name: str, value, *, allow_zero: bool = True) -> None:
    """At least 2 seeds (the spread needs two), or 0 (no re-check) where `allow_zero`."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 2 and not (allow_zero and value == 0):
        raise GlueHelpersError(f"{name} must be a whole number >= 2 (the spread needs two seeds), got {value!r}; 0 "
                               "skips the re-check where the caller allows it.")


@dataclass(frozen=True)
class SearchSettings(Knobs):
    """The search's own knobs (notebook 02's parameters, `search`'s flags); the recipe's knobs are `Recipe`'s."""

    n_trials: int = knob(20, "trials this worker runs at most; the budget usually stops the search first",
                         check_positive)
    search_fraction: float = knob(0.1, "share of the training set each trial trains on ...", check_search_fraction)
    search_min_rows: int = knob(2500, "... but at least this many rows (or all of a smaller set)", check_min_rows)
    search_budget: float | None = knob(2.0, "stop starting trials once all trials have seen this many recipe runs' "
                                       "training examples (train rows x recipe epochs), or none", check_budget)
    pruner: str = knob("asha", "stop hopeless trials early", check_pruner, choices=PRUNERS)
    recheck_top: int = knob(2, "best trials re-checked next to the recipe", check_positive)
    recheck_seeds: int = knob(3, "seeds per re-checked configuration, from --seed on; 0: no re-check, retrain the "
                              "best trial once", check_recheck_seeds)
    backend: str = knob("optuna", "optuna: trials in this process, --storage shared by workers; ray: Ray Tune "
                        "trials (TPE via OptunaSearch, ASHA early stopping) on a Ray cluster, recorded in the same "
                        "study", choices=BACKENDS)
    cpus_per_trial: float = knob(1, "ray: CPUs per trial", lambda n, v: check_positive(n, v, Real))
    gpus_per_trial: float | None = knob(None, "ray: GPUs per trial; None: 1 when the cluster has GPUs", check_gpus)


# The defaults under their old names, for the modules that read one.
N_TRIALS, SEARCH_FRACTION, SEARCH_MIN_ROWS, SEARCH_BUDGET, PRUNER, RECHECK_TOP, RECHECK_SEEDS = (
    SearchSettings.n_trials, SearchSettings.search_fraction, SearchSettings.search_min_rows,
    SearchSettings.search_budget, SearchSettings.pruner, SearchSettings.recheck_top, SearchSettings.recheck_seeds)

# Where runs go when no output_dir is given, and the notebook `batch` runs for each task (in the repository).
RUNS = "runs"
BATCH_NOTEBOOK = "notebooks/01_text_classification.ipynb"


def run_dir_for(task_name: str) -> str:
    """The default output_dir of a run: runs/<task>."""
    return f"{RUNS}/{task_name}"


def search_dir_for(task_name: str) -> str:
    """The default output_dir of a search: runs/<task>-search."""
    return f"{RUNS}/{task_name}-search"
