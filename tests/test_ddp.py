"""`torchrun --nproc_per_node 2 -m glue_helpers train`: two CPU processes (gloo) on the offline kit's tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from glue_helpers.data import load_glue
from glue_helpers.tasks import get_task

EVAL_ROWS = 45  # odd, and not a multiple of 2 x the eval batch: the last batch has to be padded across ranks


@pytest.fixture(scope="module")
def ddp_run(kit, tmp_path_factory):
    """Run the train command under torchrun with 2 processes; its output folder and combined log."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    env = {**os.environ, "GLUE_HELPERS_KIT": str(kit.root), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "glue_helpers", "train", "--smoke", "--task", "mrpc", "--epochs", "2", "--batch-size", "4",
           "--max-eval-samples", str(EVAL_ROWS), "--output-dir", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout + proc.stderr, kit


@pytest.mark.slow
def test_training_and_evaluation_complete_on_two_processes(ddp_run):
    out, _, _ = ddp_run
    report = json.loads((out / "metrics.json").read_text())
    assert report["world_size"] == 2
    assert report["num_train_epochs"] == 2 and report["train_runtime"] > 0
    assert 0 <= report["metrics"]["accuracy"] <= 1
    assert report["metrics"]["loss"] < 1.0  # ~ln 2 for a near-chance binary model, not 2 x ln 2 (world-size bug)


def test_evaluation_covers_the_validation_split_exactly_once_in_order(ddp_run):
    out, _, kit = ddp_run
    validation = load_glue(get_task("mrpc"), kit.data_dir, max_eval_samples=EVAL_ROWS,
                           splits=("validation",))["validation"]
    rows = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
    report = json.loads((out / "metrics.json").read_text())
    assert report["eval_rows"] == len(rows) == EVAL_ROWS
    assert [r["idx"] for r in rows] == validation["idx"][:]  # no row twice (sampler padding dropped), none missing
    assert [r["label"] for r in rows] == validation["label"][:]  # labels seen by evaluation, back in dataset order
    accuracy = sum(r["label"] == r["prediction"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(report["metrics"]["accuracy"])


def test_only_the_main_process_writes(ddp_run):
    out, log, _ = ddp_run
    wrote = [line for line in log.splitlines() if " wrote " in line]
    assert len(wrote) == 1 and wrote[0].startswith("[rank 0]")
    outputs = sorted(p.name for p in out.iterdir() if not p.name.startswith(".run.lock"))  # the folder's lock
    assert outputs == ["metrics.json", "model", "validation_predictions.jsonl"]
    assert (out / "model" / "config.json").is_file() and (out / "model" / "model.safetensors").is_file()
