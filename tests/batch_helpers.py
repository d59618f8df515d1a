"""Dummy parameterized notebooks for the batch-runner tests: they start fast and fail on request."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat

from glue_helpers.batch.plan import STATUS

PARAMETERS = '''task = "cola"
output_dir = "out"
smoke = False
num_train_epochs = 3
learning_rate = 2e-5
fail_on = ""
fail_flag = ""'''

BODY = '''import json, pathlib
out = pathlib.Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
if task in fail_on.split(",") and (not fail_flag or pathlib.Path(fail_flag).exists()):
    raise RuntimeError(f"boom in {task}")
names = {"cola": ["matthews_correlation"], "stsb": ["pearson", "spearmanr"], "mrpc": ["accuracy", "f1"],
         "qqp": ["accuracy", "f1"]}.get(task, ["accuracy"])
metrics = {f"eval_{n}": 0.5 + 0.1 * i for i, n in enumerate(names)}
record = {"task": task, "model": "dummy", "metrics": metrics, "primary_metric": names[0],
          "primary_metric_value": metrics[f"eval_{names[0]}"], "train_runtime": 1.5,
          "train_samples_per_second": 100.0, "num_train_epochs": num_train_epochs, "learning_rate": learning_rate}
(out / "metrics.json").write_text(json.dumps(record))
board = out / "leaderboard"
board.mkdir(exist_ok=True)
(board / f"{task}.tsv").write_text("index\\tprediction\\n0\\t1\\n")
print("trained", task, num_train_epochs)'''

GRID_PARAMETERS = '''task = "cola"
output_dir = "out"
seed = 42
model_checkpoint = "distilbert-base-uncased"
hang_on = ""
hang_flag = ""'''
# A run's score depends on its model (the "big" one gets 2 of 20 rows wrong, the other 8) and a little on its seed;
# it writes validation predictions, so `compare` can pair the two models' runs row by row. The run named in hang_on
# (task-seed) writes its kernel's pid and waits to be killed while hang_flag exists.
GRID_BODY = '''import json, os, pathlib, time
out = pathlib.Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
if f"{task}-{seed}" in hang_on.split(",") and pathlib.Path(hang_flag).exists():
    (out / "kernel.pid").write_text(str(os.getpid()))
    while True:
        time.sleep(0.1)
wrong = (2 if "big" in model_checkpoint else 8) + seed % 2
labels = [i % 2 for i in range(20)]
preds = [1 - y if i < wrong else y for i, y in enumerate(labels)]
acc = sum(p == y for p, y in zip(preds, labels)) / 20
name = {"cola": "matthews_correlation"}.get(task, "accuracy")
record = {"task": task, "model": model_checkpoint, "seed": seed, "metrics": {f"eval_{name}": acc},
          "primary_metric": name, "primary_metric_value": acc, "majority_baseline": 0.5, "degenerate": False}
(out / "metrics.json").write_text(json.dumps(record))
(out / "validation_predictions.jsonl").write_text("".join(
    json.dumps({"idx": i, "label": y, "prediction": p}) + "\\n" for i, (y, p) in enumerate(zip(labels, preds))))
(out / "leaderboard").mkdir(exist_ok=True)
board = {"cola": "CoLA.tsv", "rte": "RTE.tsv", "mrpc": "MRPC.tsv"}[task]
(out / "leaderboard" / board).write_text(f"{model_checkpoint} {seed}\\n")'''


def write_dummy_notebook(path: Path, parameters: str = PARAMETERS, body: str = BODY) -> Path:
    """A notebook with a `parameters` cell and a body that writes metrics.json (or raises when told)."""
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def wait_for(condition, timeout=120.0, what="condition"):
    """Poll until `condition()` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def succeeded(folder: Path) -> bool:
    """True when a run folder's status.json says it succeeded."""
    try:
        return json.loads((folder / STATUS).read_text())["status"] == "succeeded"
    except (OSError, ValueError, KeyError):
        return False
