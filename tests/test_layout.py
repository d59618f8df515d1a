"""The package's map: no import cycle among its modules (function-local imports included), a core that never reaches
into the outer layers (search/, batch/, cli/), a task registry that is a leaf, a short top level, a command line
that starts without the heavy libraries, and every name the notebooks use still there."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from importlib import import_module
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "glue_helpers"
OUTER = ("glue_helpers.search", "glue_helpers.batch", "glue_helpers.cli")
FACADE = ("glue_helpers", "glue_helpers.__main__")  # the entry points, which may reach every layer
MAX_TOP_LEVEL = 18  # 17, plus inputs.py (the programs' input checks, out of train.py)
HEAVY = ("torch", "transformers", "datasets", "pandas", "numpy", "optuna", "sklearn", "matplotlib")


def module_name(path: Path) -> str:
    """glue_helpers/batch/plan.py -> glue_helpers.batch.plan; a package's __init__.py is the package."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, name: str, path: Path) -> str:
    """The module a `from ... import` names, with relative levels resolved against the importing module."""
    if not node.level:
        return node.module
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str) -> set[str]:
    """The package modules a module imports, anywhere in it (function-local imports too). `from . import x` and
    `from .pkg import x` count as importing module x when x is one, else as importing the package. A package's
    `__init__` that runs before its modules is not counted: it runs once, whoever imports first."""
    path = MODULES[name]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path)
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            found.update(sub for sub in submodules if sub in MODULES)
            if base in MODULES and not all(sub in MODULES for sub in submodules):
                found.add(base)
    return found - {name}


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    try:
        TopologicalSorter(graph).prepare()  # each module's imports are its predecessors
    except CycleError as err:
        return err.args[1][::-1]  # graphlib lists predecessors first: reversed, each module imports the next
    return None


def is_outer(name: str) -> bool:
    """True for a module of search/, batch/ or cli/."""
    return any(name == outer or name.startswith(outer + ".") for outer in OUTER)


def test_the_graph_sees_relative_and_function_local_imports():
    assert "glue_helpers.batch.plan" in GRAPH["glue_helpers.batch.results"]  # from .plan import ...
    assert "glue_helpers.stats" in GRAPH["glue_helpers.batch.compare"]  # from .. import stats
    assert "glue_helpers.train" in GRAPH["glue_helpers.cli.train"]  # imported inside run()
    assert "glue_helpers.cli.kit" in GRAPH["glue_helpers.cli"]  # from . import ..., kit, ...
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle in (["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"])  # a -> b -> c -> a, any start
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert find_cycle(GRAPH) is None


@pytest.mark.parametrize("name", [n for n in MODULES if not is_outer(n) and n not in FACADE])
def test_the_core_does_not_import_the_outer_layers(name):
    assert not [target for target in GRAPH[name] if is_outer(target)]


def test_the_task_registry_is_a_leaf():
    assert GRAPH["glue_helpers.tasks"] <= {"glue_helpers.errors"}
    assert GRAPH["glue_helpers.recipe"] <= {"glue_helpers.errors"} and GRAPH["glue_helpers.errors"] == set()


def test_the_top_level_is_short():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top
    assert {"search", "batch", "cli"} <= {path.parent.name for path in PACKAGE.glob("*/__init__.py")}


def test_the_command_line_starts_without_heavy_libraries():
    code = ("import sys; from glue_helpers.cli import build_parser; build_parser(); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("notebook", sorted((REPO / "notebooks").glob("*.py")), ids=lambda p: p.stem)
def test_every_name_the_notebooks_use_is_there(notebook):
    """Each `alias.name` of an `import glue_helpers... as alias` (the notebooks' `gh`), and each name of a
    `from glue_helpers... import a, b`, is an attribute of that module."""
    source = notebook.read_text()
    aliases = re.findall(r"^\s*import (glue_helpers[\w.]*) as (\w+)\s*$", source, re.MULTILINE)
    imported = re.findall(r"^\s*from (glue_helpers[\w.]*) import ([\w, ]+?)\s*$", source, re.MULTILINE)
    assert aliases or imported, f"{notebook.name} imports nothing from glue_helpers"
    used = [(module, name) for module, alias in aliases
            for name in sorted(set(re.findall(rf"\b{alias}\.([A-Za-z_]\w*)", source)))]
    used += [(module, name.strip()) for module, names in imported for name in names.split(",")]
    for module, name in used:
        assert hasattr(import_module(module), name), f"{notebook.name} uses {module}.{name}"
