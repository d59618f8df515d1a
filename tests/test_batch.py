"""The batch runner's checks, all before any notebook runs: tasks, parameters, config, output folder."""

from __future__ import annotations

import json
import re
import socket

import pytest
import yaml
from batch_helpers import GRID_PARAMETERS, write_dummy_notebook
from batch_helpers import PARAMETERS as DUMMY_PARAMETERS

from glue_helpers.batch.lock import run_lock
from glue_helpers.batch.plan import MANIFEST, PARAMETERS, STATUS, load_config, make_plan, notebook_path, resolve_tasks
from glue_helpers.batch.runner import archive_previous, gather, notebook_error, pending_tasks, run_batch
from glue_helpers.cli import build_parser, main
from glue_helpers.cli.batch import collect_parameters
from glue_helpers.errors import INTERFACE, GlueHelpersError
from glue_helpers.tasks import TASK_NAMES


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "dummy.ipynb")


@pytest.mark.parametrize("text, value", [("True", True), ("False", False), ("None", None), ("3", 3), ("-2", -2),
                                         ("2e-5", 2e-5), ("0.5", 0.5), ("mrpc", "mrpc"), ("1e", "1e"),
                                         ("org/model", "org/model")])
def test_values_are_read_like_papermill(text, value):
    from glue_helpers.batch.plan import parse_value

    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_cli_pairs_become_typed_parameters():
    from glue_helpers.batch.plan import find_notebook

    args = build_parser().parse_args(["batch", "--out", "x", "-p", "smoke", "True", "-p", "learning_rate", "3e-5"])
    assert collect_parameters(args.param) == {"smoke": True, "learning_rate": 3e-5}
    assert args.jobs == 1 and args.notebook is None and not args.smoke  # notebook 01, as the package ships it
    assert find_notebook(None) == notebook_path("01_text_classification.ipynb") and find_notebook(None).is_file()
    args = build_parser().parse_args(["batch", "--smoke"])
    assert args.out == "runs/batch" and args.smoke


def test_all_ten_configs_by_default_aliases_resolve_and_every_unknown_task_is_named_at_once():
    assert resolve_tasks(None) == list(TASK_NAMES) and len(TASK_NAMES) == 10
    assert resolve_tasks(["SST-2", "sts-b", "MNLI_MM", "sst2"]) == ["sst2", "stsb", "mnli-mm"]
    with pytest.raises(GlueHelpersError) as err:
        resolve_tasks(["cola", "colaa", "squad"])
    assert "'colaa'" in str(err.value) and "'squad'" in str(err.value) and "wnli" in str(err.value)


