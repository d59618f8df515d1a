"""`report_to`: checked before anything runs, and each offline backend writes its files into the run folder."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glue_helpers import recipe
from glue_helpers import rundir as tracking
from glue_helpers.cli import main
from glue_helpers.errors import GlueHelpersError

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_text_classification.ipynb"
TRACKING_VARS = ("TENSORBOARD_LOGGING_DIR", "TRACKIO_DIR", "WANDB_MODE", "WANDB_DIR", "MLFLOW_TRACKING_URI")


def scalars(folder: Path) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[float]] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            found.setdefault(tag, []).extend(e.value for e in acc.Scalars(tag))
    return found


@pytest.mark.parametrize("bad", ["tensorbord", 5, None, "", ["tensorboard"]])
def test_an_unknown_backend_is_refused_with_the_choices(bad):
    with pytest.raises(GlueHelpersError, match="is not a tracking backend") as err:
        tracking.check_report_to(bad)
    assert "'tensorboard'" in str(err.value) and "report_to" in str(err.value)


def test_a_missing_package_is_named_and_offline_homes_go_to_the_run_folder(tmp_path, clean_env, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GlueHelpersError, match="pip install wandb"):  # says how to install it
        tracking.check_report_to("wandb")
    assert tracking.check_report_to("none") == "none"  # needs no package
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: True)  # pretend wandb/mlflow are there
    assert tracking.start_tracking("none", tmp_path, "r") is None and not (tmp_path / "tracking").exists()
    folder = tracking.start_tracking("wandb", tmp_path, "cola-m-seed1")
    assert folder == tmp_path / "tracking" and os.environ["WANDB_MODE"] == "offline"
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(folder / "tensorboard" / "cola-m-seed1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{tmp_path}/mine")  # a local store of your own wins
    tracking.start_tracking("mlflow", tmp_path, "r")
    assert os.environ["MLFLOW_TRACKING_URI"] == f"file:{tmp_path}/mine"
    assert tracking.dashboard_command("tensorboard", "runs/x") == "tensorboard --logdir runs/x"


# Runs `python -m glue_helpers ARGS` and appends every connection it opens to a host other than this one to a file.
NETWORK_MONITOR = """
import runpy, sys
log = sys.argv[1]
def audit(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in ("127.0.0.1", "::1"):
        with open(log, "a") as f:
            f.write(repr(args[1]) + "\\n")
sys.addaudithook(audit)
sys.argv = ["glue_helpers", *sys.argv[2:]]
runpy.run_module("glue_helpers", run_name="__main__", alter_sys=True)
"""


def monitored(tmp_path, args: list[str], **env) -> tuple[subprocess.CompletedProcess, str]:
    """Run the command with the network monitor, without HF_HUB_OFFLINE (so nothing but our code keeps it offline)."""
    log = tmp_path / "connections.txt"
    base = {k: v for k, v in os.environ.items() if k not in (*TRACKING_VARS, "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    proc = subprocess.run([sys.executable, "-c", NETWORK_MONITOR, str(log), *args], env={**base, **env},
                          capture_output=True, text=True, timeout=600)
    return proc, log.read_text() if log.exists() else ""


@pytest.mark.slow
def test_train_command_with_trackio_writes_its_local_database_and_opens_no_connection(kit, tmp_path):
    pytest.importorskip("trackio", reason="report_to trackio needs the track extra")
    out, train = tmp_path / "run", ["train", "--task", "mrpc", "--smoke", "--report-to", "trackio"]
    proc, connections = monitored(tmp_path, [*train, "--num-train-epochs", "1", "--output-dir", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p for p in (out / "tracking" / "trackio").rglob("*") if p.is_file() and p.stat().st_size > 0], "no trackio"
    assert (out / "metrics.json").is_file() and connections == ""
    # a run refused as online (the test below) opens no connection either
    proc, connections = monitored(tmp_path, [*train, "--output-dir", str(tmp_path / "online")],
                                  TRACKIO_SPACE_ID="me/my-space")
    assert proc.returncode == 2 and "TRACKIO_SPACE_ID" in proc.stderr and connections == "", proc.stderr[-2000:]


@pytest.mark.parametrize("report_to, variable, value", [
    ("trackio", "TRACKIO_SPACE_ID", "me/my-space"), ("trackio", "TRACKIO_SERVER_URL", "https://example.org"),
    ("wandb", "WANDB_MODE", "online"), ("mlflow", "MLFLOW_TRACKING_URI", "https://mlflow.example.org")])
def test_a_variable_that_would_take_tracking_online_is_refused_before_anything_runs(tmp_path, capsys, monkeypatch,
                                                                                    report_to, variable, value):
    monkeypatch.setitem(recipe.TRACKING_PACKAGES, report_to, None)  # whether or not the backend is installed
    monkeypatch.setenv(variable, value)
    assert main(["train", "--task", "mrpc", "--smoke", "--output-dir", str(tmp_path / "run"), "--report-to",
                 report_to]) == 2
    err = capsys.readouterr().err
    assert variable in err and "offline" in err and not (tmp_path / "run").exists()


# A batch of two seeds logs each run under one TensorBoard root: test_batch_faults' kill -9 smoke batch.


def test_train_and_batch_refuse_an_unknown_backend_before_any_run(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--task", "cola", "--smoke", "--report-to", "tensorbord"])
    assert "invalid choice: 'tensorbord'" in capsys.readouterr().err
    code = main(["batch", "--notebook", str(NOTEBOOK), "--out", str(tmp_path / "out"), "--tasks", "rte",
                 "-p", "smoke", "True", "-p", "report_to", "tensorbord", "--no-progress"])
    assert code == 2 and "report_to='tensorbord' is not a tracking backend" in capsys.readouterr().err
    assert not (tmp_path / "out" / "rte").exists()


def test_a_tracking_folder_that_cannot_be_made_is_a_clear_error():
    with pytest.raises(GlueHelpersError, match="report_to='tensorboard' writes into /proc/no-run/tracking.*can't be"):
        tracking.start_tracking("tensorboard", "/proc/no-run", "cola")
