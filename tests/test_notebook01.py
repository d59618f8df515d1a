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
from test_recipe import parameters

from glue_helpers.batch.plan import declared_parameters
from glue_helpers.cli import main as cli_main
from glue_helpers.errors import GlueHelpersError
from glue_helpers.inference import make_classifier
from glue_helpers.tasks import TASK_NAMES, get_task
from glue_helpers.train import check_inputs
from glue_helpers.training import resolve_precision

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NB = NOTEBOOKS / "01_text_classification.ipynb"
EXECUTED = NOTEBOOKS.parent / "docs" / "executed"


def run_smoke(tmp_path, task, nbmake=False, **params):
    """Execute the notebook in smoke mode, with papermill or under nbmake; return its metrics.json and output folder."""
    out, executed = tmp_path / task, tmp_path / f"{task}.ipynb"
    tmp_path.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(NB), str(executed), cwd=str(tmp_path), progress_bar=False, prepare_only=nbmake,
                        parameters={"task": task, "smoke": True, "output_dir": str(out), **params})
    if nbmake:  # the parameters injected above, then nbmake runs every cell
        result = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q",
                                 str(executed)], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-3000:]
    return json.loads((out / "metrics.json").read_text()), out


@pytest.mark.notebook
@pytest.mark.parametrize("task", TASK_NAMES)
def test_smoke_run_for_every_config(kit, tmp_path, task):
    """Every config end to end (stsb's run under nbmake, which runs a notebook as a test)."""
    record, out = run_smoke(tmp_path, task, nbmake=task == "stsb")
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
    names = [line.split(" = ")[0] for line in tagged[0].source.splitlines() if " = " in line]
    assert names[:5] == ["task", "model_checkpoint", "batch_size", "learning_rate", "num_train_epochs"]  # the lesson's
    assert 'model_checkpoint = "distilbert-base-uncased"' in tagged[0].source
    declared = declared_parameters(NB)  # with the `settings` cell's
    for name in ("max_train_samples", "max_eval_samples", "data_dir", "output_dir", "overwrite", "seed", "smoke",
                 "precision", "write_leaderboard", "push_to_hub"):
        assert name in declared
    assert declared["smoke"]["default"] == "False"


@pytest.mark.notebook
def test_notebook_and_train_command_give_the_same_metrics(kit, tmp_path):
    """The notebook's cells and the package's train job must not drift: same task, parameters and seed, same numbers."""
    params = dict(learning_rate=1e-2, num_train_epochs=4, batch_size=8, seed=3, precision="fp32",
                  max_train_samples=1000)
    notebook, _ = run_smoke(tmp_path / "nb", "sst2", **params)
    out = tmp_path / "train"
    assert cli_main(["train", "--smoke", "--task", "sst2", "--learning-rate", "1e-2", "--num-train-epochs", "4",
                     "--batch-size", "8", "--seed", "3", "--precision", "fp32", "--max-train-samples", "1000",
                     "--output-dir", str(out)]) == 0
    train = json.loads((out / "metrics.json").read_text())
    assert notebook["metrics"] == train["metrics"]
    assert not notebook["degenerate"]  # a run that learned something, so the comparison means something
    same = ("task", "primary_metric", "primary_metric_value", "num_train_epochs", "learning_rate", "batch_size", "seed",
            "precision", "train_rows", "eval_rows", "majority_baseline", "degenerate", "primary_metric_ci95", "recipe")
    assert {k: notebook[k] for k in same} == {k: train[k] for k in same}
    assert notebook["train_rows"] == 128 and notebook["max_train_samples"] == 1000  # what was used, and what was asked
    assert notebook["precision"] == "fp32"  # as asked, not "auto"'s choice
    assert (tmp_path / "nb" / "sst2" / "validation_predictions.jsonl").read_text() == (
        out / "validation_predictions.jsonl").read_text()
    # The seed matters: the same run with another seed trains other weights.
    assert cli_main(["train", "--smoke", "--task", "sst2", "--learning-rate", "1e-2", "--num-train-epochs", "4",
                     "--batch-size", "8", "--seed", "7", "--precision", "fp32", "--max-train-samples", "1000",
                     "--output-dir", str(tmp_path / "seed7")]) == 0
    assert json.loads((tmp_path / "seed7" / "metrics.json").read_text())["metrics"]["loss"] != train["metrics"]["loss"]


