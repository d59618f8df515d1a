"""Scale out: two `python -m glue_helpers search` workers at once on one journal file make one study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest

from glue_helpers.search.study import open_storage

REPO = Path(__file__).resolve().parents[1]
SPACE = ('{"learning_rate": {"low": 0.001, "high": 0.01, "log": true}, "num_train_epochs": 2, "batch_size": 8, '
         '"seed": {"low": 1, "high": 50}}')


def worker(tmp_path, number: int, n_trials: int) -> subprocess.Popen:
    """Start one search worker on the shared journal file."""
    cmd = [sys.executable, "-m", "glue_helpers", "search", "--smoke", "--task", "cola", "--study-name", "shared",
           "--storage", str(tmp_path / "study.log"), "--n-trials", str(n_trials), "--worker", str(number),
           "--output-dir", str(tmp_path / f"worker{number}"), "--search-fraction", "0.25", "--max-eval-samples",
           "16", "--space", SPACE, "--search-min-rows", "0", "--search-budget", "none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_workers_share_one_study_without_losing_or_duplicating_trials(kit, tmp_path):
    procs = [worker(tmp_path, 0, 3), worker(tmp_path, 1, 2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    study = optuna.load_study(study_name="shared", storage=open_storage(tmp_path / "study.log", tmp_path))
    trials = study.trials
    assert len(trials) == 5
    assert sorted(t.number for t in trials) == list(range(5))
    assert all(t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL for t in trials)
    assert sorted(Counter(t.user_attrs["worker"] for t in trials).values()) == [2, 3]  # each ran its own share
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 5  # no point searched twice
    assert study.user_attrs["task"] == "cola"
    assert "study 'shared'" in outputs[0] and "best trial" in outputs[0]


def test_cli_errors_are_one_clear_line(kit, tmp_path, capsys):
    from glue_helpers.cli import main

    base = ["search", "--smoke", "--output-dir", str(tmp_path)]
    assert main([*base, "--n-trials", "0"]) == 2
    assert "--n-trials must be a positive integer" in capsys.readouterr().err
    assert main([*base, "--space", '{"dropout": [0.1]}']) == 2
    assert "Valid ones: learning_rate" in capsys.readouterr().err
    assert main([*base, "--retrain-only"]) == 2
    assert "no completed trial" in capsys.readouterr().err


def test_cli_retrain_only_saves_the_best_of_an_existing_study(kit, tmp_path, capsys):
    from glue_helpers.cli import main

    common = ["search", "--smoke", "--storage", str(tmp_path / "s.log"), "--study-name", "s", "--space", SPACE,
              "--max-eval-samples", "16", "--output-dir", str(tmp_path / "out"), "--worker", "0"]  # seeded sampler
    assert main([*common, "--n-trials", "2", "--search-fraction", "0.25"]) == 0
    assert main([*common, "--retrain-only", "--recheck-seeds", "0"]) == 0  # no re-check: the best trial, once
    out = capsys.readouterr().out
    assert "study 's': 2 trials (complete 2)" in out and "best-model: matthews_correlation" in out
    record = json.loads((tmp_path / "out" / "best-model" / "metrics.json").read_text())
    assert record["train_rows"] == 128 and record["best_params"]["batch_size"] == 8
