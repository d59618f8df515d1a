"""The batch runner's checks, all before any notebook runs: tasks, parameters, config, output folder."""

from __future__ import annotations

import json
import re

import pytest
from batch_helpers import GRID_PARAMETERS, write_dummy_notebook
from batch_helpers import PARAMETERS as DUMMY_PARAMETERS

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


NOTEBOOK_PARAMETERS = {"dummy": DUMMY_PARAMETERS, "grid": GRID_PARAMETERS, "untagged": "x = 1",
                       "partial": "task = 'cola'", "bare": 'task = "cola"\noutput_dir = "out"'}


@pytest.mark.parametrize("kind, options, config, patterns", [
    pytest.param("dummy", {"tasks": ["cola"], "parameters": {"num_epochs": 3}}, None,
                 ["does not declare parameter.*num_epochs", "num_train_epochs"], id="undeclared-parameter"),
    pytest.param("dummy", {"tasks": ["cola"]}, "tasks: {mrpc: {epochs: 5}}", ["epochs"], id="undeclared-task-param"),
    pytest.param("dummy", {"tasks": ["cola"], "parameters": {"output_dir": "x"}}, None, ["batch sets them per task"],
                 id="output-dir-is-set"),
    pytest.param("dummy", {"tasks": ["cola"]}, "params: {}", ["only the keys"], id="config-unknown-key"),
    pytest.param("dummy", {"tasks": ["cola"]}, "tasks: {mrpc: 5}", ["must map each task"], id="config-task-not-a-map"),
    pytest.param("missing", {}, None, ["does not exist"], id="missing-notebook"),
    pytest.param("untagged", {}, None, ["no cell tagged 'parameters'"], id="no-parameters-cell"),
    pytest.param("partial", {}, None, ["must declare output_dir"], id="no-output-dir-parameter"),
    pytest.param("missing", {"tasks": ["glue9"]}, None, ["'glue9'"], id="unknown-task-before-the-notebook-is-read"),
    pytest.param("grid", {"tasks": ["rte"], "parameters": {"seed": 3}, "seeds": [1, 2]}, None,
                 ["Don't set the parameter 'seed' together with --seeds"], id="seed-param-and-seeds"),
    pytest.param("grid", {"tasks": ["rte"], "seeds": [1, 1]}, None, [r"seed\(s\) 1 listed twice"], id="seed-twice"),
    pytest.param("grid", {"tasks": ["rte"], "seeds": [-1]}, None, ["whole numbers from 0 to 4294967295; got -1"],
                 id="negative-seed"),
    pytest.param("grid", {"tasks": ["rte"]}, "seeds: 42", ["{config}: 'seeds' must list one or more seeds"],
                 id="config-seeds-not-a-list"),
    pytest.param("bare", {"tasks": ["rte"], "seeds": [1]}, None, ["does not declare 'seed'"], id="undeclared-seed"),
    pytest.param("grid", {"tasks": ["rte"], "parameters": {"model_checkpoint": "m"}, "models": ["a", "b"]}, None,
                 ["Don't set the parameter 'model_checkpoint' together with --models"], id="model-param-and-models"),
    pytest.param("bare", {"tasks": ["rte"], "models": ["a"]}, None, ["does not declare 'model_checkpoint'"],
                 id="undeclared-model-checkpoint"),
    pytest.param("grid", {"tasks": ["rte"]}, "models: org/big", ["'models' must list one or more model checkpoints"],
                 id="config-models-not-a-list"),
    pytest.param("grid", {"models": ["a/x", "a--x"]}, None, ["'a--x' and 'a/x' both map to the folder 'a--x'"],
                 id="models-in-one-folder"),
    pytest.param("grid", {"models": ["m", "m"]}, None, ["'m' is listed twice"], id="model-twice"),
])
def test_a_bad_plan_is_refused_before_any_folder_is_made(tmp_path, kind, options, config, patterns):
    path = tmp_path / f"{kind}.ipynb"
    if kind != "missing":
        write_dummy_notebook(path, NOTEBOOK_PARAMETERS[kind])
    if kind == "untagged":
        path.write_text(path.read_text().replace('"parameters"', '"other"'))
    if config:
        (tmp_path / "c.yaml").write_text(config + "\n")
    with pytest.raises(GlueHelpersError) as err:
        make_plan(path, tmp_path / "out", config=config and tmp_path / "c.yaml", **options)
    for pattern in patterns:
        assert re.search(pattern.format(config=re.escape(str(tmp_path / "c.yaml"))), str(err.value)), str(err.value)
    assert not (tmp_path / "out").exists()


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


def finish(plan, task, status="succeeded", **changed):
    """A task folder as a run of the plan leaves it (with `changed` parameters): status.json and a metrics.json."""
    (plan.out / task).mkdir(parents=True)
    parameters = {**plan.task_parameters(task), **changed}
    (plan.out / task / STATUS).write_text(json.dumps({"status": status, "parameters": parameters}))
    (plan.out / task / "metrics.json").write_text("{}")  # a finished task has a metrics.json that parses


def test_a_task_finished_with_other_task_parameters_is_refused(notebook, tmp_path):
    finish(make_plan(notebook, tmp_path / "out", ["mrpc"]), "mrpc", num_train_epochs=5)
    with pytest.raises(GlueHelpersError, match="mrpc .*finished with other parameters"):
        make_plan(notebook, tmp_path / "out", ["mrpc"])


def test_pending_skips_only_succeeded(notebook, tmp_path):
    plan = make_plan(notebook, tmp_path / "out", ["cola", "rte", "stsb"])
    finish(plan, "cola")
    finish(plan, "rte", "failed")
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


def test_a_busy_machine_gets_minutes_to_start_each_kernel(notebook, tmp_path):
    """papermill's 60 s kernel start-up limit failed a task on a loaded machine before it ran a cell."""
    from glue_helpers.batch.runner import KERNEL_START_TIMEOUT_S, make_job, papermill_command

    cmd = papermill_command(make_job(make_plan(notebook, tmp_path / "out", ["cola"], {}), "cola"))
    assert cmd[cmd.index("--start-timeout") + 1] == str(KERNEL_START_TIMEOUT_S) and KERNEL_START_TIMEOUT_S >= 300
