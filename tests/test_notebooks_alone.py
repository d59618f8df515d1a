"""Notebooks 03 and 04 run alone, as a learner gets them: each copied by itself into an empty folder, with
glue_helpers installed from a wheel (not this checkout): in smoke mode offline, and notebook 04 with its defaults
where the Hub is reachable. It runs where the package is installed from a wheel: `.ci/compat colab`, on Colab's
versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from conftest import ONE_SAVE

import glue_helpers
from glue_helpers.offline_kit import hub_offline_mode, hub_reachable

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FROM_A_WHEEL = "site-packages" in glue_helpers.__file__
# Smoke mode; notebook 03 runs notebook 01 twice (one task, one seed, two batches). Notebooks 01 and 02 run as the
# wheel ships them, from an empty folder, in tests/test_install.py (`batch`, `search`): they read no file beside them.
SMOKE = {"03_seeds_and_comparison": {"smoke": True, "tasks": ["mrpc"], "seeds": [42]},
         "04_your_own_data": {"smoke": True}}

pytestmark = [pytest.mark.notebook,
              pytest.mark.skipif(not FROM_A_WHEEL, reason="needs glue_helpers installed from a wheel: .ci/compat")]


def run_alone(tmp_path: Path, name: str, parameters: dict) -> tuple[Path, nbformat.NotebookNode]:
    """Copy the notebook alone into an empty folder and run it there; its folder and executed copy."""
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", folder)
    pm.execute_notebook(str(folder / f"{name}.ipynb"), str(folder / "executed.ipynb"), cwd=str(folder),
                        parameters=parameters, progress_bar=False, **ONE_SAVE)
    return folder, nbformat.read(folder / "executed.ipynb", as_version=4)


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_a_notebook_runs_alone_in_smoke_mode(kit, tmp_path, name):
    folder, executed = run_alone(tmp_path, name, SMOKE[name])
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")
    assert list((folder / "runs").rglob("config.json"))  # a trained model, in its own folder's runs/


@pytest.mark.skipif(hub_offline_mode() or not hub_reachable(), reason="notebook 04's defaults need the Hub")
def test_notebook_04_runs_alone_with_its_defaults(tmp_path):
    folder, _ = run_alone(tmp_path, "04_your_own_data", {"example_rows": 300, "num_train_epochs": 1})
    assert list(folder.glob("runs/own-data-*/model/config.json"))
