"""Two `search` workers (papermill runs of notebook 02) on one journal file make one study; errors are one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from glue_helpers.cli import main
from glue_helpers.search.study import open_storage

REPO = Path(__file__).resolve().parents[1]
SPACE = ('{"learning_rate": {"low": 0.001, "high": 0.01, "log": true}, "num_train_epochs": 2, "batch_size": 8, '
         '"seed": {"low": 1, "high": 50}}')


@pytest.mark.slow
def test_two_workers_share_one_study_without_losing_or_duplicating_trials(kit, tmp_path):
    cmd = [sys.executable, "-m", "glue_helpers", "search", "--smoke", "--task", "cola", "--study-name", "shared",
           "--storage", str(tmp_path / "study.log"), "--n-trials", "5", "--search-fraction", "0.25",
           "--max-eval-samples", "16", "--space", SPACE, "--search-min-rows", "0", "--search-budget", "none"]
    procs = [subprocess.Popen([*cmd, "--worker", str(n), "--output-dir", str(tmp_path / f"worker{n}")], cwd=REPO,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for n in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    study = optuna.load_study(study_name="shared", storage=open_storage(tmp_path / "study.log", tmp_path))
    trials = study.trials
    # the study stops at 5 finished trials, whoever ran them; a worker can finish the one it had started
    assert 5 <= len(trials) <= 6 and sorted(t.number for t in trials) == list(range(len(trials)))
    assert all(t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL for t in trials)
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}  # both ran trials
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # no point searched twice
    assert study.user_attrs["task"] == "cola"
    for number, output in enumerate(outputs):
        assert "study 'shared'" in output and len(list((tmp_path / f"worker{number}").glob("02_*.ipynb"))) == 1


@pytest.mark.parametrize("flags, needle", [
    (["--n-trials", "0"], "--n-trials must be a positive integer"),
    (["--space", '{"dropout": [0.1]}'], "Valid ones: learning_rate"),
    (["--space", "no-such-space.yaml"], "--space 'no-such-space.yaml' does not exist"),
    (["--task", "colaa"], "Unknown GLUE task 'colaa'"),
])
def test_bad_flags_are_one_clear_line_before_any_notebook_runs(tmp_path, capsys, flags, needle):
    assert main(["search", "--smoke", "--output-dir", str(tmp_path / "out"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_re_check_alone_of_a_study_without_trials_stops_in_the_notebooks_check(kit, tmp_path, capsys):
    assert main(["search", "--smoke", "--output-dir", str(tmp_path), "--retrain-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Study 'glue-cola' has no completed trial yet, so there is nothing to re-check")
    assert "executed notebook: " in err and not list(tmp_path.glob("recheck"))
