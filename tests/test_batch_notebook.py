"""Notebook 01 through the batch runner in smoke mode: two tasks, results and a well-formed submission zip."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from glue_helpers.cli import main

pytestmark = pytest.mark.notebook
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_text_classification.ipynb"


@pytest.mark.skipif(not NOTEBOOK.is_file(), reason="notebook 01 is not there")
def test_smoke_batch_of_mnli_and_stsb(kit, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["batch", "--notebook", str(NOTEBOOK), "--out", str(out), "--tasks", "mnli", "stsb",
                 "-p", "smoke", "True", "-p", "num_train_epochs", "1", "--jobs", "2", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for task in ("mnli", "stsb"):
        assert json.loads((out / task / "status.json").read_text())["status"] == "succeeded"
        assert json.loads((out / task / "metrics.json").read_text())["task"] == task
        assert (out / task / "model" / "config.json").is_file()
    with zipfile.ZipFile(out / "glue_submission.zip") as zf:
        assert sorted(zf.namelist()) == ["AX.tsv", "MNLI-m.tsv", "STS-B.tsv"]
        for name in zf.namelist():
            lines = zf.read(name).decode().splitlines()
            assert lines[0] == "index\tprediction" and len(lines) == 1 + 32
    assert "submission:" in printed and "(3 of 11 leaderboard files)" in printed and "CoLA.tsv" in printed
    assert "| mnli | mnli | 42 | succeeded |" in (out / "results.md").read_text()
