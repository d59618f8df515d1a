"""metrics.json records and model cards: what a run says about how its numbers were made."""

import json
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value

from glue_helpers.batch.compare import run_task
from glue_helpers.errors import GlueHelpersError
from glue_helpers.recipe import Recipe
from glue_helpers.reporting import metrics_record, model_card, prediction_rows, write_run_files
from glue_helpers.rundir import METRICS_SCHEMA, RunDir, read_metrics
from glue_helpers.tasks import get_task
from glue_helpers.training import training_arguments

EVAL = {"eval_loss": 0.5, "eval_matthews_correlation": 0.25, "eval_runtime": 1.0, "epoch": 3.0}
TRAIN = {"train_runtime": 10.0, "train_samples_per_second": 42.0}
COLA = get_task("cola")
VALIDATION = Dataset.from_dict({"label": [1, 0, 1], "idx": [7, 8, 9]},
                               features=Features({"label": ClassLabel(names=["a", "b"]), "idx": Value("int32")}))


def record(tmp_path, precision="fp32", **extra) -> dict:
    args = training_arguments(COLA, str(tmp_path), Recipe(num_train_epochs=3, seed=7, learning_rate=1e-4,
                                                          precision=precision))
    return metrics_record(COLA, "tiny-bert", EVAL, TRAIN, args=args, train_rows=100, eval_rows=20, **extra)


def test_record_keeps_metrics_and_what_the_run_actually_used(tmp_path):
    r = record(tmp_path, data_dir="x")
    assert r["metrics"] == {"loss": 0.5, "matthews_correlation": 0.25}
    assert r["primary_metric_value"] == 0.25 and r["train_samples_per_second"] == 42.0
    assert (r["seed"], r["num_train_epochs"], r["learning_rate"], r["batch_size"]) == (7, 3, 1e-4, 16)
    assert (r["train_rows"], r["eval_rows"], r["precision"]) == (100, 20, "fp32")
    assert r["data"] == str(Path("x").resolve()) and "data_dir" not in r  # the data read, as an absolute path
    assert record(tmp_path)["data"] == "hub:nyu-mll/glue"
    assert r["device"].startswith("cpu") and "torch" in r["versions"]


def test_run_files_end_with_metrics_json(tmp_path):
    run = RunDir(tmp_path / "run").prepare()
    run.model.mkdir()
    r, rows = record(tmp_path), prediction_rows(COLA, VALIDATION, [1, 1, 0], [1, 0, 1])
    assert rows == [{"idx": 7, "label": 1, "prediction": 1}, {"idx": 8, "label": 0, "prediction": 1},
                    {"idx": 9, "label": 1, "prediction": 0}]  # in dataset order; misaligned output is refused:
    with pytest.raises(GlueHelpersError, match="exactly once, in order"):
        prediction_rows(COLA, VALIDATION, [1, 1, 0], [0, 1, 1])
    write_run_files(run, r, rows, COLA)
    assert json.loads(run.metrics.read_text())["metrics"] == r["metrics"]
    assert len(run.predictions.read_text().splitlines()) == 3
    assert "Validation results" in (run.model / "README.md").read_text()
    assert run.metrics.stat().st_mtime_ns >= run.predictions.stat().st_mtime_ns
    assert not list(run.root.glob(".*tmp*"))
    # the model card says where, and when training ran in mixed precision
    assert "in bf16 mixed precision." in model_card({**r, "precision": "bf16"}, COLA)
    assert f"on {r['device']}." in model_card(r, COLA)


def test_metrics_json_carries_its_schema_and_an_older_file_still_reads(tmp_path):
    run = RunDir(tmp_path / "new").prepare()
    write_run_files(run, record(tmp_path), prediction_rows(COLA, VALIDATION, [1, 1, 0], [1, 0, 1]), COLA)
    new = read_metrics(run.metrics)
    assert json.loads(run.metrics.read_text())["schema"] == new["schema"] == METRICS_SCHEMA
    old = tmp_path / "old"  # a run written before metrics.json had "schema": the same keys but that one
    old.mkdir()
    (old / "metrics.json").write_text(json.dumps({k: v for k, v in new.items() if k != "schema"}))
    assert read_metrics(old / "metrics.json") == {**new, "schema": 1}
    assert run_task(old).name == run_task(run.root).name == "cola"  # compare reads both


@pytest.mark.parametrize("schema", [METRICS_SCHEMA + 1, 0, "2", True, None])
def test_a_metrics_json_of_another_schema_is_refused_by_name(tmp_path, schema):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"schema": schema, "task": "cola"}))
    with pytest.raises(GlueHelpersError, match=rf"{path}.*schema.*upgrade glue_helpers"):
        read_metrics(path)
