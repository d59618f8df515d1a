"""`report_to`: checked before anything runs, and each offline backend writes its files into the run folder."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest

from glue_helpers import rundir as tracking
from glue_helpers.cli import main
from glue_helpers.errors import GlueHelpersError

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_text_classification.ipynb"
TRACKING_VARS = ("TENSORBOARD_LOGGING_DIR", "TRACKIO_DIR", "WANDB_MODE", "WANDB_DIR", "MLFLOW_TRACKING_URI")


def scalars(folder: Path) -> dict[str, list[float]]:
    """Every scalar TensorBoard finds under `folder`, by tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[float]] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            found.setdefault(tag, []).extend(e.value for e in acc.Scalars(tag))
    return found


@pytest.mark.parametrize("bad, needle", [("tensorbord", "is not a tracking backend"), (5, "is not a tracking backend"),
                                         (None, "is not a tracking backend"), ("", "is not a tracking backend"),
                                         (["tensorboard"], "is not a tracking backend")])
def test_an_unknown_backend_is_refused_with_the_choices(bad, needle):
    with pytest.raises(GlueHelpersError, match=needle) as err:
        tracking.check_report_to(bad)
    assert "'tensorboard'" in str(err.value) and "report_to" in str(err.value)


def test_a_backend_whose_package_is_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GlueHelpersError, match="pip install wandb"):
        tracking.check_report_to("wandb")
    assert tracking.check_report_to("none") == "none"  # needs no package


def test_offline_homes_go_to_the_run_folder_but_your_own_settings_win(tmp_path, clean_env, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: True)  # pretend wandb/mlflow are there
    assert tracking.start_tracking("none", tmp_path, "r") is None and not (tmp_path / "tracking").exists()
    folder = tracking.start_tracking("wandb", tmp_path, "cola-m-seed1")
    assert folder == tmp_path / "tracking" and os.environ["WANDB_MODE"] == "offline"
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(folder / "tensorboard" / "cola-m-seed1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://my-server:5000")
    tracking.start_tracking("mlflow", tmp_path, "r")
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://my-server:5000"
    assert tracking.dashboard_command("tensorboard", "runs/x") == "tensorboard --logdir runs/x"


@pytest.mark.notebook
def test_notebook_01_writes_tensorboard_events_into_its_run_folder(kit, tmp_path, clean_env):
    pytest.importorskip("tensorboard", reason="report_to tensorboard needs the track extra")
    out = tmp_path / "cola"
    pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "o.ipynb"), cwd=str(tmp_path), progress_bar=False,
                        parameters={"task": "cola", "smoke": True, "output_dir": str(out),
                                    "report_to": "tensorboard"})
    runs = [p.name for p in (out / "tracking" / "tensorboard").iterdir()]
    assert runs == [f"cola-{Path(kit.model_dir).name}-seed42"]  # named by task, model and seed
    found = scalars(out / "tracking")
    assert len(found["train/loss"]) >= 1 and "eval/matthews_correlation" in found
    assert json.loads((out / "metrics.json").read_text())["task"] == "cola"


@pytest.mark.slow
def test_train_command_with_trackio_writes_its_local_database_offline(kit, tmp_path):
    pytest.importorskip("trackio", reason="report_to trackio needs the track extra")
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in TRACKING_VARS}
    proc = subprocess.run([sys.executable, "-m", "glue_helpers", "train", "--task", "mrpc", "--smoke",
                           "--num-train-epochs", "1", "--output-dir", str(out), "--report-to", "trackio"],
                          env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = [p for p in (out / "tracking" / "trackio").rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert stored, "trackio wrote nothing under the run folder"
    assert (out / "metrics.json").is_file()


def test_train_refuses_an_unknown_backend_at_the_command_line(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--task", "cola", "--smoke", "--report-to", "tensorbord"])
    assert "invalid choice: 'tensorbord'" in capsys.readouterr().err


# A batch of two seeds logs each run under one TensorBoard root: test_batch_faults' kill -9 smoke batch.


def test_a_batch_refuses_a_bad_report_to_before_any_run(tmp_path, capsys):
    code = main(["batch", "--notebook", str(NOTEBOOK), "--out", str(tmp_path / "out"), "--tasks", "rte",
                 "-p", "smoke", "True", "-p", "report_to", "tensorbord", "--no-progress"])
    assert code == 2 and "report_to='tensorbord' is not a tracking backend" in capsys.readouterr().err
    assert not (tmp_path / "out" / "rte").exists()


def test_each_search_trial_gets_its_own_tensorboard_run(kit, tmp_path, clean_env):
    pytest.importorskip("tensorboard", reason="report_to tensorboard needs the track extra")
    out = tmp_path / "search"
    code = main(["search", "--smoke", "--task", "mrpc", "--max-eval-samples", "16", "--output-dir", str(out),
                 "--n-trials", "2", "--search-budget", "none", "--report-to", "tensorboard"])
    assert code == 0
    runs = sorted(p.name for p in (out / "tracking" / "tensorboard").iterdir())
    assert runs == ["mrpc-tiny-bert-trial-0", "mrpc-tiny-bert-trial-1"]
    assert all(scalars(out / "tracking" / "tensorboard" / run)["eval/accuracy"] for run in runs)
