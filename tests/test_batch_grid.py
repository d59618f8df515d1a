"""`batch --models`: models x tasks x seeds, one folder per run, results by model, `compare` of two models."""

from __future__ import annotations

import itertools
import zipfile

import pandas as pd
import pytest
from batch_helpers import GRID_BODY, GRID_PARAMETERS, read_json, write_dummy_notebook

from glue_helpers.batch.compare import compare_runs
from glue_helpers.batch.plan import STATUS, make_plan, model_slug, split_grid_run
from glue_helpers.cli import main


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "grid.ipynb", GRID_PARAMETERS, GRID_BODY)


def test_model_folders_are_safe_and_runs_split_into_model_task_and_seed(tmp_path):
    local = tmp_path / "models" / "tiny-bert"
    local.mkdir(parents=True)
    models = ["google/electra-small-discriminator", str(local) + "/", "distilbert-base-uncased", "org/we ird:name"]
    assert [model_slug(m) for m in models] == ["google--electra-small-discriminator", "tiny-bert",
                                               "distilbert-base-uncased", "org--we_ird_name"]
    assert [split_grid_run(run) for run in ("org--m/cola/seed-3", "org--m/cola", "cola/seed-3", "cola")] == [
        ("org--m", "cola", 3), ("org--m", "cola", None), (None, "cola", 3), (None, "cola", None)]


def test_the_plan_sets_the_model_per_run(notebook, tmp_path):
    config = tmp_path / "batch.yaml"
    config.write_text("models: [org/big, small]\nrun: [rte]\nseeds: [1]\n")
    plan = make_plan(notebook, tmp_path / "out", config=config)
    assert plan.runs == ["org--big/rte/seed-1", "small/rte/seed-1"]
    params = plan.task_parameters("org--big/rte/seed-1")
    assert params["model_checkpoint"] == "org/big" and params["seed"] == 1
    assert params["output_dir"] == str(tmp_path / "out" / "org--big" / "rte" / "seed-1")
    assert make_plan(notebook, tmp_path / "out", config=config, models=["x"]).runs == ["x/rte/seed-1"]  # CLI wins


@pytest.mark.notebook
def test_a_grid_runs_every_model_task_and_seed_and_compares_two_models(notebook, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "rte", "cola", "--seeds", "1", "2",
            "--models", "org/big", "small", "--jobs", "2", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for slug, task, seed in itertools.product(("org--big", "small"), ("rte", "cola"), (1, 2)):
        status = read_json(out / slug / task / f"seed-{seed}" / STATUS)
        assert status["status"] == "succeeded" and status["parameters"]["seed"] == seed
        assert status["parameters"]["model_checkpoint"] == {"org--big": "org/big", "small": "small"}[slug]
    table = pd.read_csv(out / "results.csv")
    assert table.columns[:5].tolist() == ["run", "model_slug", "task", "seed", "status"]
    assert table["run"].tolist()[:2] == ["org--big/rte/seed-1", "org--big/rte/seed-2"]
    summary = pd.read_csv(out / "results_summary.csv").set_index(["model_slug", "task"])
    assert summary.loc[[("org--big", "rte"), ("small", "rte")], "median"].tolist() == pytest.approx([87.5, 57.5])
    assert "org--big: GLUE-style average" in printed and "small: GLUE-style average" in printed
    for slug, model in (("org--big", "org/big"), ("small", "small")):  # each model's own zip, its own runs' files
        with zipfile.ZipFile(out / slug / "glue_submission.zip") as zf:
            assert zf.read("RTE.tsv").decode().split()[0] == model
    assert not (out / "glue_submission.zip").exists()

    compared = compare_runs(out / "small", out / "org--big").set_index("task")
    assert compared.loc["rte", "pairs"] == 2 and compared.loc["rte", "diff"] == pytest.approx(0.3)

    assert main([*argv[:-3], "--models", "org/big", "small", "extra", "--no-progress"]) == 0  # a model more
    assert "skipped (already finished; --force to redo): org--big/rte/seed-1" in capsys.readouterr().out
    assert len(pd.read_csv(out / "results.csv")) == 12
