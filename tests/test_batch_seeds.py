"""`batch --seeds`: one run per task and seed in <out>/<task>/seed-<n>/, resumable after a kill, summarized per task."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from batch_helpers import GRID_PARAMETERS, children_of, hang, killed_at_exit, succeeded, wait_for, write_dummy_notebook

from glue_helpers.batch.lock import process_alive
from glue_helpers.batch.plan import STATUS, make_plan
from glue_helpers.cli import main

# The grid's parameters (model_checkpoint unused); a run's score and leaderboard file follow its seed (cola seed 2 sits
# at MCC 0, a degenerate run); the run named in hang_on (task-seed) hangs.
BODY = hang('f"{task}-{seed}"') + '''import json, pathlib
out = pathlib.Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
name = {"cola": "matthews_correlation", "rte": "accuracy"}[task]
value = {"cola": {1: 0.3, 2: 0.0, 3: 0.4}, "rte": {1: 0.6, 2: 0.7, 3: 0.65}}[task][seed]
baseline = {"cola": 0.0, "rte": 0.527}[task]
record = {"task": task, "model": "dummy", "seed": seed, "metrics": {f"eval_{name}": value}, "primary_metric": name,
          "primary_metric_value": value, "majority_baseline": baseline, "degenerate": value <= baseline}
(out / "metrics.json").write_text(json.dumps(record))
(out / "leaderboard").mkdir(exist_ok=True)
(out / "leaderboard" / {"cola": "CoLA.tsv", "rte": "RTE.tsv"}[task]).write_text(f"seed\\n{seed}\\n")'''


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "seeded.ipynb", GRID_PARAMETERS, BODY)


@pytest.mark.notebook
def test_two_tasks_two_seeds_resume_after_a_kill_and_summarize(notebook, tmp_path, capsys):
    out, flag = tmp_path / "out", tmp_path / "hang"
    flag.touch()
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "cola", "rte", "--seeds", "1", "2",
            "-p", "hang_on", "rte-2", "-p", "hang_flag", str(flag), "--no-progress"]
    # --jobs 1, task-major: cola seeds 1 and 2 and rte seed 1 finish, then rte seed 2 hangs and is killed
    with killed_at_exit(argv):
        wait_for(lambda: (out / "rte" / "seed-2" / "kernel.pid").is_file(), what="rte seed 2 to hang")
        wait_for(lambda: len(children_of(out)) >= 2, timeout=10, what="the lock to record papermill and its kernel")
    children = children_of(out)
    finished = {run: json.loads((out / run / STATUS).read_text())["finished_at"]
                for run in ("cola/seed-1", "cola/seed-2", "rte/seed-1")}
    assert not (out / "rte" / "seed-2" / STATUS).exists()

    flag.unlink()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped (already finished; --force to redo): cola/seed-1, cola/seed-2, rte/seed-1" in printed  # not redone
    assert not any(process_alive(c["pid"], c["create_time"]) for c in children)
    assert {run: json.loads((out / run / STATUS).read_text())["finished_at"] for run in finished} == finished
    for folder, seed in ((out / task / f"seed-{seed}", seed) for task in ("cola", "rte") for seed in (1, 2)):
        assert succeeded(folder) and json.loads((folder / "metrics.json").read_text())["seed"] == seed
        assert json.loads((folder / STATUS).read_text())["parameters"]["seed"] == seed
    assert (out / "rte" / "seed-2" / "seeded.failed-1.ipynb").is_file()  # the killed attempt, kept

    table = pd.read_csv(out / "results.csv")
    assert table["run"].tolist() == ["cola/seed-1", "cola/seed-2", "rte/seed-1", "rte/seed-2"]
    assert table["degenerate"].tolist() == [False, True, False, False]
    summary = pd.read_csv(out / "results_summary.csv").set_index("task")
    assert summary.loc["cola", ["seeds", "degenerate", "median", "ok_median"]].tolist() == pytest.approx(
        [2, 1, 15.0, 30])
    assert summary.loc["rte", ["mean", "std"]].tolist() == pytest.approx([65.0, pd.Series([60.0, 70.0]).std()])
    assert "cola     matthews_correlation   median 15.0 mean 15.0" in printed and "1 degenerate" in printed
    # The zip holds each task's median working seed: cola 1 (seed 2 is degenerate), rte 1 (the lower middle one).
    with zipfile.ZipFile(out / "glue_submission.zip") as zf:
        assert [zf.read(name).decode().split() for name in ("CoLA.tsv", "RTE.tsv")] == [["seed", "1"]] * 2


@pytest.mark.notebook
def test_adding_a_seed_runs_only_that_seed_and_a_report_finds_the_seeds(notebook, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "rte", "--no-progress"]
    assert main([*base, "--seeds", "1", "2"]) == 0
    first = json.loads((out / "rte" / "seed-1" / STATUS).read_text())["finished_at"]
    assert main([*base, "--seeds", "1", "2", "3"]) == 0
    assert "skipped (already finished; --force to redo): rte/seed-1, rte/seed-2" in capsys.readouterr().out
    assert json.loads((out / "rte" / "seed-1" / STATUS).read_text())["finished_at"] == first
    assert main([*base, "--report-only"]) == 0
    assert "rte      accuracy               median 65.0 mean 65.0 ± 5.0 [60.0, 70.0], 3 run(s)" in \
        capsys.readouterr().out


def test_seeds_from_the_config_and_the_command_line(notebook, tmp_path):
    config = tmp_path / "batch.yaml"
    config.write_text("seeds: [7, 8]\nrun: [rte]\n")
    plan = make_plan(notebook, tmp_path / "out", config=config)
    params = plan.task_parameters("rte/seed-8")
    assert plan.runs == ["rte/seed-7", "rte/seed-8"] and params["seed"] == 8
    assert params["output_dir"] == str(tmp_path / "out" / "rte" / "seed-8")
    assert make_plan(notebook, tmp_path / "out", config=config, seeds=[1]).runs == ["rte/seed-1"]  # CLI wins
