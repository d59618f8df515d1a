"""Batch, results and submission files are replaced whole (temp file + rename): a killed write leaves the old file."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from batch_helpers import write_dummy_notebook

from glue_helpers.batch.plan import make_plan
from glue_helpers.batch.results import write_results
from glue_helpers.batch.runner import run_batch
from glue_helpers.batch.submission import collect_submission
from glue_helpers.inference import read_predictions, write_predictions_file


@pytest.mark.notebook
def test_a_rerun_replaces_results_zip_manifest_and_parameters_whole(tmp_path):
    notebook = write_dummy_notebook(tmp_path / "dummy.ipynb")
    out = tmp_path / "out"
    run_batch(make_plan(notebook, out, ["cola"]), progress=False)
    files = [out / n for n in ("results.csv", "results.md", "results.png", "glue_submission.zip", "batch.json")]
    files.append(out / "cola" / "parameters.yaml")
    before = {path: path.stat().st_ino for path in files}
    run_batch(make_plan(notebook, out, ["cola"], force=True), force=True, progress=False)
    assert [p.name for p, inode in before.items() if p.stat().st_ino == inode] == []  # renamed in, not rewritten
    assert not list(out.rglob(".*.tmp-*"))


def test_a_failed_write_keeps_the_old_results(tmp_path, monkeypatch):
    folder = tmp_path / "cola"
    folder.mkdir()
    (folder / "status.json").write_text(json.dumps({"status": "succeeded"}))
    (folder / "metrics.json").write_text(json.dumps({"metrics": {"matthews_correlation": 0.5}}))
    write_results(tmp_path, ["cola"])
    old = (tmp_path / "results.csv").read_text()

    def half_then_crash(self, path, **kwargs):
        open(path, "w").write("task,sta")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        write_results(tmp_path, ["cola"])
    assert (tmp_path / "results.csv").read_text() == old and not list(tmp_path.glob(".results.csv.tmp-*"))


def test_leaderboard_file_and_zip_are_replaced_whole(tmp_path, monkeypatch):
    tsv = write_predictions_file(tmp_path / "cola" / "leaderboard" / "CoLA.tsv", [0, 1], ["1", "0"])
    first = tsv.stat().st_ino
    write_predictions_file(tsv, [0, 1], ["0", "0"])
    assert tsv.stat().st_ino != first and read_predictions(tsv) == [(0, "0"), (1, "0")]
    zip_path, _ = collect_submission(tmp_path, [tmp_path / "cola"])
    monkeypatch.setattr(zipfile.ZipFile, "write", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        collect_submission(tmp_path, [tmp_path / "cola"])
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.namelist() == ["CoLA.tsv"]
