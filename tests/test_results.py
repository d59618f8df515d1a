"""The results table, the per-task summary over seeds, the GLUE-style average and the chart, from metrics.json."""

import json

import pandas as pd
import pytest

from glue_helpers.batch import results
from glue_helpers.batch.results import REF_COLUMN, results_table, task_summary
from glue_helpers.tasks import get_task, model_reference


def _write(run_dir, run, metrics, status="succeeded", model="m", **extra):
    folder = run_dir / run
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"status": status, "seconds": 12.5}))
    if metrics:
        primary = next(iter(metrics))
        (folder / "metrics.json").write_text(json.dumps({
            "task": run.split("/")[0], "model": model, "metrics": metrics,
            "primary_metric": primary.removeprefix("eval_"), "primary_metric_value": metrics[primary],
            "train_runtime": 30.0, "train_samples_per_second": 33.3, **extra}))


@pytest.fixture
def run_dir(tmp_path):
    _write(tmp_path, "cola", {"eval_matthews_correlation": 0.4, "eval_loss": 0.6, "eval_runtime": 2.0})
    _write(tmp_path, "stsb", {"eval_pearson": 0.8, "eval_spearmanr": 0.7, "eval_combined_score": 0.75})
    _write(tmp_path, "mnli", {"eval_accuracy": 0.8})
    _write(tmp_path, "mnli-mm", {"eval_accuracy": 0.7})
    _write(tmp_path, "rte", {}, status="failed")
    return tmp_path


SEED_RUNS = [f"mrpc/seed-{s}" for s in (1, 2, 3, 4)] + ["stsb/seed-1", "stsb/seed-2"]


@pytest.fixture
def seed_dir(tmp_path):
    """MRPC over four seeds, one of them stuck at the majority class (68.4 % accuracy, as it happens on MRPC)."""
    for seed, accuracy, f1 in ((1, 0.80, 0.86), (2, 0.84, 0.88), (3, 0.684, 0.812), (4, 0.82, 0.87)):
        _write(tmp_path, f"mrpc/seed-{seed}", {"eval_accuracy": accuracy, "eval_f1": f1}, seed=seed,
               majority_baseline=0.684, degenerate=accuracy <= 0.684)
    _write(tmp_path, "stsb/seed-1", {"eval_pearson": 0.85, "eval_spearmanr": 0.85}, seed=1)
    _write(tmp_path, "stsb/seed-2", {}, status="failed")
    return tmp_path


def test_metric_columns_drop_prefix_losses_and_timings_and_task_score_averages_two_metrics():
    assert results.metric_columns({"eval_f1": 0.5, "eval_loss": 1.0, "eval_runtime": 3, "epoch": 2.0,
                                   "accuracy": 1}) == {"f1": 0.5, "accuracy": 1.0}
    assert results.task_score("stsb", {"eval_pearson": 0.8, "eval_spearmanr": 0.7}) == pytest.approx(75.0)
    assert results.task_score("mrpc", {"accuracy": 0.8, "f1": 0.9}) == pytest.approx(85.0)
    assert results.task_score("cola", {"matthews_correlation": 0.5}) == pytest.approx(50.0)
    assert results.task_score("mrpc", {"accuracy": 0.8}) is None
    # bar labels show zero scores and mark missing ones
    assert results.bar_labels(pd.Series([0.0, 54.321, float("nan"), -15.85])) == ["0.0", "54.3", "n/a", "-15.8"]


