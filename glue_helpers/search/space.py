"""The search space as a plain dict a user edits, checked, and turned into `hp_space(trial)`.

An entry is a range `{"low": a, "high": b}` (optional "log" or "step"; ints when both ends are), a list of choices,
or a single value (fixed, but recorded with the trial).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import GlueHelpersError
from ..recipe import BATCH_SIZE, LEARNING_RATE, LORA_LEARNING_RATE, LORA_R, NUM_TRAIN_EPOCHS, WEIGHT_DECAY, Recipe

# The parameters a search may tune, and the `TrainingArguments` field(s) each one sets.
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "learning_rate": ("learning_rate",),
    "num_train_epochs": ("num_train_epochs",),
    "batch_size": ("per_device_train_batch_size",),
    "weight_decay": ("weight_decay",),
    "warmup_ratio": ("warmup_steps",),  # transformers 5: a float in [0, 1) is a share of the training steps
    "seed": ("seed",),
}
# LoRA's knobs, searchable with peft="lora": they shape the model, not the TrainingArguments, so
# `model_parameters` hands them to `model_init`.
LORA_PARAMETERS = ("lora_r", "lora_alpha", "lora_dropout")
VALID = (*SEARCHABLE, *LORA_PARAMETERS)

# Ranges that suit a BERT-sized model (distilbert, MiniLM) on a GLUE task, wide enough to hold the recipe (trial 0);
# notebook 02's `hp_space` asks for the same (a test checks). `seed` is searchable but not searched by default: a
# search over seeds finds a lucky seed, not a better recipe, and the importance plot would credit that noise.
DEFAULT_SEARCH_SPACE: dict = {
    "learning_rate": {"low": 1e-5, "high": 1e-4, "log": True},
    "num_train_epochs": {"low": 1, "high": 5},
    "batch_size": [16, 32],
    "weight_decay": {"low": 0.0, "high": 0.1},
    "warmup_ratio": {"low": 0.0, "high": 0.2},
}

# The offline kit's tiny random BERT only learns with much larger steps.
SMOKE_SEARCH_SPACE: dict = {
    **DEFAULT_SEARCH_SPACE,
    "learning_rate": {"low": 1e-3, "high": 1e-2, "log": True},
    "num_train_epochs": {"low": 2, "high": 4},
    "batch_size": [8, 16],
}

# With peft="lora": LoRA's higher learning rates, and its rank.
LORA_SEARCH_SPACE: dict = {
    **DEFAULT_SEARCH_SPACE,
    "learning_rate": {"low": 1e-4, "high": 1e-3, "log": True},
    "lora_r": [4, 8, 16],
}
SMOKE_LORA_SEARCH_SPACE: dict = {**SMOKE_SEARCH_SPACE, "lora_r": [4, 8]}


def default_search_space(peft: str | None = None, smoke: bool = False) -> dict:
    """The built-in space: full fine-tuning's or LoRA's, for real models or the offline kit's tiny one."""
    if peft == "lora":
        return SMOKE_LORA_SEARCH_SPACE if smoke else LORA_SEARCH_SPACE
    return SMOKE_SEARCH_SPACE if smoke else DEFAULT_SEARCH_SPACE


def recipe_values(peft: str | None = None) -> dict:
    """Notebook 01's recipe in the search space's names (LoRA's learning rate and rank with peft="lora")."""
    values = {"learning_rate": LEARNING_RATE, "num_train_epochs": NUM_TRAIN_EPOCHS, "batch_size": BATCH_SIZE,
              "weight_decay": WEIGHT_DECAY, "warmup_ratio": 0.0}
    return {**values, "learning_rate": LORA_LEARNING_RATE, "lora_r": LORA_R} if peft == "lora" else values


def in_space(spec, value) -> bool:
    """True when the entry `spec` can produce `value` (inside a range, one of the choices, the fixed value)."""
    if isinstance(spec, dict):
        return spec["low"] <= value <= spec["high"]
    return value in (list(spec) if isinstance(spec, (list, tuple)) else [spec])


def recipe_params(space: dict, peft: str | None = None) -> dict:
    """The recipe's values the space can produce: trial 0's parameters (the others are drawn as usual)."""
    recipe = recipe_values(peft)
    return {name: recipe[name] for name, spec in space.items() if name in recipe and in_space(spec, recipe[name])}


_RANGE_KEYS = {"low", "high", "log", "step"}


