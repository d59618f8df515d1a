"""Notebook 01 end to end, offline: papermill in smoke mode for every config, nbmake, reproducibility,
the offline failure of the default (Hub) run, and the .ipynb/.py pair."""

import json
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import papermill as pm
import pytest

from glue_helpers.inference import make_classifier
from glue_helpers.tasks import TASK_NAMES, get_task
from glue_helpers.training import resolve_precision

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NB = NOTEBOOKS / "01_text_classification.ipynb"


def run_smoke(tmp_path, task, **params):
    """Execute the notebook in smoke mode; return its metrics.json record and output folder."""
    out = tmp_path / task
    tmp_path.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(NB), str(tmp_path / f"{task}.ipynb"), cwd=str(tmp_path), progress_bar=False,
                        parameters={"task": task, "smoke": True, "output_dir": str(out), **params})
    return json.loads((out / "metrics.json").read_text()), out


@pytest.mark.notebook
@pytest.mark.parametrize("task", TASK_NAMES)
def test_smoke_run_for_every_config(kit, tmp_path, task):
    record, out = run_smoke(tmp_path, task)
    t = get_task(task)
    assert record["task"] == t.name and record["primary_metric"] == t.primary_metric
    assert set(t.metric_names) <= set(record["metrics"])
    assert isinstance(record["primary_metric_value"], float)
    assert record["train_samples_per_second"] > 0 and record["versions"]["transformers"]
    assert record["precision"] == resolve_precision("auto")
    for picture in ("training_curve.png", "validation_predictions.png"):
        assert (out / picture).stat().st_size > 1000
    assert "Validation results" in (out / "model" / "README.md").read_text()
    prediction = make_classifier(out / "model", t)(
        {"text": "a cat", "text_pair": "a dog"} if t.is_pair else "a cat sees a dog")
    label = prediction[0]["label"] if isinstance(prediction, list) else prediction["label"]
    assert label in (t.label_names or ("similarity",))


@pytest.mark.notebook
def test_same_parameters_same_metrics(kit, tmp_path):
    first, _ = run_smoke(tmp_path / "a", "cola", learning_rate=1e-3, num_train_epochs=3)
    second, _ = run_smoke(tmp_path / "b", "cola", learning_rate=1e-3, num_train_epochs=3)
    assert first["metrics"] == second["metrics"]
    third, _ = run_smoke(tmp_path / "c", "cola", learning_rate=1e-3, num_train_epochs=3, seed=7)
    assert third["metrics"]["loss"] != first["metrics"]["loss"]


@pytest.mark.notebook
def test_precision_is_recorded_and_a_bad_one_fails_before_any_work(kit, tmp_path):
    record, _ = run_smoke(tmp_path, "mrpc", precision="fp32")
    assert record["precision"] == "fp32"
    with pytest.raises(pm.PapermillExecutionError) as err:
        run_smoke(tmp_path / "bad", "mrpc", precision="half")
    assert err.value.ename == "GlueHelpersError" and "auto, fp32, bf16, fp16" in err.value.evalue
    assert not (tmp_path / "bad" / "mrpc").exists()


@pytest.mark.notebook
def test_runs_under_nbmake(kit, tmp_path):
    pm.execute_notebook(str(NB), str(tmp_path / "smoke.ipynb"), prepare_only=True,
                        parameters={"task": "stsb", "smoke": True, "output_dir": str(tmp_path / "out")})
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q",
                             str(tmp_path / "smoke.ipynb")], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout
    assert (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.notebook
def test_default_hub_run_fails_fast_offline_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(NB), str(tmp_path / "hub.ipynb"), cwd=str(tmp_path), progress_bar=False,
                            parameters={"output_dir": str(tmp_path / "out")})
    assert err.value.ename == "GlueHelpersError"
    for fix in ("-p data_dir", "-p model_checkpoint", "-p smoke True"):
        assert fix in err.value.evalue


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_ipynb_and_its_py_twin_hold_the_same_cells(notebook):
    ipynb, py = jupytext.read(notebook), jupytext.read(notebook.with_suffix(".py"))
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    assert cells(ipynb) == cells(py)


def test_committed_notebook_has_no_outputs_and_a_parameters_cell():
    nb = nbformat.read(NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("task", "model_checkpoint", "batch_size", "learning_rate", "num_train_epochs", "max_train_samples",
                 "max_eval_samples", "data_dir", "output_dir", "seed", "smoke", "push_to_hub"):
        assert f"\n{name} = " in "\n" + tagged[0].source
    assert 'model_checkpoint = "distilbert-base-uncased"' in tagged[0].source and "smoke = False" in tagged[0].source
