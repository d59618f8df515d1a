"""Notebook 03 offline: two smoke batches with seeds, the per-task summary, and the comparison of the two."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NB = NOTEBOOKS / "03_seeds_and_comparison.ipynb"


def _text(nb) -> str:
    """Every text output of an executed notebook."""
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            out.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    return "\n".join(out)


def execute_smoke(out: Path) -> None:
    """Run notebook 03 in smoke mode; if it fails, print what its cells and its batches' run logs said first."""
    try:
        pm.execute_notebook(str(NB), str(out), cwd=str(out.parent), progress_bar=False, parameters={"smoke": True})
    except pm.PapermillExecutionError:
        if out.is_file():
            print(_text(nbformat.read(out, as_version=4))[-4000:])
        for log in sorted(out.parent.glob("runs/*/*/*/run.log")):
            print(f"== {log} ==\n{log.read_text(errors='replace')[-4000:]}")
        raise


@pytest.mark.notebook
def test_smoke_run_makes_two_seeded_batches_and_compares_them(kit, tmp_path):
    out = tmp_path / "nb03.ipynb"
    execute_smoke(out)
    nb = nbformat.read(out, as_version=4)
    for side in ("a", "b"):
        batch = tmp_path / "runs" / f"nb03-smoke-{side}"
        assert [p.name for p in sorted((batch / "sst2").glob("seed-*"))] == ["seed-1", "seed-2"]
        summary = pd.read_csv(batch / "results_summary.csv")
        assert summary["seeds"].tolist() == [2] and summary["task"].tolist() == ["sst2"]
    text = _text(nb)
    assert "A: runs/nb03-smoke-a" in text and "B: runs/nb03-smoke-b" in text
    assert "sst2" in text and ("no clear difference" in text or "better" in text)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the batch chart and the per-seed differences


def test_missing_batch_folders_are_a_clear_error(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="Set batch_a and batch_b"):
        pm.execute_notebook(str(NB), str(tmp_path / "x.ipynb"), cwd=str(tmp_path), progress_bar=False)
    with pytest.raises(pm.PapermillExecutionError, match="results.csv is missing"):
        pm.execute_notebook(str(NB), str(tmp_path / "y.ipynb"), cwd=str(tmp_path), progress_bar=False,
                            parameters={"batch_a": str(tmp_path), "batch_b": str(tmp_path)})

