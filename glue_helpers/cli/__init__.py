"""`python -m glue_helpers`: one entry point, one sub-command per job."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import GlueHelpersError

# Each module here defines `register(subparsers)`, which adds its sub-command and sets `func`.
COMMAND_MODULES = [
    "glue_helpers.kit_cli",
    "glue_helpers.train_cli",
    "glue_helpers.batch_cli",
    "glue_helpers.search_cli",
    "glue_helpers.compare_cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="python -m glue_helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the sub-command, turn our errors into one clear line."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GlueHelpersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
