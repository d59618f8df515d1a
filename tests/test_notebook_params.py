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


def test_notebook01_opens_with_the_lessons_knobs_and_papermill_knows_every_documented_parameter(tmp_path, caplog):
    """One `parameters` cell: the lesson's knobs first, then the settings you rarely change under a marked line; every
    name docs/parameters.md documents is declared there, so papermill sets it without "Passed unknown parameter"."""
    import logging

    import papermill

    names = _parameter_names(NB01)
    lesson = ["task", "model_checkpoint", "batch_size", "learning_rate", "num_train_epochs", "seed",
              "max_train_samples", "output_dir"]
    assert names[:len(lesson)] == lesson
    cell = next(c for c in nbformat.read(NB01, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    before, marker, _ = cell.source.partition("# --- settings you rarely change")
    assert marker and [line.split(" = ")[0] for line in before.splitlines() if " = " in line] == lesson
    documented = _documented()
    assert set(documented) == set(names), "docs/parameters.md and the notebook disagree"
    values = {name: f"set-{name}" for name in documented}
    caplog.set_level(logging.WARNING, logger="papermill")
    papermill.execute_notebook(str(NB01), str(tmp_path / "out.ipynb"), parameters=values, prepare_only=True)
    assert not [r for r in caplog.records if "unknown parameter" in r.getMessage()]
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    namespace: dict = {}
    for c in nb.cells:  # the parameters cell, then papermill's: its values win
        if {"parameters", "injected-parameters"} & set(c.metadata.get("tags", [])):
            exec(c.source, namespace)
    assert {name: namespace[name] for name in documented} == values
