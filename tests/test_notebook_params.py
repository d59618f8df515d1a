"""`papermill --help-notebook` lists every parameter of each notebook, with no parse warning."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _parameter_names(path: Path) -> list[str]:
    """Names assigned in the notebook's cell tagged `parameters`."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    return [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_help_notebook_lists_every_parameter(path):
    names = _parameter_names(path)
    assert names, "the parameters cell assigns nothing"
    proc = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)],
                          capture_output=True, text=True, check=True)
    out = proc.stdout + proc.stderr
    assert "Unable to parse" not in out and "WARNING" not in out, out
    listed = {line.split(":")[0].strip() for line in proc.stdout.splitlines() if ": " in line and "(default" in line}
    assert set(names) <= listed, sorted(set(names) - listed)
