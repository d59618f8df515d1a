"""The hyperparameter search space as a plain dict a user edits, checked, and turned into `hp_space(trial)`.

Each entry is one of:
- `{"low": a, "high": b}` (add `"log": True` for a log scale, `"step": s` for a grid): a range; integers when
  both ends are integers, floats otherwise;
- a list such as `[16, 32]`: pick one of these values;
- a single value such as `3`: fixed, not searched (kept in the trial's parameters so every run records it).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import GlueHelpersError

# The parameters a search may tune, and the `TrainingArguments` field(s) each one sets.
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "learning_rate": ("learning_rate",),
    "num_train_epochs": ("num_train_epochs",),
    "batch_size": ("per_device_train_batch_size",),
    "weight_decay": ("weight_decay",),
    "warmup_ratio": ("warmup_steps",),  # transformers 5: a float in [0, 1) is a share of the training steps
    "seed": ("seed",),
}

# Ranges that suit a BERT-sized model (distilbert, MiniLM) on a GLUE task; notebook 02's `hp_space` asks for the
# same (a test checks). `seed` is searchable but not searched by default: a search over seeds finds a lucky seed,
# not a better recipe, and the importance plot would credit that noise.
DEFAULT_SEARCH_SPACE: dict = {
    "learning_rate": {"low": 1e-5, "high": 1e-4, "log": True},
    "num_train_epochs": {"low": 1, "high": 3},
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


def validate_search_space(space: dict) -> dict:
    """Check every entry (known name, well-formed range or choices) and return the space unchanged."""
    if not isinstance(space, dict) or not space:
        raise GlueHelpersError(f"The search space is empty; give at least one of: {', '.join(SEARCHABLE)}.")
    unknown = [k for k in space if k not in SEARCHABLE]
    if unknown:
        raise GlueHelpersError(f"Unknown search-space parameter(s) {unknown}. Valid ones: {', '.join(SEARCHABLE)}.")
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
    return space


def _check_warmup(spec) -> None:
    """A warmup ratio must stay in [0, 1), or transformers reads it as a number of steps."""
    values = [spec["low"], spec["high"]] if isinstance(spec, dict) else list(spec) if isinstance(spec, list) else [spec]
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


def make_hp_space(space: dict | None = None) -> Callable:
    """Validate a search space and return `hp_space(trial) -> {name: value}` for it (the default space if None)."""
    space = dict(validate_search_space(DEFAULT_SEARCH_SPACE if space is None else space))

    def hp_space(trial) -> dict:
        return {name: suggest(trial, name, spec) for name, spec in space.items()}

    hp_space.space = space
    return hp_space


def to_training_arguments(params: dict) -> dict:
    """Trial parameters as `TrainingArguments` fields (batch_size is the train batch, warmup_ratio warmup_steps)."""
    out = {}
    for name, value in params.items():
        if name not in SEARCHABLE:
            raise GlueHelpersError(f"Unknown search-space parameter {name!r}. Valid ones: {', '.join(SEARCHABLE)}.")
        for field in SEARCHABLE[name]:
            out[field] = float(value) if name == "warmup_ratio" else value
    return out
