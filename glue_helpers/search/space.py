"""A search space of your own (`search_space`, `search --space`): recipe knobs mapped to a range `{"low": a, "high":
b}` (optional "log" or "step"), a list of choices or one value; checked before any work."""

from __future__ import annotations

from ..errors import GlueHelpersError
from ..recipe import SEARCHABLE, Recipe

LORA_PARAMETERS = ("lora_r", "lora_alpha", "lora_dropout")  # shape the model: only with peft="lora"
_RANGE_KEYS = {"low", "high", "log", "step"}


def _is_number(x) -> bool:
    """True for int/float but not bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _values(spec) -> list:
    """The end points of a range, the choices of a list, or the fixed value."""
    return [spec["low"], spec["high"]] if isinstance(spec, dict) else list(spec) if isinstance(spec, list) else [spec]


def _check_entry(name: str, spec) -> None:
    """A range of numbers with low < high (low > 0 on a log scale), a non-empty list, or one number."""
    if isinstance(spec, list):
        if not spec:
            raise GlueHelpersError(f"Search-space entry {name!r} has an empty list of choices.")
        return
    if not isinstance(spec, dict):
        if not _is_number(spec):
            raise GlueHelpersError(f"Search-space entry {name!r} must be a range dict, a list or a number; "
                                   f"got {spec!r}.")
        return
    if set(spec) - _RANGE_KEYS or not {"low", "high"} <= set(spec):
        raise GlueHelpersError(f"Search-space entry {name!r} must look like {{'low': a, 'high': b}} (optional 'log', "
                               f"'step'); got {spec!r}.")
    low, high = spec["low"], spec["high"]
    if not (_is_number(low) and _is_number(high)) or low >= high:
        raise GlueHelpersError(f"Search-space entry {name!r} needs numbers with low < high; got {spec!r}.")
    if spec.get("log") and low <= 0:
        raise GlueHelpersError(f"Search-space entry {name!r} is on a log scale, so low must be > 0; got {low!r}.")
    if spec.get("log") and spec.get("step") is not None:
        raise GlueHelpersError(f"Search-space entry {name!r} can't have both 'log' and 'step'.")


def validate_search_space(space, peft: str | None = None) -> dict:
    """Check every entry: a known name, a well-formed range or choices, values the recipe accepts; return the space."""
    if not isinstance(space, dict) or not space:
        raise GlueHelpersError(f"The search space is empty; give at least one of: {', '.join(SEARCHABLE)}.")
    unknown = [k for k in space if k not in SEARCHABLE]
    if unknown:
        raise GlueHelpersError(f"Unknown search-space parameter(s) {unknown}. Valid ones: {', '.join(SEARCHABLE)}.")
    lora = [name for name in LORA_PARAMETERS if name in space]
    if lora and peft != "lora":
        raise GlueHelpersError(f"Search-space entries {lora} only apply to LoRA; set peft='lora' (--peft lora) or "
                               "remove them.")
    for name, spec in space.items():
        _check_entry(name, spec)
        for value in _values(spec):  # each value as one run would take it
            Recipe(peft=peft, **{name: value})
    return space
