"""Notebook 04 offline: a CSV with label words becomes class ids, trains, and the pipeline answers in those words."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from conftest import ONE_SAVE

from glue_helpers.errors import GlueHelpersError

NB = Path(__file__).resolve().parents[1] / "notebooks" / "04_your_own_data.ipynb"


def run(tmp_path: Path, **params) -> nbformat.NotebookNode:
    """Execute notebook 04 with papermill; return the executed notebook."""
    out = tmp_path / "nb04.ipynb"
    pm.execute_notebook(str(NB), str(out), cwd=str(tmp_path), progress_bar=False,
                        parameters={"output_dir": str(tmp_path / "out"), **params}, **ONE_SAVE)
    return nbformat.read(out, as_version=4)


def outputs(nb) -> str:
    """Every text output of an executed notebook."""
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for c in nb.cells
                     for o in c.get("outputs", []))


@pytest.mark.notebook
def test_smoke_run_maps_label_words_to_ids_answers_with_them_and_keeps_notebook_01s_run_folder(kit, tmp_path):
    nb = run(tmp_path, smoke=True, num_train_epochs=2, learning_rate=5e-3)
    text = outputs(nb)
    assert "ClassLabel(names=['negative', 'positive']" in text and "{0: 'negative', 1: 'positive'}" in text
    config = json.loads((tmp_path / "out" / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    answer = nb.cells[-1].outputs[-1].data["text/plain"]
    assert "'label': 'negative'" in answer or "'label': 'positive'" in answer
    assert not (tmp_path / "out" / "unfinished").exists()  # finished: its files moved into the run's folder
    with pytest.raises(pm.PapermillExecutionError, match="already holds another run's outputs"):  # as notebook 01
        run(tmp_path, smoke=True, num_train_epochs=1)
    assert json.loads((tmp_path / "out" / "model" / "config.json").read_text()) == config  # the first run stays


@pytest.mark.notebook
def test_a_validation_file_with_an_unknown_label_or_a_missing_column_fails_with_its_name(kit, tmp_path):
    """A missing file stops in the notebook's own check; the notebook's `gh.resolve_task` call names the rest."""
    from glue_helpers import resolve_task, write_example_csv

    train = write_example_csv(tmp_path / "train.csv")
    bad = tmp_path / "dev.csv"
    bad.write_text("text,label\nfine words,neutral\ngood words,positive\n")
    with pytest.raises(GlueHelpersError, match="neutral"):
        resolve_task("own-data", train_file=str(train), validation_file=str(bad), text_columns="text")
    with pytest.raises(GlueHelpersError, match=r"Column\(s\) \['review'\] not found in the train file"):
        resolve_task("own-data", train_file=str(train), text_columns="review", label_column="label")
    call = 'gh.resolve_task("own-data", train_file=str(train_file), validation_file=validation_file'
    assert call in NB.with_suffix(".py").read_text()  # the notebook's call, with its parameters
    with pytest.raises(pm.PapermillExecutionError, match="validation_file: no file at"):
        run(tmp_path, train_file=str(train), validation_file="nope.csv", model_checkpoint=str(kit.model_dir))
