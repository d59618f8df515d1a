"""Notebook 03 offline: two smoke batches with seeds, the per-task summary, and the comparison of the two."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest
from conftest import ONE_SAVE

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
        pm.execute_notebook(str(NB), str(out), cwd=str(out.parent), progress_bar=False,
                            parameters={"smoke": True, "jobs": 2, "tasks": ["cola"], "seeds": [42, 43]}, **ONE_SAVE)
    except pm.PapermillExecutionError:
        if out.is_file():
            print(_text(nbformat.read(out, as_version=4))[-4000:])
        for log in sorted(out.parent.glob("runs/*/*/*/run.log")):
            print(f"== {log} ==\n{log.read_text(errors='replace')[-4000:]}")
        raise


@pytest.mark.notebook
def test_smoke_run_makes_two_seeded_batches_and_compares_them(kit, tmp_path):
    """`-p smoke True` (on CoLA alone, 2 jobs: the test's wait in half): two batches of 2 seeds, the numpy bootstrap
    agreeing with compare_runs's, and McNemar's p-value."""
    out = tmp_path / "nb03.ipynb"
    execute_smoke(out)
    nb = nbformat.read(out, as_version=4)
    for side in ("a", "b"):
        batch = tmp_path / "runs" / f"nb03-{side}"
        assert [p.name for p in sorted((batch / "cola").glob("seed-*"))] == ["seed-42", "seed-43"]
        assert pd.read_csv(batch / "results_summary.csv")["task"].tolist() == ["cola"]
    text = _text(nb)
    assert "A: runs/nb03-a" in text and "B: runs/nb03-b" in text
    numpy_line = next(line for line in text.splitlines() if "95% paired bootstrap interval [" in line)
    low, high = (float(x) for x in numpy_line.rsplit("[", 1)[1].rstrip("]").split(", "))
    from glue_helpers.batch.compare import compare_runs

    table = compare_runs(tmp_path / "runs" / "nb03-a", tmp_path / "runs" / "nb03-b").set_index("task")
    assert table.loc["cola", "ci_low"] == pytest.approx(low, abs=0.05)
    assert table.loc["cola", "ci_high"] == pytest.approx(high, abs=0.05)
    assert table["mcnemar_p"].notna().all()  # classification tasks: McNemar applies
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the batch chart and the per-seed differences


@pytest.mark.notebook
def test_a_failing_batch_is_a_clear_error(kit, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(pm.PapermillExecutionError, match="the batch for runs/nb03-a failed"):
        pm.execute_notebook(str(NB), str(tmp_path / "x.ipynb"), cwd=str(tmp_path), progress_bar=False,
                            parameters={"tasks": ["cola"], "seeds": [1], "model_checkpoint": str(tmp_path / "none")})
