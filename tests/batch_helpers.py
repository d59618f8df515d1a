"""Dummy parameterized notebooks for the batch-runner tests: they start fast and fail on request."""

from __future__ import annotations

from pathlib import Path

import nbformat

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


def write_dummy_notebook(path: Path, parameters: str = PARAMETERS, body: str = BODY) -> Path:
    """A notebook with a `parameters` cell and a body that writes metrics.json (or raises when told)."""
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
