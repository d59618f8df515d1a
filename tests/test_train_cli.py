"""`python -m glue_helpers train` in one process, and its input errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from glue_helpers.cli import main


def test_train_writes_metrics_predictions_and_the_best_model(kit, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--smoke", "--task", "stsb", "--epochs", "1", "--batch-size", "8", "--max-train-samples",
                 "32", "--max-eval-samples", "20", "--output-dir", str(out), "--keep-checkpoints",
                 "--precision", "fp32"])
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["world_size"] == 1 and report["eval_rows"] == 20 and report["train_rows"] == 32
    assert "pearson" in report["metrics"] and report["precision"] == "fp32" and report["num_train_epochs"] == 1
    rows = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and all(isinstance(r["prediction"], float) for r in rows)
    assert (out / "model" / "model.safetensors").is_file()
    assert [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("checkpoint-")] == ["checkpoint-4"]
    assert '"pearson"' in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["train", "--task", "cola"], "--model-checkpoint"),
    (["train", "--task", "colaa", "--smoke"], "Unknown GLUE task"),
    (["train", "--task", "cola", "--smoke", "--max-train-samples", "0"], "--max-train-samples"),
])
def test_bad_input_is_one_clear_line(argv, needle, kit, tmp_path, capsys):
    assert main([*argv, "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err


def test_unknown_precision_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--smoke", "--task", "cola", "--precision", "half"])
    assert exit_.value.code == 2 and "invalid choice: 'half'" in capsys.readouterr().err


def test_batch_report_gathers_a_folder_of_train_runs(kit, tmp_path, capsys):
    """`train` into <out>/<task>/, the batch layout, then `batch --report-only --out <out>`: the run's metrics are in
    results.csv, and the run counts as finished (its metrics.json is written last)."""
    out = tmp_path / "runs"
    assert main(["train", "--smoke", "--task", "cola", "--epochs", "1", "--batch-size", "8", "--max-train-samples",
                 "32", "--max-eval-samples", "16", "--precision", "fp32", "--output-dir", str(out / "cola")]) == 0
    metrics = json.loads((out / "cola" / "metrics.json").read_text())["metrics"]
    assert main(["batch", "--report-only", "--out", str(out), "--tasks", "cola", "--no-progress"]) == 0
    row = pd.read_csv(out / "results.csv").set_index("task").loc["cola"]
    assert row["status"] == "succeeded"
    assert row["matthews_correlation"] == pytest.approx(metrics["matthews_correlation"])
    assert row["model"] == str(kit.model_dir)
    capsys.readouterr()
    assert main(["batch", "--report-only", "--out", str(out), "--no-progress"]) == 1  # every GLUE task: 9 not run
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 10 and (table["status"] == "not run").sum() == 9
    assert "FAILED or not run: mnli" in capsys.readouterr().out


def test_train_on_a_task_file_predicts_its_test_file_and_records_its_files(kit, tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"w{i} x{i % 3},{'ab'[i % 2]}\n" for i in range(40)))
    (tmp_path / "test.csv").write_text("text\n" + "".join(f"t{i}\n" for i in range(5)))
    (tmp_path / "reviews.yaml").write_text("train_file: train.csv\ntest_file: test.csv\n")
    out = tmp_path / "run"
    assert main(["train", "--task", str(tmp_path / "reviews.yaml"), "--model-checkpoint", str(kit.model_dir),
                 "--epochs", "1", "--output-dir", str(out)]) == 0
    assert pd.read_csv(out / "test_predictions.csv")["prediction"].isin(["a", "b"]).sum() == 5
    data = json.loads((out / "metrics.json").read_text())["data"]
    assert data == {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}
