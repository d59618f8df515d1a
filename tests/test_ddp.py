"""`torchrun --nproc_per_node 2 -m glue_helpers train`, full and LoRA: two CPU processes (gloo) on the kit's model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from transformers import AutoModelForSequenceClassification

from glue_helpers.data import load_glue
from glue_helpers.tasks import get_task

pytestmark = pytest.mark.slow  # each test here is one torchrun of the train command (about 20 s)
EVAL_ROWS = 45  # odd, and not a multiple of 2 x the eval batch: the last batch has to be padded across ranks
LORA = ["--peft", "lora", "--lr", "5e-3"]


@pytest.mark.parametrize("flags, epochs", [([], 2), (LORA, 1)], ids=["full", "lora"])
def test_two_processes_train_evaluate_each_row_once_in_order_and_only_the_main_one_writes(kit, tmp_path, flags, epochs):
    out, peft = tmp_path / "run", "lora" if flags == LORA else None
    env = {**os.environ, "GLUE_HELPERS_KIT": str(kit.root), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "glue_helpers", "train", "--smoke", "--task", "mrpc", "--epochs", str(epochs), "--batch-size", "4",
           "--max-eval-samples", str(EVAL_ROWS), "--output-dir", str(out), *flags]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "metrics.json").read_text())
    assert (report["world_size"], report["num_train_epochs"], report["peft"]) == (2, epochs, peft)
    assert report["train_runtime"] > 0
    assert report["metrics"]["loss"] < 1.0  # ~ln 2 for a near-chance binary model, not 2 x ln 2 (world-size bug)
    validation = load_glue(get_task("mrpc"), kit.data_dir, max_eval_samples=EVAL_ROWS,
                           splits=("validation",))["validation"]
    rows = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
    assert report["eval_rows"] == len(rows) == EVAL_ROWS
    assert [r["idx"] for r in rows] == validation["idx"][:]  # no row twice (sampler padding dropped), none missing
    assert [r["label"] for r in rows] == validation["label"][:]  # labels seen by evaluation, back in dataset order
    accuracy = sum(r["label"] == r["prediction"] for r in rows) / len(rows)
    assert 0 <= report["metrics"]["accuracy"] <= 1 and accuracy == pytest.approx(report["metrics"]["accuracy"])
    wrote = [line for line in (proc.stdout + proc.stderr).splitlines() if " wrote " in line]
    assert len(wrote) == 1 and wrote[0].startswith("[rank 0]")
    outputs = sorted(p.name for p in out.iterdir() if not p.name.startswith(".run.lock"))  # the folder's lock
    assert outputs == (["adapter"] if peft else []) + ["metrics.json", "model", "validation_predictions.jsonl"]
    assert (out / "model" / "config.json").is_file() and (out / "model" / "model.safetensors").is_file()
    assert AutoModelForSequenceClassification.from_pretrained(out / "model").config.num_labels == 2
