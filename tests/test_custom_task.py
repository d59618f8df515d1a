"""Custom tasks: the same recipe on the user's own files, and a clear error for each kind of bad data."""

import json
import random
import re
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest
import yaml
from conftest import ONE_SAVE
from transformers import pipeline

from glue_helpers.cli import main
from glue_helpers.custom_task import custom_task, resolve_task
from glue_helpers.data import load_glue
from glue_helpers.errors import GlueHelpersError

WORDS = "the a cat dog sees likes big small house tree river city".split()
NB = Path(__file__).resolve().parents[1] / "notebooks" / "01_text_classification.ipynb"
REVIEWS = {"text_columns": "review", "label_column": "sentiment"}  # the columns of the `reviews` fixture's files
SENTIMENTS = {"negative", "neutral", "positive"}
QA = {"train_file": "train.jsonl", "validation_file": "dev.jsonl", "text_columns": ["q", "a"], "label_column": "y",
      "label_names": ["wrong", "right"]}  # a task YAML over the `pairs` fixture's files


def sentences(n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 8))) for _ in range(n)]


@pytest.fixture
def reviews(tmp_path):
    """A single-text CSV task with string labels, train + test files, no validation file."""
    pd.DataFrame({"review": sentences(60, 0), "sentiment": ["positive", "negative", "neutral"] * 20}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"review": sentences(9, 1)}).to_csv(tmp_path / "test.csv", index=False)
    return tmp_path


@pytest.fixture
def pairs(tmp_path):
    """A JSON-lines pair task with integer labels and named classes."""
    for split, n in (("train", 40), ("dev", 12)):
        texts = zip(sentences(n, 2), sentences(n, 3), strict=True)
        rows = [{"q": a, "a": b, "y": i % 2} for i, (a, b) in enumerate(texts)]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return tmp_path


def test_labels_are_inferred_in_a_stable_order_and_validation_is_carved_stratified_and_said(reviews, capsys):
    t = custom_task("reviews", reviews / "train.csv", test_file=reviews / "test.csv", **REVIEWS)
    assert t.label_names == ("negative", "neutral", "positive")
    assert t.metric_names == ("accuracy", "f1_macro") and t.primary_metric == "accuracy"
    assert t.is_custom and not t.is_pair and not t.is_regression
    a, b = load_glue(t, seed=1), load_glue(t, seed=1)
    assert (len(a["validation"]), len(a["train"]), sorted(a["validation"]["label"])) == (6, 54, [0, 0, 1, 1, 2, 2])
    assert a["validation"]["review"] == b["validation"]["review"]
    assert "carved from train" in capsys.readouterr().out and set(a["test"]["label"]) == {-1}


def test_integer_labels_with_names_and_a_yaml_file(pairs):
    (pairs / "task.yaml").write_text(yaml.safe_dump({"name": "qa", **QA}))
    task = resolve_task(str(pairs / "task.yaml"))
    ds = load_glue(task)
    assert task.name == "qa" and task.is_pair and task.label_names == ("wrong", "right")
    assert ds["validation"].features["label"].names == ["wrong", "right"] and "test" not in ds
    assert resolve_task("sst-2").name == "sst2"  # resolve_task keeps GLUE tasks


def test_regression_uses_pearson_and_spearman(tmp_path):
    pd.DataFrame({"text": sentences(30, 4), "score": [i / 10 for i in range(30)]}).to_csv(tmp_path / "t.csv")
    t = custom_task("scores", tmp_path / "t.csv", label_column="score", regression=True)
    assert t.is_regression and t.num_labels == 1 and t.metric_names == ("pearson", "spearmanr")
    assert load_glue(t)["train"].features["label"].dtype == "float32"


@pytest.mark.parametrize("change, message", [
    pytest.param({"train_file": "nope.csv"}, "does not exist", id="missing-file"),
    pytest.param({"text_columns": "body"}, "['review', 'sentiment']", id="unknown-text-column"),
    pytest.param({"label_column": "stars"}, "['review', 'sentiment']", id="unknown-label-column"),
    pytest.param({"label_names": ["negative", "neutral", "neutral"]}, "duplicates", id="duplicate-label-names"),
    pytest.param({"regression": True}, "non-numeric", id="regression-on-words"),
])
def test_bad_custom_data(reviews, change, message):
    spec = {"train_file": "train.csv", **REVIEWS, **change}
    with pytest.raises(GlueHelpersError, match=re.escape(message)):  # when the task is resolved, before any run folder
        custom_task("reviews", **{**spec, "train_file": reviews / spec["train_file"]})


def execute(folder, notebook=NB, **parameters) -> Path:
    """Runs a notebook in smoke mode with `folder` as its working directory; returns its output_dir."""
    out = folder / "run"
    pm.execute_notebook(str(notebook), str(folder / "executed.ipynb"), cwd=str(folder), progress_bar=False,
                        parameters={"smoke": True, "output_dir": str(out), **parameters}, **ONE_SAVE)
    return out


@pytest.mark.notebook
def test_notebook_on_a_custom_csv(kit, reviews):
    out = execute(reviews, task="reviews", num_train_epochs=1, train_file=str(reviews / "train.csv"),
                  test_file=str(reviews / "test.csv"), **REVIEWS)
    record = json.loads((out / "metrics.json").read_text())
    assert record["task"] == "reviews" and {"accuracy", "f1_macro"} <= set(record["metrics"])
    assert pipeline("text-classification", model=str(out / "model"))("a big cat")[0]["label"] in SENTIMENTS
    predictions = pd.read_csv(out / "test_predictions.csv")
    assert len(predictions) == 9 and set(predictions["prediction"]) <= SENTIMENTS


@pytest.mark.notebook
def test_batch_mixes_a_glue_task_and_a_custom_pair_task_from_one_yaml(kit, pairs):
    """The custom task: JSON lines, a pair, named integer labels and its own override. (A custom regression:
    test_regression_uses_pearson_and_spearman; one from notebook parameters: test_notebook_on_a_custom_csv.)"""
    (pairs / "qa.yaml").write_text(yaml.safe_dump(QA))
    (pairs / "batch.yaml").write_text(yaml.safe_dump({
        "run": ["cola", "qa.yaml"], "parameters": {"smoke": True, "num_train_epochs": 1},
        "tasks": {"qa": {"learning_rate": 1e-3}}}))
    out = pairs / "batch"
    assert main(["batch", "--notebook", str(NB), "--out", str(out), "--config", str(pairs / "batch.yaml"),
                 "--no-progress"]) == 0
    custom = json.loads((out / "qa" / "metrics.json").read_text())  # named by its file
    assert custom["task"] == "qa" and custom["learning_rate"] == 1e-3 and "f1_macro" in custom["metrics"]
    assert "matthews_correlation" in json.loads((out / "cola" / "metrics.json").read_text())["metrics"]
    classifier = pipeline("text-classification", model=str(out / "qa" / "model"))
    prediction = classifier({"text": "a cat", "text_pair": "a dog"})
    label = prediction[0]["label"] if isinstance(prediction, list) else prediction["label"]
    assert label in {"wrong", "right"}
    table = pd.read_csv(out / "results.csv")
    assert list(table["task"]) == ["cola", "qa"] and set(table["status"]) == {"succeeded"}
