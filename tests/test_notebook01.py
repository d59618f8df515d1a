"""Notebook 01 end to end, offline: smoke runs of every config, reproducibility, the Hub failure, the .py twins."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import papermill as pm
import pytest
from conftest import ONE_SAVE
from test_recipe import parameters
from test_tracking import scalars
from transformers import pipeline

from glue_helpers.batch.plan import declared_parameters
from glue_helpers.data import load_glue
from glue_helpers.errors import GlueHelpersError
from glue_helpers.inputs import check_inputs
from glue_helpers.metrics import make_compute_metrics
from glue_helpers.modeling import load_tokenizer, tokenize_dataset
from glue_helpers.offline_kit import SIZES
from glue_helpers.tasks import TASK_NAMES, get_task
from glue_helpers.training import resolve_precision

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NB = NOTEBOOKS / "01_text_classification.ipynb"
EXECUTED = NOTEBOOKS.parent / "docs" / "executed"


def run_smoke(tmp_path, task, nbmake=False, **params):
    """Execute the notebook in smoke mode, with papermill or under nbmake; return its metrics.json and output folder."""
    out, executed = tmp_path / task, tmp_path / f"{task}.ipynb"
    tmp_path.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(NB), str(executed), cwd=str(tmp_path), progress_bar=False, prepare_only=nbmake,
                        parameters={"task": task, "smoke": True, "output_dir": str(out), **params}, **ONE_SAVE)
    if nbmake:  # the parameters injected above, then nbmake runs every cell
        result = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q",
                                 str(executed)], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-3000:]
    return json.loads((out / "metrics.json").read_text()), out


def train_command(env, out, *args):
    """`python -m glue_helpers train` in a fresh process with `env`; its metrics.json (its output if it fails)."""
    proc = subprocess.run([sys.executable, "-m", "glue_helpers", "train", *args, "--output-dir", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


# A task of each kind runs the notebook: one sentence; a pair, 3 classes, mismatched validation; regression (nbmake).
# What differs between all ten: test_every_config_loads_tokenizes_and_scores.
KINDS = ("cola", "mnli-mm", "stsb")


@pytest.mark.notebook
@pytest.mark.parametrize("task", KINDS)
def test_smoke_run_of_each_kind_of_task(kit, tmp_path, task):
    """A task of each kind end to end (stsb's run under nbmake, which runs a notebook as a test)."""
    record, out = run_smoke(tmp_path, task, nbmake=task == "stsb")
    t = get_task(task)
    assert (record["task"], record["primary_metric"], record["precision"]) == (
        t.name, t.primary_metric, resolve_precision("auto"))
    assert set(t.metric_names) <= set(record["metrics"]) and isinstance(record["primary_metric_value"], float)
    assert record["train_samples_per_second"] > 0 and record["versions"]["transformers"]
    assert all((out / png).stat().st_size > 1000 for png in ("training_curve.png", "validation_predictions.png"))
    assert "Validation results" in (out / "model" / "README.md").read_text()
    classifier = pipeline("text-classification", model=str(out / "model"),  # raw scores for a regression task
                          **({"function_to_apply": "none"} if t.is_regression else {}))
    prediction = classifier({"text": "a cat", "text_pair": "a dog"} if t.is_pair else "a cat sees a dog")
    label = prediction[0]["label"] if isinstance(prediction, list) else prediction["label"]
    assert label in (t.label_names or ("similarity",))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_config_loads_tokenizes_and_scores(kit, task):
    """What differs between configs, in process: the kit's splits, the text columns tokenized, the task's metrics."""
    t = get_task(task)
    data = load_glue(t, kit.data_dir)
    encoded = tokenize_dataset(data, t, load_tokenizer(kit.model_dir))
    assert {"input_ids", "label"} <= set(encoded["validation"].column_names)
    assert len(encoded["validation"]) == SIZES["validation"]
    labels = np.array(data["validation"]["label"])
    perfect = labels[:, None] if t.is_regression else np.eye(t.num_labels)[labels]
    scores = make_compute_metrics(t)((perfect, labels))
    assert set(scores) == set(t.metric_names) and scores[t.primary_metric] == pytest.approx(1.0)


def test_default_hub_run_fails_fast_offline_with_the_fix(tmp_path, monkeypatch):
    """The notebook's defaults with the Hub unreachable: its first cell, `check_inputs(globals())`, fails at once
    (a notebook run of a failing first cell: the bad knob in the reproducibility test)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(GlueHelpersError) as err:
        check_inputs({**parameters("01_text_classification.py"), "output_dir": str(tmp_path / "out")})
    fixes = ("data_dir=PATH", "model_checkpoint=PATH", "smoke=True", "With papermill", "-p data_dir PATH")
    assert all(fix in str(err.value) for fix in fixes), err.value  # a notebook's terms, and papermill's
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_ipynb_and_its_py_twin_hold_the_same_cells(notebook):
    ipynb, py = jupytext.read(notebook), jupytext.read(notebook.with_suffix(".py"))
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    assert cells(ipynb) == cells(py)
    # and it has an executed copy, linked from its first cell
    assert (EXECUTED / notebook.name).is_file() and f"docs/executed/{notebook.name}" in ipynb.cells[0].source


def test_committed_notebook_has_no_outputs_a_parameters_cell_and_shows_the_recipe():
    nb = nbformat.read(NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = [line.split(" = ")[0] for line in tagged[0].source.splitlines() if " = " in line]
    assert names[:5] == ["task", "model_checkpoint", "batch_size", "learning_rate", "num_train_epochs"]  # the lesson's
    assert 'model_checkpoint = "distilbert-base-uncased"' in tagged[0].source
    declared = declared_parameters(NB)  # with the `settings` cell's
    assert {"max_train_samples", "max_eval_samples", "data_dir", "output_dir", "overwrite", "seed", "smoke",
            "precision", "write_leaderboard", "push_to_hub", "weight_decay", "warmup_ratio"} <= set(declared)
    assert declared["smoke"]["default"] == "False"
    source = (NOTEBOOKS / "01_text_classification.py").read_text()  # the cells show the recipe
    for call in ("load_dataset(", "evaluate.load(", "AutoTokenizer.from_pretrained(", "convert_ids_to_tokens",
                 "def preprocess_function", ".map(", "AutoModelForSequenceClassification.from_pretrained(",
                 "TrainingArguments(", "def compute_metrics", "pipeline(", "trainer.train()", "trainer.evaluate()",
                 "DataCollatorWithPadding("):
        assert call in source, call


@pytest.mark.notebook
def test_notebook_and_train_command_give_the_same_metrics_and_a_rerun_needs_overwrite(kit, tmp_path, monkeypatch,
                                                                                        clean_env):
    """Notebook cells and the train job must not drift: same parameters and seed (fresh processes), same numbers.
    Then the notebook's folder holds a run: a rerun is refused without `overwrite`, a bad knob fails before any data
    loads and leaves the run as it was, and a rerun with `overwrite` replaces it (with its TensorBoard events)."""
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count() or 1))
    env = dict(os.environ)  # what the papermill kernel inherits
    params = dict(learning_rate=1e-2, num_train_epochs=4, batch_size=8, precision="fp32", max_train_samples=1000)
    notebook, nb_out = run_smoke(tmp_path, "sst2", seed=3, **params)
    out = tmp_path / "train"
    flags = ["--smoke", "--task", "sst2", *(x for k, v in params.items() for x in (f"--{k.replace('_', '-')}", str(v)))]
    train = train_command(env, out, *flags, "--seed", "3")
    assert notebook["metrics"] == train["metrics"]
    assert not notebook["degenerate"]  # a run that learned something, so the comparison means something
    same = ("task", "primary_metric", "primary_metric_value", "num_train_epochs", "learning_rate", "batch_size", "seed",
            "precision", "train_rows", "eval_rows", "majority_baseline", "degenerate", "primary_metric_ci95", "recipe")
    assert {k: notebook[k] for k in same} == {k: train[k] for k in same}
    # what was used and what was asked; the precision as asked, not "auto"'s choice
    assert (notebook["train_rows"], notebook["max_train_samples"], notebook["precision"]) == (128, 1000, "fp32")
    assert (nb_out / "validation_predictions.jsonl").read_text() == (out / "validation_predictions.jsonl").read_text()
    # That another seed trains other weights: the search test's re-check (seeds 42 and 43 of the recipe).

    # The notebook's first check (check_inputs) refuses the used folder.
    values = {**parameters("01_text_classification.py"), "task": "sst2", "smoke": True, "output_dir": str(nb_out)}
    with pytest.raises(GlueHelpersError, match="overwrite=True"):
        check_inputs({**values, "learning_rate": 5e-3})
    with pytest.raises(pm.PapermillExecutionError) as err:  # the other bad knobs: test_recipe
        run_smoke(tmp_path, "sst2", learning_rate=-1.0, overwrite=True)
    assert err.value.ename == "GlueHelpersError" and "learning_rate" in err.value.evalue
    ran = nbformat.read(tmp_path / "sst2.ipynb", as_version=4)
    assert next(c for c in ran.cells if "load_dataset(" in c.source and c.cell_type == "code").execution_count is None
    assert json.loads((nb_out / "metrics.json").read_text()) == notebook  # the old run is untouched
    second, _ = run_smoke(tmp_path, "sst2", learning_rate=5e-3, overwrite=True, report_to="tensorboard")
    assert second["learning_rate"] == 5e-3 and second["metrics"] != notebook["metrics"]
    assert len(list((nb_out / "checkpoints").glob("checkpoint-*"))) <= 2  # no checkpoints left over from the first run
    # TensorBoard's run is named by task, model and seed, in the run folder
    assert [p.name for p in (nb_out / "tracking" / "tensorboard").iterdir()] == [f"sst2-{kit.model_dir.name}-seed42"]
    found = scalars(nb_out / "tracking")
    assert len(found["train/loss"]) >= 1 and "eval/accuracy" in found


@pytest.mark.parametrize("executed", sorted(EXECUTED.glob("*.ipynb")), ids=lambda p: p.name)
def test_executed_copies_match_their_source_and_show_outputs(executed):
    """docs/executed/ holds real runs for readers; their code must be the notebook's code, and every cell ran."""
    source, ran = jupytext.read(NOTEBOOKS / executed.name), nbformat.read(executed, as_version=4)
    cells = [c for c in ran.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    assert [c.source.strip() for c in source.cells if c.cell_type == "code"] == [c.source.strip() for c in cells]
    assert all(c.execution_count for c in cells)
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in cells for o in c.outputs)


@pytest.mark.parametrize("executed", sorted(EXECUTED.glob("*.ipynb")), ids=lambda p: p.name)
def test_executed_copies_are_quiet(executed):
    """No progress widget (saved, it stays frozen), at most 2 load reports, notebook 02's search in <= 200 lines."""
    outputs = [o for c in nbformat.read(executed, as_version=4).cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    text = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs]
    assert sum(t.count("LOAD REPORT") for t in text) <= 2
    if executed.name.startswith("02_"):
        assert sum(t.count("\n") + 1 for t in text if t) <= 200
