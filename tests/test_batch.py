"""The batch runner's checks, all before any notebook runs: tasks, parameters, config, output folder."""

from __future__ import annotations

import json

import pytest
from batch_helpers import write_dummy_notebook

from glue_helpers.batch.lock import run_lock
from glue_helpers.batch.plan import (
    MANIFEST,
    PARAMETERS,
    STATUS,
    load_config,
    make_plan,
    parse_value,
    resolve_tasks,
    task_outcome,
)
from glue_helpers.batch.runner import archive_previous, notebook_error, pending_tasks, run_batch
from glue_helpers.cli import build_parser
from glue_helpers.cli.batch import collect_parameters
from glue_helpers.errors import GlueHelpersError
from glue_helpers.tasks import TASK_NAMES


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "dummy.ipynb")


@pytest.mark.parametrize("text, value", [("True", True), ("False", False), ("None", None), ("3", 3), ("-2", -2),
                                         ("2e-5", 2e-5), ("0.5", 0.5), ("mrpc", "mrpc"), ("1e", "1e"),
                                         ("org/model", "org/model")])
def test_values_are_read_like_papermill(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_cli_pairs_become_typed_parameters():
    args = build_parser().parse_args(["batch", "--out", "x", "-p", "smoke", "True", "-p", "learning_rate", "3e-5"])
    assert collect_parameters(args.param) == {"smoke": True, "learning_rate": 3e-5}
    assert args.jobs == 1 and args.notebook.endswith("01_text_classification.ipynb")


def test_all_ten_configs_by_default_and_aliases_resolve():
    assert resolve_tasks(None) == list(TASK_NAMES) and len(TASK_NAMES) == 10
    assert resolve_tasks(["SST-2", "sts-b", "MNLI_MM", "sst2"]) == ["sst2", "stsb", "mnli-mm"]


def test_every_unknown_task_is_named_at_once():
    with pytest.raises(GlueHelpersError) as err:
        resolve_tasks(["cola", "colaa", "squad"])
    assert "'colaa'" in str(err.value) and "'squad'" in str(err.value) and "wnli" in str(err.value)


def test_config_file_shared_and_per_task(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("parameters:\n  learning_rate: 2e-5\n  smoke: true\ntasks:\n  MRPC: {num_train_epochs: 5}\n")
    config = load_config(cfg)
    assert (config.parameters, config.overrides) == ({"learning_rate": 2e-5, "smoke": True},
                                                     {"mrpc": {"num_train_epochs": 5}})
    assert config.run is None and config.custom == {}
    cfg.write_text("params: {}\n")
    with pytest.raises(GlueHelpersError, match="only the keys"):
        load_config(cfg)
    cfg.write_text("tasks: {mrpc: 5}\n")
    with pytest.raises(GlueHelpersError, match="must map each task"):
        load_config(cfg)


def test_plan_merges_config_cli_and_task(notebook, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("parameters: {num_train_epochs: 3, learning_rate: 1e-5}\n"
                   "tasks: {mrpc: {num_train_epochs: 5}, wnli: {num_train_epochs: 5}}\n")
    plan = make_plan(notebook, tmp_path / "out", ["cola", "mrpc"], {"learning_rate": 3e-5}, cfg)
    assert plan.task_parameters("mrpc") == {"num_train_epochs": 5, "learning_rate": 3e-5, "task": "mrpc",
                                            "output_dir": str(tmp_path / "out" / "mrpc")}
    assert plan.task_parameters("cola")["num_train_epochs"] == 3
    assert plan.overrides == {"mrpc": {"num_train_epochs": 5}}
    cli_wins = make_plan(notebook, tmp_path / "o2", ["mrpc"], {"num_train_epochs": 1}, cfg)
    assert cli_wins.task_parameters("mrpc")["num_train_epochs"] == 1


def test_undeclared_parameter_is_refused_by_name(notebook, tmp_path):
    with pytest.raises(GlueHelpersError, match="does not declare parameter.*num_epochs") as err:
        make_plan(notebook, tmp_path / "out", ["cola"], {"num_epochs": 3})
    assert "num_train_epochs" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_undeclared_per_task_parameter_is_refused(notebook, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("tasks: {mrpc: {epochs: 5}}\n")
    with pytest.raises(GlueHelpersError, match="epochs"):
        make_plan(notebook, tmp_path / "out", ["cola"], {}, cfg)


def test_task_and_output_dir_are_set_by_batch(notebook, tmp_path):
    with pytest.raises(GlueHelpersError, match="batch sets them per task"):
        make_plan(notebook, tmp_path / "out", ["cola"], {"output_dir": "x"})


def test_notebook_must_exist_and_declare_parameters(tmp_path):
    with pytest.raises(GlueHelpersError, match="does not exist"):
        make_plan(tmp_path / "nope.ipynb", tmp_path / "out")
    bare = write_dummy_notebook(tmp_path / "bare.ipynb", parameters="x = 1")
    bare.write_text(bare.read_text().replace('"parameters"', '"other"'))
    with pytest.raises(GlueHelpersError, match="no cell tagged 'parameters'"):
        make_plan(bare, tmp_path / "out")
    partial = write_dummy_notebook(tmp_path / "partial.ipynb", parameters="task = 'cola'")
    with pytest.raises(GlueHelpersError, match="must declare output_dir"):
        make_plan(partial, tmp_path / "out")


def test_unknown_tasks_fail_before_the_notebook_is_read(tmp_path):
    with pytest.raises(GlueHelpersError, match="'glue9'"):
        make_plan(tmp_path / "nope.ipynb", tmp_path / "out", ["glue9"])


def test_relative_existing_paths_become_absolute(notebook, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    plan = make_plan(notebook, "out", ["cola"], {"fail_flag": "data", "fail_on": "cola"})
    assert plan.parameters == {"fail_flag": str(tmp_path / "data"), "fail_on": "cola"}
    assert plan.out == tmp_path / "out"


def test_a_folder_of_another_run_is_refused_unless_forced(notebook, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"notebook": str(notebook), "parameters": {"num_train_epochs": 1}}))
    assert make_plan(notebook, out, ["cola"], {"num_train_epochs": 1}).parameters == {"num_train_epochs": 1}
    with pytest.raises(GlueHelpersError, match="holds a different run"):
        make_plan(notebook, out, ["cola"], {"num_train_epochs": 2})
    assert make_plan(notebook, out, ["cola"], {"num_train_epochs": 2}, force=True)


def test_a_task_finished_with_other_task_parameters_is_refused(notebook, tmp_path):
    plan = make_plan(notebook, tmp_path / "out", ["mrpc"])
    (plan.out / "mrpc").mkdir(parents=True)
    old = {**plan.task_parameters("mrpc"), "num_train_epochs": 5}
    (plan.out / "mrpc" / STATUS).write_text(json.dumps({"status": "succeeded", "parameters": old}))
    (plan.out / "mrpc" / "metrics.json").write_text("{}")  # a finished task has a metrics.json that parses
    with pytest.raises(GlueHelpersError, match="mrpc .*finished with other parameters"):
        make_plan(notebook, tmp_path / "out", ["mrpc"])


def test_pending_skips_only_succeeded(notebook, tmp_path):
    plan = make_plan(notebook, tmp_path / "out", ["cola", "rte", "stsb"])
    for task, status in [("cola", "succeeded"), ("rte", "failed")]:
        (plan.out / task).mkdir(parents=True)
        (plan.out / task / STATUS).write_text(json.dumps({"status": status, "parameters": plan.task_parameters(task)}))
        (plan.out / task / "metrics.json").write_text("{}")
    assert pending_tasks(plan, force=False) == (["rte", "stsb"], ["cola"])
    assert pending_tasks(plan, force=True) == (["cola", "rte", "stsb"], [])


def test_a_run_made_outside_the_batch_is_finished_by_its_metrics_and_not_overwritten(notebook, tmp_path):
    out = tmp_path / "out"
    (out / "cola").mkdir(parents=True)
    assert task_outcome(out / "cola") == ("not run", None)
    (out / "cola" / "metrics.json").write_text("{}")  # what `train --output-dir out/cola` leaves, written last
    assert task_outcome(out / "cola") == ("succeeded", None)
    with pytest.raises(GlueHelpersError, match="cola .*finished with other parameters .or outside the batch"):
        make_plan(notebook, out, ["cola"])
    assert make_plan(notebook, out, ["cola"], force=True)
    (out / "cola" / PARAMETERS).write_text("{}")  # the batch started a notebook there, which wrote no status
    assert task_outcome(out / "cola") == ("not run", None)


def test_archive_keeps_every_previous_attempt(tmp_path):
    for n in range(2):
        (tmp_path / "nb.ipynb").write_text(f"attempt {n}")
        (tmp_path / STATUS).write_text("{}")
        archive_previous(tmp_path, "nb.ipynb", "failed")
    assert (tmp_path / "nb.failed-1.ipynb").read_text() == "attempt 0"
    assert (tmp_path / "nb.failed-2.ipynb").read_text() == "attempt 1"
    assert (tmp_path / "status.failed-2.json").exists() and not (tmp_path / "nb.ipynb").exists()


def test_notebook_error_reads_the_first_error_output(tmp_path):
    nb = {"cells": [{"cell_type": "code", "execution_count": 4, "outputs": [
        {"output_type": "stream", "text": "hi"}, {"output_type": "error", "ename": "ValueError", "evalue": "bad"}]}]}
    (tmp_path / "x.ipynb").write_text(json.dumps(nb))
    assert notebook_error(tmp_path / "x.ipynb") == "ValueError: bad (cell 4)"
    assert notebook_error(tmp_path / "missing.ipynb") is None


def test_jobs_must_be_positive_and_a_busy_folder_is_refused(notebook, tmp_path):
    plan = make_plan(notebook, tmp_path / "out", ["cola"])
    with pytest.raises(GlueHelpersError, match="--jobs must be at least 1"):
        run_batch(plan, jobs=0)
    with run_lock(plan.out), pytest.raises(GlueHelpersError, match="Another batch .* is running"):
        run_batch(plan)
    (plan.out / ".batch.lock").write_text("999999999")  # a stale lock from a dead process is taken over
    with run_lock(plan.out):
        assert (plan.out / ".batch.lock").read_text() != "999999999"
    assert not (plan.out / ".batch.lock").exists()


def test_a_busy_machine_gets_minutes_to_start_each_kernel(tmp_path):
    """papermill's 60 s kernel start-up limit failed a task on a loaded machine before it ran a cell."""
    from glue_helpers.batch.runner import KERNEL_START_TIMEOUT_S, make_job, papermill_command

    notebook = write_dummy_notebook(tmp_path / "nb.ipynb")
    cmd = papermill_command(make_job(make_plan(notebook, tmp_path / "out", ["cola"], {}), "cola"))
    assert cmd[cmd.index("--start-timeout") + 1] == str(KERNEL_START_TIMEOUT_S) and KERNEL_START_TIMEOUT_S >= 300
