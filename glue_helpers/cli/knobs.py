"""Command-line flags generated from the recipe's dataclasses, as `HfArgumentParser` does: one flag per field."""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields

from ..recipe import check_knobs


def number(text: str) -> int | float:
    """A flag's number as the notebook would write it: 16 stays an int, 0.5 and 2e-5 are floats."""
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def or_none(parse):
    """`parse`, but the word none gives None: for a knob that may be None (`float | None`)."""
    def parse_or_none(text: str):
        return None if text.lower() == "none" else parse(text)
    parse_or_none.__name__ = parse.__name__  # argparse names it in "invalid ... value"
    return parse_or_none


def add_knobs(parser, config: type, names: tuple[str, ...] | None = None) -> None:
    """Add one flag per field of the dataclass `config` (or of `names`): its type, default, choices and help."""
    hints = typing.get_type_hints(config)
    for f in fields(config):
        if names is not None and f.name not in names:
            continue
        kind = optional = hints[f.name]
        if isinstance(kind, types.UnionType):  # `int | None`: the flag parses the int, or none
            kind = next(arg for arg in kind.__args__ if arg is not type(None))
        options = {"dest": f.name, "help": f"{f.metadata.get('help', '')} (default %(default)s)"}
        if typing.get_origin(kind) is list:
            options.update(nargs=f.metadata.get("nargs") or "+", type=typing.get_args(kind)[0], metavar="NAME")
        elif kind is bool:
            options.update(action="store_true")
        else:
            parse = number if kind is float else kind
            options.update(type=or_none(parse) if optional is not kind else parse)
        if f.metadata.get("choices"):
            options.update(choices=[c for c in f.metadata["choices"] if c is not None])
        default = f.default if f.default is not MISSING else f.default_factory()
        parser.add_argument(flag(f.name), *f.metadata.get("flags", ()), default=default, **options)


def knob_values(args, config: type, names: tuple[str, ...] | None = None) -> dict:
    """The parsed flags that `add_knobs` added, by field name."""
    return {f.name: getattr(args, f.name) for f in fields(config) if names is None or f.name in names}


def flag(name: str) -> str:
    """A field's flag: learning_rate -> --learning-rate."""
    return f"--{name.replace('_', '-')}"


def from_flags(args, config: type, names: tuple[str, ...] | None = None):
    """`config` built from the parsed flags, its fields' checks run first so a bad value is named by its flag."""
    values = knob_values(args, config, names)
    check_knobs(config, values, label=flag)
    return config(**values)
