"""The one error type users see: it says what was wrong and how to fix it, in the terms of where the user is."""

import os

INTERFACE = "GLUE_HELPERS_INTERFACE"  # "notebook" (default), "command" (a command's flags) or "batch" (its -p)


class GlueHelpersError(ValueError):
    """Bad input or an unreachable resource, with the fix in the message."""


def setting(name: str, value: object = "PATH") -> str:
    """How to set the parameter `name` to `value` where the user is: `name=value` in a notebook, `--name value` for a
    command's flag (a switch alone for True), `-p name value` for batch. A command says which in the environment
    ($GLUE_HELPERS_INTERFACE), so the notebooks it runs say it too."""
    where = os.environ.get(INTERFACE, "notebook")
    shown = str(value).strip("'\"")
    if where == "command":
        flag = "--" + name.replace("_", "-")
        return flag if value is True else f"{flag} {shown}"
    if where == "batch":
        return f"-p {name} {shown}"
    return f"{name}={value}"