def test_table_average_counting_mnli_once_and_files_of_a_batch(run_dir):
    table = results_table(run_dir, ["cola", "stsb", "mnli", "mnli-mm", "rte", "wnli"])
    assert list(table["status"]) == ["succeeded"] * 4 + ["failed", "not run"]
    assert {"matthews_correlation", "pearson", "spearmanr", "accuracy", "combined_score", "train_runtime_s",
            "train_samples_per_s", "model", "primary_metric", REF_COLUMN, "degenerate", "ci_low", "seed"} <= set(table)
    assert "loss" not in table.columns and "runtime" not in table.columns
    refs = dict(zip(table["task"], table[REF_COLUMN], strict=True))
    assert refs["cola"] == 51.3 and pd.isna(refs["mnli-mm"]) and refs["wnli"] == 56.3
    assert table.set_index("task").loc["stsb", "glue_score"] == pytest.approx(75.0)
    # the GLUE average counts MNLI once
    summary = task_summary(results_table(run_dir, ["cola", "stsb", "mnli", "mnli-mm", "rte"]))
    assert results.glue_average(summary) == (pytest.approx((40 + 75 + 75) / 3), 3)
    reference = [get_task(name).distilbert_dev for name in ("cola", "stsb", "mnli")]
    assert results.reference_average(summary) == pytest.approx(sum(reference) / 3)
    table, summary, paths = results.write_results(run_dir, ["cola", "stsb", "rte"])  # the markdown, CSVs and chart
    md = (run_dir / "results.md").read_text()
    assert results.to_markdown(table).splitlines()[0].startswith("| run | task | seed | status |")
    assert "| rte | rte |  | failed |" in md and "GLUE-style average" in md and "DistilBERT" in md
    assert pd.read_csv(run_dir / "results.csv")["task"].tolist() == ["cola", "stsb", "rte"]
    assert pd.read_csv(run_dir / "results_summary.csv")["seeds"].tolist() == [1, 1, 0]
    png = (run_dir / "results.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5000 and len(paths) == 4


def test_summary_over_seeds_median_spread_and_degenerate_runs(seed_dir):
    table = results_table(seed_dir, SEED_RUNS)
    assert table["seed"].tolist() == [1, 2, 3, 4, 1, 2]
    assert table["degenerate"].tolist()[:4] == [False, False, True, False]
    summary = task_summary(table)
    mrpc, stsb = summary.set_index("task").loc[["mrpc", "stsb"]].to_dict("records")
    accuracies = pd.Series([80.0, 84.0, 68.4, 82.0])
    assert (mrpc["seeds"], mrpc["degenerate"], mrpc["failed"]) == (4, 1, 0)
    assert [mrpc[k] for k in ("median", "mean", "std", "min", "max", "ok_median", "ok_min")] == pytest.approx(
        [81.0, accuracies.mean(), accuracies.std(), 68.4, 84, 82.0, 80.0])
    # GLUE score of MRPC = mean of accuracy and F1; its median over seeds is what the GLUE average uses.
    assert mrpc["glue_median"] == pytest.approx(pd.Series([83.0, 86.0, 74.8, 84.5]).median())
    assert mrpc["glue_median_ok"] == pytest.approx(84.5)
    assert stsb["seeds"] == 1 and stsb["failed"] == 1 and pd.isna(stsb["std"])
    assert results.glue_average(summary)[0] == pytest.approx((84.5 / 2 + 83.0 / 2 + 85.0) / 2)
    assert results.glue_average(summary, "glue_median_ok")[0] == pytest.approx((84.5 + 85.0) / 2)
    results.write_results(seed_dir, SEED_RUNS)  # the chart and markdown
    md = (seed_dir / "results.md").read_text()
    assert "Without the 1 degenerate run(s)" in md and "| mrpc/seed-3 | mrpc | 3 | succeeded |" in md
    assert (seed_dir / "results.png").stat().st_size > 5000


def test_reference_band_marks_runs_far_from_their_models_published_score(tmp_path):
    for seed, accuracy in ((1, 0.60), (2, 0.85), (3, 0.93)):
        _write(tmp_path, f"sst2/seed-{seed}", {"eval_accuracy": accuracy}, model="/models/bert-base-cased")
    _write(tmp_path, "cola", {"eval_matthews_correlation": 0.1}, model="all-MiniLM-L6-v2")
    table = results_table(tmp_path, ["sst2/seed-1", "sst2/seed-2", "sst2/seed-3", "cola"])
    assert table["model_ref"].tolist()[:3] == [92.32] * 3 and pd.isna(table["model_ref"].iloc[3])
    assert table["vs_model_ref"].tolist() == ["below", "below", "", ""]
    assert task_summary(table).set_index("task").loc["sst2", "outside_ref"] == 2
    assert model_reference("distilbert/distilbert-base-uncased", get_task("rte")) == 59.9
    assert model_reference("bert-base-cased", get_task("mnli-mm")) == 84.10