def _is_number(x) -> bool:
    """True for int/float but not bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_range(name: str, spec: dict) -> None:
    """A range needs numeric low < high, a positive low on a log scale, and no unknown keys."""
    extra = set(spec) - _RANGE_KEYS
    if extra or not {"low", "high"} <= set(spec):
        raise GlueHelpersError(f"Search-space entry {name!r} must look like {{'low': a, 'high': b}} (optional 'log', "
                               f"'step'); got {spec!r}.")
    low, high = spec["low"], spec["high"]
    if not (_is_number(low) and _is_number(high)) or low >= high:
        raise GlueHelpersError(f"Search-space entry {name!r} needs numbers with low < high; got {spec!r}.")
    if spec.get("log") and low <= 0:
        raise GlueHelpersError(f"Search-space entry {name!r} is on a log scale, so low must be > 0; got {low!r}.")
    if spec.get("log") and spec.get("step") is not None:
        raise GlueHelpersError(f"Search-space entry {name!r} can't have both 'log' and 'step'.")


def validate_search_space(space: dict, peft: str | None = None) -> dict:
    """Check every entry (known name, well-formed range or choices; LoRA's only with peft="lora"); return the space."""
    if not isinstance(space, dict) or not space:
        raise GlueHelpersError(f"The search space is empty; give at least one of: {', '.join(VALID)}.")
    unknown = [k for k in space if k not in VALID]
    if unknown:
        raise GlueHelpersError(f"Unknown search-space parameter(s) {unknown}. Valid ones: {', '.join(VALID)}.")
    for name, spec in space.items():
        if isinstance(spec, dict):
            _check_range(name, spec)
        elif isinstance(spec, (list, tuple)):
            if not spec:
                raise GlueHelpersError(f"Search-space entry {name!r} has an empty list of choices.")
        elif not _is_number(spec):
            raise GlueHelpersError(f"Search-space entry {name!r} must be a range dict, a list or a number; "
                                   f"got {spec!r}.")
    if "warmup_ratio" in space:
        _check_warmup(space["warmup_ratio"])
    _check_lora_entries(space, peft)
    return space


def _values(spec) -> list:
    """The end points of a range, the choices of a list, or the fixed value."""
    return [spec["low"], spec["high"]] if isinstance(spec, dict) else list(spec) if isinstance(spec, list) else [spec]


def _check_lora_entries(space: dict, peft: str | None) -> None:
    """LoRA's entries need peft="lora" and values LoRA accepts (checked as for one run)."""
    searched = [name for name in LORA_PARAMETERS if name in space]
    if searched and peft != "lora":
        raise GlueHelpersError(f"Search-space entries {searched} only apply to LoRA; set peft='lora' (--peft lora) "
                               "or remove them.")
    for name in searched:
        for value in _values(space[name]):
            Recipe(peft=peft, **{name: value})


def _check_warmup(spec) -> None:
    """A warmup ratio must stay in [0, 1), or transformers reads it as a number of steps."""
    values = _values(spec)
    if any(not _is_number(v) or not 0 <= v < 1 for v in values):
        raise GlueHelpersError(f"warmup_ratio is a share of the training steps and must be in [0, 1); got {spec!r}.")


def suggest(trial, name: str, spec):
    """Ask the trial for one value of `name` under its spec."""
    if isinstance(spec, dict):
        low, high = spec["low"], spec["high"]
        if isinstance(low, int) and isinstance(high, int):
            return trial.suggest_int(name, low, high, step=spec.get("step") or 1, log=bool(spec.get("log")))
        return trial.suggest_float(name, float(low), float(high), step=spec.get("step"), log=bool(spec.get("log")))
    choices = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    return trial.suggest_categorical(name, choices)


def make_hp_space(space: dict | None = None, peft: str | None = None) -> Callable:
    """Validate a search space (default: `peft`'s) and return `hp_space(trial) -> {name: value}` for it."""
    space = dict(validate_search_space(default_search_space(peft) if space is None else space, peft))

    def hp_space(trial) -> dict:
        return {name: suggest(trial, name, spec) for name, spec in space.items()}

    hp_space.space = space
    return hp_space


def to_training_arguments(params: dict) -> dict:
    """Trial parameters as `TrainingArguments` fields; LoRA's are left to `model_parameters`."""
    out = {}
    for name, value in params.items():
        if name in LORA_PARAMETERS:
            continue
        if name not in SEARCHABLE:
            raise GlueHelpersError(f"Unknown search-space parameter {name!r}. Valid ones: {', '.join(VALID)}.")
        for field in SEARCHABLE[name]:
            out[field] = float(value) if name == "warmup_ratio" else value
    return out


def model_parameters(params: dict) -> dict:
    """The trial parameters that shape the model (LoRA's rank, alpha, dropout), as `model_init` keywords."""
    return {name: value for name, value in params.items() if name in LORA_PARAMETERS}
