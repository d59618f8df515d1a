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


NB01 = next(p for p in NOTEBOOKS if p.stem.startswith("01_"))
DOCS = Path(__file__).resolve().parents[1] / "docs" / "parameters.md"


def _documented() -> list[str]:
    """Every name in docs/parameters.md's table (first column: one or more backticked names)."""
    rows = [line.split("|")[1] for line in DOCS.read_text().splitlines() if line.startswith("| `")]
    return [name.strip(" `") for row in rows for name in row.split(",")]


def test_notebook01_first_screen_has_at_most_12_knobs_and_papermill_sets_every_documented_parameter():
    """The `parameters` cell holds the lesson's knobs only; the `settings` cell before it holds the rest, and
    papermill's injected values (written after the `parameters` cell) win over both, for every documented name."""
    import papermill.iorw
    import papermill.parameterize

    from glue_helpers.batch.plan import declared_parameters

    names = _parameter_names(NB01)
    assert len(names) <= 12 and {"task", "model_checkpoint", "batch_size", "learning_rate", "num_train_epochs",
                                 "seed"} <= set(names)
    documented = _documented()
    assert set(documented) == set(declared_parameters(NB01)), "docs/parameters.md and the notebook disagree"
    values = {name: f"set-{name}" for name in documented}
    nb = papermill.parameterize.parameterize_notebook(papermill.iorw.load_notebook_node(str(NB01)), values)
    namespace: dict = {}
    for cell in nb.cells:  # every cell of assignments, run in the notebook's order: a later default would win
        if {"settings", "parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])):
            exec(cell.source, namespace)
    assert {name: namespace[name] for name in documented} == values
    # collapsed on the first screen: Jupyter reads source_hidden; Colab shows a form cell as its @title alone
    settings = [c for c in nb.cells if "settings" in c.metadata.get("tags", [])]
    assert [(c.metadata.get("jupyter"), c.metadata.get("cellView"), c.source.startswith("# @title ")) for c in settings
            ] == [({"source_hidden": True}, "form", True)]