def test_plan_merges_config_cli_and_task(notebook, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("parameters:\n  num_train_epochs: 3\n  learning_rate: 2e-5\n  smoke: true\n"
                   "tasks: {MRPC: {num_train_epochs: 5}, wnli: {num_train_epochs: 5}}\n")
    config = load_config(cfg)
    assert (config.parameters, config.overrides) == ({"num_train_epochs": 3, "learning_rate": 2e-5, "smoke": True},
                                                     {"mrpc": {"num_train_epochs": 5}, "wnli": {"num_train_epochs": 5}})
    assert config.run is None and config.custom == {}
    plan = make_plan(notebook, tmp_path / "out", ["cola", "mrpc"], {"learning_rate": 3e-5}, cfg)
    assert plan.task_parameters("mrpc") == {"num_train_epochs": 5, "learning_rate": 3e-5, "smoke": True, "task": "mrpc",
                                            "output_dir": str(tmp_path / "out" / "mrpc")}
    assert plan.task_parameters("cola")["num_train_epochs"] == 3 and plan.overrides == {"mrpc": {"num_train_epochs": 5}}
    cli_wins = make_plan(notebook, tmp_path / "o2", ["mrpc"], {"num_train_epochs": 1}, cfg)
    assert cli_wins.task_parameters("mrpc")["num_train_epochs"] == 1
    cfg.write_text("parameters: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(GlueHelpersError, match=f"Config file {cfg}: not valid YAML"):
        load_config(cfg)


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


def test_relative_paths_become_absolute_and_ones_own_notebook_checks_its_values(notebook, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    plan = make_plan(notebook, "out", ["cola"], {"fail_flag": "data", "fail_on": "cola", "learning_rate": -1})
    assert plan.parameters == {"fail_flag": str(tmp_path / "data"), "fail_on": "cola", "learning_rate": -1}
    assert plan.out == tmp_path / "out" and plan.task_parameters("cola")["learning_rate"] == -1  # the notebook's own


def finish(plan, task, status="succeeded"):
    """A task folder as a run of the plan leaves it: status.json and a metrics.json that parses."""
    (plan.out / task).mkdir(parents=True)
    (plan.out / task / STATUS).write_text(json.dumps({"status": status, "parameters": plan.task_parameters(task)}))
    (plan.out / task / "metrics.json").write_text("{}")


def test_pending_skips_only_succeeded(notebook, tmp_path):
    plan = make_plan(notebook, tmp_path / "out", ["cola", "rte", "stsb"])
    finish(plan, "cola")
    finish(plan, "rte", "failed")
    assert pending_tasks(plan, force=False) == (["rte", "stsb"], ["cola"])
    assert pending_tasks(plan, force=True) == (["cola", "rte", "stsb"], [])


def test_a_run_made_outside_the_batch_is_finished_by_its_metrics_and_not_overwritten(notebook, tmp_path):
    from glue_helpers.batch.plan import task_outcome

    out = tmp_path / "out"
    (out / "cola").mkdir(parents=True)
    assert task_outcome(out / "cola") == ("not run", None)
    (out / "cola" / "metrics.json").write_text("{}")  # what `train --output-dir out/cola` leaves, written last
    assert task_outcome(out / "cola") == ("succeeded", None)
    with pytest.raises(GlueHelpersError, match="cola finished outside the batch"):
        make_plan(notebook, out, ["cola"])
    assert make_plan(notebook, out, ["cola"], force=True)
    (out / "cola" / PARAMETERS).write_text("{}")  # the batch started a notebook there, which wrote no status
    assert task_outcome(out / "cola") == ("not run", None)


def test_archive_keeps_every_previous_attempt(tmp_path):
    for n in range(2):
        (tmp_path / "nb.ipynb").write_text(f"attempt {n}")
        (tmp_path / STATUS).write_text("{}")
        archive_previous(tmp_path, "nb.ipynb", "failed")
    assert [(tmp_path / f"nb.failed-{n}.ipynb").read_text() for n in (1, 2)] == ["attempt 0", "attempt 1"]
    assert (tmp_path / "status.failed-2.json").exists() and not (tmp_path / "nb.ipynb").exists()


def test_notebook_error_reads_the_first_error_output(tmp_path):
    nb = {"cells": [{"cell_type": "code", "execution_count": 4, "outputs": [
        {"output_type": "stream", "text": "hi"}, {"output_type": "error", "ename": "ValueError", "evalue": "bad"}]}]}
    (tmp_path / "x.ipynb").write_text(json.dumps(nb))
    assert notebook_error(tmp_path / "x.ipynb") == "ValueError: bad (cell 4)"
    assert notebook_error(tmp_path / "missing.ipynb") is None


def test_jobs_must_be_positive_a_busy_folder_is_refused_and_a_kernel_gets_minutes_to_start(notebook, tmp_path):
    """papermill's 60 s kernel start-up limit failed a task on a loaded machine before it ran a cell."""
    from glue_helpers.batch.runner import KERNEL_START_TIMEOUT_S, make_job, papermill_command

    plan = make_plan(notebook, tmp_path / "out", ["cola"])
    cmd = papermill_command(make_job(plan, "cola"))
    assert cmd[cmd.index("--start-timeout") + 1] == str(KERNEL_START_TIMEOUT_S) and KERNEL_START_TIMEOUT_S >= 300
    with pytest.raises(GlueHelpersError, match="--jobs must be at least 1"):
        run_batch(plan, jobs=0)
    with run_lock(plan.out), pytest.raises(GlueHelpersError, match="Another batch .* is running"):
        run_batch(plan)
    (plan.out / ".batch.lock").write_text("999999999")  # a stale lock from a dead process is taken over
    with run_lock(plan.out):
        assert (plan.out / ".batch.lock").read_text() != "999999999"
    assert not (plan.out / ".batch.lock").exists()


@pytest.mark.parametrize("given, config, message", [
    ({"learning_rate": -1}, None, "Run cola/seed-43: -p learning_rate must be a positive finite number, got -1."),
    ({"precision": "half"}, None, "Run cola/seed-43: -p precision must be one of 'auto', 'fp32', 'bf16', 'fp16'; "
                                  "got 'half'."),
    ({"model_checkpoint": "./no-such-folder"}, None,
     "Run cola/seed-43 (-p model_checkpoint ./no-such-folder): Model path './no-such-folder' does not exist."),
    ({"data_dir": ["validation", "test"]}, None, "Run cola/seed-43 (-p data_dir {data}): Task 'cola' needs split(s) "
                                                 "['train']"),
    ({"data_dir": ["train", "validation"]}, None, "(-p data_dir {data}): Task 'cola' needs split(s) ['test']"),
    ({"push_to_hub": True}, None, "Run cola/seed-43: push_to_hub needs the repository to push to: -p hub_model_id "
                                  "YOU/MODEL"),
    ({}, {"tasks": {"rte": {"num_train_epochs": 0}}}, "Run rte/seed-43: -p num_train_epochs must be a positive"),
], ids=["learning-rate", "precision", "model-folder", "no-train-split", "no-test-split", "push-without-id",
        "a-task-override"])
def test_every_run_of_notebook_01_is_checked_before_anything_is_written(kit, tmp_path, monkeypatch, given, config,
                                                                         message):
    """Bad input failed in cell 5 of every notebook, after every kernel had started (and left an empty zip)."""
    monkeypatch.setenv(INTERFACE, "batch")
    monkeypatch.chdir(tmp_path)
    if "data_dir" in given:  # a local GLUE copy holding only these splits of CoLA (the kit's files, linked)
        (tmp_path / "glue" / "cola").mkdir(parents=True)
        for name in (f"{split}-00000-of-00001.parquet" for split in given["data_dir"]):
            (tmp_path / "glue" / "cola" / name).symlink_to(kit.data_dir / "cola" / name)
        given = {**given, "data_dir": str(tmp_path / "glue")}
    # smoke mode reads the kit's model and data, whatever model_checkpoint and data_dir say
    parameters = {"smoke": not {"data_dir", "model_checkpoint"} & set(given), **given}
    if config:
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(GlueHelpersError) as err:
        make_plan(None, tmp_path / "out", ["cola", "rte"], parameters, config and tmp_path / "c.yaml", seeds=[43])
    assert message.format(data=given.get("data_dir")) in str(err.value)
    assert str(err.value).endswith("Nothing was started.") and not (tmp_path / "out").exists()
    plan = make_plan(notebook_path("01_text_classification.ipynb"), tmp_path / "out", ["cola", "rte"],
                     {"smoke": True}, seeds=[43])  # good values, the notebook named by its path
    assert plan.runs == ["cola/seed-43", "rte/seed-43"] and not (tmp_path / "out").exists()


def test_batch_of_notebook_01_with_a_bad_value_starts_nothing_and_writes_nothing(kit, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", "--out", str(out), "--tasks", "cola", "rte", "-p", "smoke", "True", "-p", "learning_rate",
                 "-1", "--no-progress"]) == 2
    assert "error: Run cola: -p learning_rate must be a positive finite number, got -1." in capsys.readouterr().err
    assert not out.exists()  # no batch.json, no run folder, no results, no zip
    assert main(["batch", "--out", str(out), "--report-only", "-p", "learning_rate", "-1"]) == 1  # a report runs
    assert not (out / "cola").exists()  # nothing, so it checks nothing


def test_on_a_cluster_the_workers_gpus_decide_the_precision(kit, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine runs fp16")
    with pytest.raises(GlueHelpersError, match="Run cola: precision='fp16' needs a CUDA GPU"):
        make_plan(None, tmp_path / "out", ["cola"], {"smoke": True, "precision": "fp16"})
    assert make_plan(None, tmp_path / "out", ["cola"], {"smoke": True, "precision": "fp16"}, on_cluster=True)


@pytest.mark.parametrize("reachable", [True, False])
def test_a_ten_task_plan_asks_the_hub_once_and_says_once_that_it_is_needed(tmp_path, monkeypatch, reachable):
    from glue_helpers import offline_kit

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv(INTERFACE, "batch")
    monkeypatch.setattr(offline_kit, "_SEEN", {})
    calls = []

    def connect(address, timeout=None):
        calls.append(address)
        if not reachable:
            raise OSError("no route to host")
        return socket.socket()

    monkeypatch.setattr(socket, "create_connection", connect)
    parameters = {"model_checkpoint": "nobody/not-in-any-cache"}
    if reachable:
        assert len(make_plan(None, tmp_path / "out", None, parameters).runs) == 10
    else:
        with pytest.raises(GlueHelpersError) as err:
            make_plan(None, tmp_path / "out", None, parameters)
        assert str(err.value).startswith("Run cola: This run needs the Hub, and the Hugging Face Hub is out of reach.")
        assert "-p data_dir PATH" in str(err.value) and "-p model_checkpoint PATH" in str(err.value)
    assert len(calls) == 1 and not (tmp_path / "out").exists()


def test_two_task_files_of_one_name_are_refused_naming_both(tmp_path):
    for side in ("A", "B"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "train.csv").write_text("text,label\n" + "".join(f"w{i},{i % 2}\n" for i in range(20)))
        (tmp_path / side / "reviews.yaml").write_text("train_file: train.csv\n")
    files = [str(tmp_path / side / "reviews.yaml") for side in ("A", "B")]
    with pytest.raises(GlueHelpersError) as err:
        resolve_tasks(files)
    assert f"{files[0]} and {files[1]} both define a task named 'reviews'" in str(err.value)
    assert resolve_tasks([files[0], files[0]]) == ["reviews"]  # one file twice is one task


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_an_out_that_is_a_file_is_a_clear_error(tmp_path, capsys, where):
    (tmp_path / "file").write_text("mine")
    out = tmp_path / where
    assert main(["batch", "--out", str(out), "--tasks", "cola", "-p", "smoke", "True"]) == 2
    what = "is a file" if where == "file" else f"lies under {tmp_path / 'file'}, a file"
    assert f"error: --out {out} {what}, not a folder." in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("interface, fix", [
    ("batch", "Use another --out, or --force to rerun there"),
    ("notebook", "Use another output folder, or move {out} away, to rerun."),
])
def test_a_finished_batch_reused_with_other_parameters_says_what_differs(notebook, tmp_path, monkeypatch, interface,
                                                                         fix):
    monkeypatch.setenv(INTERFACE, interface)
    out, same = tmp_path / "out", {"num_train_epochs": 1, "fail_on": "x"}
    plan = make_plan(notebook, out, ["mrpc"], same)
    finish(plan, "mrpc")
    (out / MANIFEST).write_text(json.dumps(plan.manifest()))
    assert make_plan(notebook, out, ["mrpc"], same).parameters == same  # the same settings again are fine
    with pytest.raises(GlueHelpersError) as err:
        make_plan(notebook, out, ["mrpc"], {"num_train_epochs": 2})
    assert "holds a batch run with other settings (num_train_epochs 1, now 2; fail_on 'x', now unset)" in str(err.value)
    assert fix.format(out=out) in str(err.value)
    assert make_plan(notebook, out, ["mrpc"], {"num_train_epochs": 2}, force=True)
    (out / MANIFEST).unlink()  # a finished task alone, run with other parameters
    with pytest.raises(GlueHelpersError) as err:
        make_plan(notebook, out, ["mrpc"], {"num_train_epochs": 2, "fail_on": "x"})
    assert "mrpc finished with other parameters (num_train_epochs 1, now 2)" in str(err.value)
    assert fix.format(out=out) in str(err.value)


def test_notebook_02s_recheck_rerun_with_other_rows_says_which(kit, tmp_path):
    """Notebook 02 reruns its re-check (run_notebook_01) in the folder of one made with other rows."""
    from glue_helpers.batch.runner import run_notebook_01

    earlier = make_plan(None, tmp_path / "recipe", ["mrpc"], {"smoke": True, "max_train_samples": 128}, seeds=[42])
    earlier.out.mkdir()
    (earlier.out / MANIFEST).write_text(json.dumps(earlier.manifest()))
    with pytest.raises(GlueHelpersError) as err:
        run_notebook_01(earlier.out, "mrpc", [42], {"smoke": True, "max_train_samples": 64}, progress=False)
    assert str(err.value) == (f"{earlier.out} holds a batch run with other settings (max_train_samples 128, now 64). "
                              f"Use another output folder, or move {earlier.out} away, to rerun.")
    assert [p.name for p in earlier.out.iterdir()] == [MANIFEST]


def test_a_batch_where_every_run_failed_writes_no_zip(notebook, tmp_path, capsys):
    plan = make_plan(notebook, tmp_path / "out", ["cola", "rte"])
    for task in plan.tasks:
        finish(plan, task, "failed")
    assert gather(plan).submission is None and not (plan.out / "glue_submission.zip").exists()
    assert main(["batch", "--notebook", str(notebook), "--out", str(plan.out), "--tasks", "cola", "rte",
                 "--report-only"]) == 1
    assert "submission" not in capsys.readouterr().out and not (plan.out / "glue_submission.zip").exists()
