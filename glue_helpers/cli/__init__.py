"""`python -m glue_helpers`: one entry point, one sub-command per module here (kit, train, batch, search, compare).

Sub-command modules import only argparse and the recipe's defaults at load time, so the command line starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import INTERFACE, GlueHelpersError
from . import batch, compare, kit, search, train

COMMANDS = (kit, train, batch, search, compare)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="python -m glue_helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the sub-command, turn our errors into one clear line in the command's terms."""
    args = build_parser().parse_args(argv)
    before = os.environ.get(INTERFACE)
    os.environ[INTERFACE] = "batch" if args.command == "batch" else "command"  # the notebooks it runs inherit it
    try:
        return int(args.func(args) or 0)
    except GlueHelpersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:  # main() called in a process that goes on (a test, a notebook): its own terms again
        if before is None:
            os.environ.pop(INTERFACE, None)
        else:
            os.environ[INTERFACE] = before
