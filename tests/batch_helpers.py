"""Dummy parameterized notebooks for the batch-runner tests: they start fast and fail on request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat

from glue_helpers.batch.lock import LOCK
from glue_helpers.batch.plan import STATUS

REPO = Path(__file__).resolve().parents[1]

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
files = {"cola": "CoLA.tsv", "mrpc": "MRPC.tsv", "stsb": "STS-B.tsv", "rte": "RTE.tsv", "wnli": "WNLI.tsv"}
(board / files.get(task, f"{task}.tsv")).write_text("index\\tprediction\\n0\\t1\\n")
print("trained", task, num_train_epochs)'''


def hang(key: str) -> str:
    """Notebook code: while hang_flag exists, the run whose `key` is in hang_on writes its pid, ticks till killed."""
    return f'''import os, pathlib, time
if {key} in hang_on.split(",") and pathlib.Path(hang_flag).exists():
    pathlib.Path(output_dir).mkdir(parents=True, exist_ok=True)
    (pathlib.Path(output_dir) / "kernel.pid").write_text(str(os.getpid()))
    while True:
        print("tick", flush=True)
        time.sleep(0.1)
'''


GRID_PARAMETERS = '''task = "cola"
output_dir = "out"
seed = 42
model_checkpoint = "distilbert-base-uncased"
hang_on = ""
hang_flag = ""'''
# A run's score depends on its model ("big" gets 2 of 20 rows wrong, the other 8) and a little on its seed; its
# validation predictions let `compare` pair runs. The run named in hang_on (task-seed) hangs.
GRID_BODY = hang('f"{task}-{seed}"') + '''import json, pathlib
out = pathlib.Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
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


def read_json(path: Path):
    return json.loads(path.read_text())


def succeeded(folder: Path) -> bool:
    """True when a run folder's status.json says it succeeded."""
    try:
        return read_json(folder / STATUS)["status"] == "succeeded"
    except (OSError, ValueError, KeyError):
        return False


def children_of(out: Path) -> list:  # the notebook processes (papermill, its kernel) that out's batch lock records
    return read_json(out / LOCK)["children"]


@contextmanager
def killed_at_exit(argv: list):
    """`python -m glue_helpers <argv>` in its own session, killed with SIGKILL when the block ends."""
    parent = subprocess.Popen([sys.executable, "-m", "glue_helpers", *argv], cwd=REPO, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield parent
    finally:
        parent.kill()  # a no-op once it has ended
        parent.wait()