@pytest.mark.notebook
def test_a_rerun_into_a_used_output_dir_is_refused_unless_overwrite(kit, tmp_path):
    first, out = run_smoke(tmp_path, "sst2")
    # The notebook's first check (check_inputs: a bad knob's notebook run, below, stops there) refuses the folder.
    values = {**parameters("01_text_classification.py"), "task": "sst2", "smoke": True, "output_dir": str(out)}
    with pytest.raises(GlueHelpersError, match="overwrite=True"):
        check_inputs({**values, "learning_rate": 5e-3})
    assert json.loads((out / "metrics.json").read_text()) == first  # the old run is untouched
    second, _ = run_smoke(tmp_path, "sst2", learning_rate=5e-3, overwrite=True)
    assert second["learning_rate"] == 5e-3 and second["metrics"] != first["metrics"]
    assert len(list((out / "checkpoints").glob("checkpoint-*"))) <= 2  # no checkpoints left over from the first run


@pytest.mark.notebook
@pytest.mark.parametrize("bad, needle", [({"learning_rate": -1.0}, "learning_rate")])  # the others: test_recipe
def test_bad_training_parameters_fail_before_any_data_loads(kit, tmp_path, bad, needle):
    with pytest.raises(pm.PapermillExecutionError) as err:
        run_smoke(tmp_path, "cola", **bad)
    assert err.value.ename == "GlueHelpersError" and needle in err.value.evalue
    assert not (tmp_path / "cola").exists()
    ran = nbformat.read(tmp_path / "cola.ipynb", as_version=4)
    data_cell = next(c for c in ran.cells if "load_dataset(" in c.source and c.cell_type == "code")
    assert data_cell.execution_count is None  # the notebook stopped before loading any data


def test_notebook_cells_show_the_recipe():
    source = (NOTEBOOKS / "01_text_classification.py").read_text()
    for call in ("load_dataset(", "evaluate.load(", "AutoTokenizer.from_pretrained(", "convert_ids_to_tokens",
                 "def preprocess_function", ".map(", "AutoModelForSequenceClassification.from_pretrained(",
                 "TrainingArguments(", "def compute_metrics", "pipeline(", "trainer.train()", "trainer.evaluate()",
                 "DataCollatorWithPadding("):
        assert call in source, call


@pytest.mark.parametrize("executed", sorted(EXECUTED.glob("*.ipynb")), ids=lambda p: p.name)
def test_executed_copies_match_their_source_and_show_outputs(executed):
    """docs/executed/ holds real runs for readers; their code must be the notebook's code, and every cell ran."""
    source = jupytext.read(NOTEBOOKS / executed.name)
    ran = nbformat.read(executed, as_version=4)
    code = lambda nb: [c.source.strip() for c in nb.cells if c.cell_type == "code"]  # noqa: E731
    injected = [c for c in ran.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert code(source) == [c for c in code(ran) if c not in {i.source.strip() for i in injected}]
    cells = [c for c in ran.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    assert all(c.execution_count for c in cells)
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in cells for o in c.outputs)


@pytest.mark.parametrize("executed", sorted(EXECUTED.glob("*.ipynb")), ids=lambda p: p.name)
def test_executed_copies_are_quiet(executed):
    """What a reader sees: no progress widget (saved, it stays frozen at its first frame), at most 2 load reports,
    and notebook 02's whole search in at most 200 output lines."""
    outputs = [o for c in nbformat.read(executed, as_version=4).cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    text = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs]
    assert sum(t.count("LOAD REPORT") for t in text) <= 2
    if executed.name.startswith("02_"):
        assert sum(t.count("\n") + 1 for t in text if t) <= 200


def test_every_notebook_has_an_executed_copy_linked_from_its_first_cell():
    for notebook in NOTEBOOKS.glob("*.ipynb"):
        assert (EXECUTED / notebook.name).is_file(), notebook.name
        first = nbformat.read(notebook, as_version=4).cells[0].source
        assert f"docs/executed/{notebook.name}" in first
