"""The results table, the GLUE-style average and the chart, from metrics.json files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from glue_helpers.batch.results import (
    REF_COLUMN,
    bar_labels,
    glue_average,
    metric_columns,
    reference_average,
    results_table,
    task_score,
    to_markdown,
    write_results,
)
from glue_helpers.tasks import get_task


def _write(run_dir, task, metrics, status="succeeded"):
    folder = run_dir / task
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"status": status, "seconds": 12.5}))
    if metrics:
        primary = next(iter(metrics))
        (folder / "metrics.json").write_text(json.dumps({
            "task": task, "model": "m", "metrics": metrics, "primary_metric": primary.removeprefix("eval_"),
            "primary_metric_value": metrics[primary], "train_runtime": 30.0, "train_samples_per_second": 33.3}))


@pytest.fixture
def run_dir(tmp_path):
    _write(tmp_path, "cola", {"eval_matthews_correlation": 0.4, "eval_loss": 0.6, "eval_runtime": 2.0})
    _write(tmp_path, "stsb", {"eval_pearson": 0.8, "eval_spearmanr": 0.7, "eval_combined_score": 0.75})
    _write(tmp_path, "mnli", {"eval_accuracy": 0.8})
    _write(tmp_path, "mnli-mm", {"eval_accuracy": 0.7})
    _write(tmp_path, "rte", {}, status="failed")
    return tmp_path


def test_metric_columns_drop_prefix_losses_and_timings():
    assert metric_columns({"eval_f1": 0.5, "eval_loss": 1.0, "eval_runtime": 3, "epoch": 2.0, "accuracy": 1}) == {
        "f1": 0.5, "accuracy": 1.0}


def test_task_score_averages_two_metrics():
    assert task_score("stsb", {"eval_pearson": 0.8, "eval_spearmanr": 0.7}) == pytest.approx(75.0)
    assert task_score("mrpc", {"accuracy": 0.8, "f1": 0.9}) == pytest.approx(85.0)
    assert task_score("cola", {"matthews_correlation": 0.5}) == pytest.approx(50.0)
    assert task_score("mrpc", {"accuracy": 0.8}) is None


def test_table_has_every_metric_reference_and_status(run_dir):
    table = results_table(run_dir, ["cola", "stsb", "mnli", "mnli-mm", "rte", "wnli"])
    assert list(table["status"]) == ["succeeded"] * 4 + ["failed", "not run"]
    for col in ("matthews_correlation", "pearson", "spearmanr", "accuracy", "combined_score", "train_runtime_s",
                "train_samples_per_s", "model", "primary_metric", REF_COLUMN):
        assert col in table.columns
    assert "loss" not in table.columns and "runtime" not in table.columns
    refs = dict(zip(table["task"], table[REF_COLUMN], strict=True))
    assert refs["cola"] == 51.3 and pd.isna(refs["mnli-mm"]) and refs["wnli"] == 56.3
    assert table.set_index("task").loc["stsb", "glue_score"] == pytest.approx(75.0)


def test_glue_average_counts_mnli_once(run_dir):
    table = results_table(run_dir, ["cola", "stsb", "mnli", "mnli-mm", "rte"])
    average, n = glue_average(table)
    assert n == 3 and average == pytest.approx((40 + 75 + 75) / 3)
    reference = {name: get_task(name).distilbert_dev for name in ("cola", "stsb", "mnli")}
    assert reference_average(table) == pytest.approx(sum(reference.values()) / 3)


def test_markdown_and_files(run_dir):
    table, paths = write_results(run_dir, ["cola", "stsb", "rte"])
    md = (run_dir / "results.md").read_text()
    assert to_markdown(table).splitlines()[0].startswith("| task | status |")
    assert "| rte | failed |" in md and "GLUE-style average" in md and "DistilBERT" in md
    assert pd.read_csv(run_dir / "results.csv")["task"].tolist() == ["cola", "stsb", "rte"]
    png = (run_dir / "results.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5000 and len(paths) == 3


def test_bar_labels_show_zero_scores_and_mark_missing_ones():
    assert bar_labels(pd.Series([0.0, 54.321, float("nan"), -15.85])) == ["0.0", "54.3", "n/a", "-15.8"]
