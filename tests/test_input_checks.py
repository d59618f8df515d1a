"""Issue 22's bad inputs: a clear error before anything is written (no earlier run deleted), or a correct result."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare import classes, write_run
from test_recipe import parameters

from glue_helpers.batch.compare import compare_runs
from glue_helpers.cli import main
from glue_helpers.custom_task import load_custom_splits, load_task_file, read_table, resolve_task
from glue_helpers.errors import GlueHelpersError
from glue_helpers.inputs import check_inputs
from glue_helpers.rundir import RunDir

LABELS = np.random.default_rng(0).integers(0, 2, 60)
REPO = Path(__file__).resolve().parents[1]
EIGHT = pd.DataFrame({"text": [f"t{i}" for i in range(8)], "label": ["neg", "pos"] * 4})  # a small valid data file


@pytest.mark.parametrize("command, flags, needle", [
    ("train", ["--lr", "nan"], "--learning-rate must be a positive finite number, got nan"),
    ("train", ["--epochs", "nan"], "--num-train-epochs must be a positive finite number, got nan"),
    ("train", ["--epochs", "inf"], "--num-train-epochs must be a positive finite number, got inf"),
    ("train", ["--seed", "99999999999"], "seed must be a whole number from 0 to 4294967295"),
    ("train", ["--lora-alpha", "inf"], "--lora-alpha must be a positive finite number"),
    ("search", ["--search-budget", "nan"], "--search-budget must be a finite number of recipe runs above 0"),
    ("search", ["--search-budget", "inf"], "--search-budget must be a finite number of recipe runs above 0"),
    ("search", ["--search-fraction", "0"], "--search-fraction must be in (0, 1]"),
    ("search", ["--search-min-rows", "-1"], "--search-min-rows must be a whole number >= 0"),
    ("search", ["--recheck-top", "0"], "--recheck-top must be a positive integer"),
    ("search", ["--recheck-seeds", "1"], "--recheck-seeds must be a whole number >= 2"),
    ("search", ["--cpus-per-trial", "nan"], "--cpus-per-trial must be a positive finite number, got nan"),
    ("search", ["--gpus-per-trial", "-1"], "--gpus-per-trial must be None (1 when the cluster has GPUs) or a number"),
    ("search", ["--seed", "-1"], "--seed must be a whole number from 0"),
    ("search", ["--lora-dropout", "1"], "--lora-dropout must be a number in [0, 1)"),
    ("train", ["--weight-decay", "nan"], "--weight-decay must be a number in [0, 1)"),
    ("batch", ["--tasks", "rte", "--seeds", "1", "99999999999", "-p", "smoke", "True", "--no-progress"],
     "seeds are whole numbers from 0 to 4294967295; got 99999999999"),
])
def test_bad_numbers_stop_the_command_before_any_file(tmp_path, capsys, command, flags, needle):
    out = tmp_path / "run"
    where = ["--out", str(out)] if command == "batch" else ["--task", "mrpc", "--smoke", "--output-dir", str(out)]
    assert main([command, *where, *flags]) == 2
    assert needle in capsys.readouterr().err and not out.exists()


def fake_run(folder: Path) -> Path:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text("{}")
    (folder / "metrics.json").write_text("{}")
    return folder


def kept(run: Path) -> bool:
    return (run / "model" / "config.json").is_file() and (run / "metrics.json").is_file()


@pytest.mark.parametrize("inside", ["model", "model/config.json", "metrics.json"])
def test_overwrite_refuses_to_delete_what_the_run_reads(tmp_path, inside):
    run = fake_run(tmp_path / "x")
    with pytest.raises(GlueHelpersError, match="overwrite would delete .* which this run reads"):
        RunDir(run).prepare(overwrite=True, inputs=(str(run / inside), None))
    assert kept(run)
    staged = RunDir(run).prepare(overwrite=True, inputs=(str(tmp_path / "elsewhere"),))  # an input outside
    assert kept(run) and staged.here == run / "unfinished"  # the old run goes only once the new one has finished


def bad_inputs(tmp_path, kit) -> dict:
    """Inputs wrong in ways only reading them shows: a label typo, a missing test file, a GLUE copy without train."""
    EIGHT.to_csv(tmp_path / "train.csv", index=False)
    EIGHT.replace({"pos": "posittive"}).to_csv(tmp_path / "dev.csv", index=False)
    (tmp_path / "typo.yaml").write_text("train_file: train.csv\nvalidation_file: dev.csv\n")
    (tmp_path / "no-test.yaml").write_text("train_file: train.csv\ntest_file: test.csv\n")
    shutil.copytree(kit.data_dir / "cola", tmp_path / "glue" / "cola")
    (tmp_path / "glue" / "cola" / "train-00000-of-00001.parquet").unlink()
    return {"typo": str(tmp_path / "typo.yaml"), "no-test": str(tmp_path / "no-test.yaml"), "glue": tmp_path / "glue"}


@pytest.mark.parametrize("case, flags, needle", [
    ("model-inside-the-run", ["--task", "cola", "--model-checkpoint", "{run}/model"], "which this run reads"),
    ("data-dir-typo", ["--task", "cola", "--data-dir", "{run}/no-such-folder"], "is not a folder"),
    ("model-typo", ["--task", "cola", "--model-checkpoint", "./no-such-model"], "does not exist"),
    ("validation-label-typo", ["--task", "{typo}"], "posittive"),
    ("missing-test-file", ["--task", "{no-test}"], "test.csv"),
    ("glue-copy-without-train", ["--task", "cola", "--data-dir", "{glue}"], "needs split(s) ['train']"),
])
def test_train_with_overwrite_keeps_the_old_run_when_an_input_is_wrong(kit, tmp_path, capsys, case, flags, needle):
    run = fake_run(tmp_path / "x")
    paths = {"run": run, **bad_inputs(tmp_path, kit)}
    assert main(["train", "--smoke", "--output-dir", str(run), "--overwrite",
                 *[f.format(**paths) for f in flags]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and kept(run) and not (run / "unfinished").exists()


@pytest.mark.parametrize("case, params, needle", [
    ("validation-label-typo", {"task": "{typo}", "train_file": None}, "posittive"),
    ("glue-copy-without-train", {"task": "cola", "data_dir": "{glue}"}, "needs split(s) ['train']"),
    ("push-without-repository", {"task": "cola", "push_to_hub": True}, "hub_model_id='YOU/MODEL'"),
    ("example-of-one-text-for-pairs", {"task": "mrpc", "example_sentence": "one"}, "takes 2 text(s)"),
])
def test_notebook_01_checks_every_input_before_it_touches_the_old_run(kit, tmp_path, case, params, needle):
    """Notebook 01's check cell (gh.check_inputs) with overwrite=True: the error comes first, the old run stays."""
    run = fake_run(tmp_path / "x")
    paths = bad_inputs(tmp_path, kit)
    values = {**parameters("01_text_classification.py"), "output_dir": str(run), "overwrite": True,
              "smoke": "data_dir" not in params, "data_dir": None}
    values.update({k: v.format(**paths) if isinstance(v, str) else v for k, v in params.items()})
    with pytest.raises(GlueHelpersError, match=re.escape(needle)):
        check_inputs(values)
    assert kept(run)


def test_an_empty_folder_left_by_a_failed_run_does_not_block_the_retry(tmp_path):
    (tmp_path / "x" / "checkpoints").mkdir(parents=True)
    assert RunDir(tmp_path / "x").existing_outputs() == []
    RunDir(tmp_path / "x").prepare()


def test_a_second_process_cannot_take_a_run_folder_until_the_first_dies(tmp_path):
    folder = tmp_path / "x"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from glue_helpers.rundir import RunDir; "
                               f"RunDir({str(folder)!r}).prepare(); print('ready', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(GlueHelpersError, match=f"is in use by another run \\(process {holder.pid} on "):
            RunDir(folder).prepare()
        RunDir(tmp_path / "y").prepare()  # other folders are free
    finally:
        holder.kill()  # kill -9: the OS releases the lock, nothing stale is left
        holder.wait()
    RunDir(folder).prepare()
    RunDir(folder).prepare()  # the same process may prepare its folder again (a re-run cell)


def two_runs(tmp_path, task="mrpc"):
    """Two runs whose predictions compare can pair: mrpc's classes, or stsb's regression scores."""
    if task == "stsb":
        labels = np.linspace(0, 5, 40)
        runs = [(labels, labels + 0.1), (labels, labels + 0.2)]
    else:
        runs = [classes(60, 0.8, 1, LABELS), classes(60, 0.7, 2, LABELS)]
    return [write_run(tmp_path / name, task, *run) for name, run in zip("ab", runs, strict=True)]


def set_prediction(run: Path, value, line: int = 4) -> None:
    path = run / "validation_predictions.jsonl"
    lines = path.read_text().splitlines()
    lines[line] = json.dumps({**json.loads(lines[line]), "prediction": value})
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("task, bad, message", [
    *[("mrpc", bad, f"line 5: prediction {bad!r} is not a mrpc prediction: expected a class id from 0 to 1")
      for bad in [7, "pos", -1, 1.5, True, None]],
    ("stsb", float("nan"), "prediction nan is not a stsb prediction: expected a finite number"),
], ids=["7", "pos", "-1", "1.5", "True", "None", "stsb-nan"])
def test_compare_refuses_a_prediction_the_task_cannot_have(tmp_path, task, bad, message):
    a, b = two_runs(tmp_path, task)
    set_prediction(b, bad)
    with pytest.raises(GlueHelpersError, match=message):
        compare_runs(a, b, n_resamples=50)


def test_compare_checks_class_ids_of_a_custom_task_it_knows_by_name_only(tmp_path):
    a, b = two_runs(tmp_path)
    for run in (a, b):  # as a custom task's run records it: its own name, no label names
        record = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**record, "task": "reviews"}))
    assert compare_runs(a, b, n_resamples=50).iloc[0].task == "reviews"
    set_prediction(b, "pos")
    with pytest.raises(GlueHelpersError, match="prediction 'pos' is not a reviews prediction: expected a class id"):
        compare_runs(a, b, n_resamples=50)


@pytest.mark.parametrize("field, value, expected", [
    ("regression", '"false"', "regression must be true or false, unquoted; got 'false'"),
    ("drop_empty", "yes please", "drop_empty must be true or false, unquoted"),
    ("label_names", '"neg,pos"', "label_names must be a list such as [negative, positive] (not one string)"),
    ("text_columns", "5", "text_columns must be a column name, or a list of two"),
    ("text_columns", "[a, b, c]", "text_columns must be a column name, or a list of two"),
    ("label_column", "[label]", "label_column must be a column name"),
    ("name", "../x", "name must be a plain name of letters, digits"),
    ("name", "a/b", "name must be a plain name of letters, digits"),
    ("metrics", "accuracy", "metrics must be a list of metric names"),
])
def test_a_task_yaml_field_of_the_wrong_type_names_file_field_and_value(tmp_path, field, value, expected):
    EIGHT.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "task.yaml").write_text(f"train_file: d.csv\n{field}: {value}\n")
    with pytest.raises(GlueHelpersError, match="Task file .*task.yaml: ") as err:
        load_task_file(tmp_path / "task.yaml")
    assert expected in str(err.value)


def test_the_same_checks_hold_for_notebook_parameters(tmp_path):
    EIGHT.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(GlueHelpersError, match="custom task 'reviews': regression must be true or false"):
        resolve_task("reviews", train_file=str(tmp_path / "d.csv"), regression="false")


def test_float_labels_without_regression_are_refused(tmp_path):
    (tmp_path / "s.csv").write_text("text,label\na,0.2\nb,1.0\nc,3.4\nd,5.0\ne,2.0\nf,0.8\n")
    with pytest.raises(GlueHelpersError, match=r"holds numbers with decimals \(0.2 on line 2\).*regression: true"):
        resolve_task("scores", train_file=str(tmp_path / "s.csv"))
    assert resolve_task("scores", train_file=str(tmp_path / "s.csv"), regression=True).is_regression


@pytest.mark.parametrize("name, write, reader, message", [
    pytest.param("d.parquet", lambda p: pd.DataFrame({"text": [["a", "b"], ["c"]], "label": ["x", "y"]}).to_parquet(p),
                 "resolve_task", "d.parquet: column 'text' holds lists or objects \\(rows 1, 2\\)", id="list-column"),
    pytest.param("u.csv", lambda p: p.write_text("text,label\nhello,pos\n", encoding="utf-16"), "read_table",
                 "u.csv is not UTF-8 text .* Save it as UTF-8", id="utf16-csv"),
    pytest.param("d.jsonl", lambda p: p.write_text('{"text": "a", "label": "x"}\n\n{"text": "b", "label": \n'),
                 "read_table", "d.jsonl, line 3: not valid JSON", id="bad-json-line"),
    # The empty text starts on the file's 7th line, not its 4th record.
    pytest.param("q.csv", lambda p: p.write_text('text,label\n"two\nlines",pos\n"three\nlines\nhere",neg\n,pos\n'),
                 "resolve_task", "line 7", id="csv-quoted-newlines"),
])
def test_a_bad_data_file_is_named_with_its_line_or_rows(tmp_path, name, write, reader, message):
    path = tmp_path / name
    write(path)
    with pytest.raises(GlueHelpersError, match=message):
        read_table(path, "train") if reader == "read_table" else resolve_task(path.stem, train_file=str(path))


@pytest.mark.parametrize("rows, validation", [(2, None), (40, 1)])
def test_a_validation_split_too_small_to_score_is_refused_before_training(tmp_path, rows, validation):
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(rows)))
    (tmp_path / "val.csv").write_text("text,label\nv,a\n")
    extra = {"validation_file": str(tmp_path / "val.csv")} if validation else {}
    with pytest.raises(GlueHelpersError, match="scoring a run needs at least 2"):
        resolve_task("small", train_file=str(tmp_path / "train.csv"), **extra)


def test_a_small_set_without_validation_file_sets_two_rows_aside(tmp_path):
    pd.DataFrame({"text": list("abcd"), "label": ["x", "y"] * 2}).to_csv(tmp_path / "t.csv", index=False)
    ds = load_custom_splits(resolve_task("four", train_file=str(tmp_path / "t.csv")))
    assert (len(ds["train"]), len(ds["validation"])) == (2, 2)


def test_notebook_01_with_overwrite_keeps_the_model_it_starts_from(kit, tmp_path):
    """Its first cell, `check_inputs(globals())`, with the parameters a notebook run would have."""
    run = fake_run(tmp_path / "x")
    shutil.copytree(kit.model_dir, run / "model", dirs_exist_ok=True)
    with pytest.raises(GlueHelpersError, match="which this run reads"):
        check_inputs({**parameters("01_text_classification.py"), "task": "cola", "data_dir": str(kit.data_dir),
                      "output_dir": str(run), "overwrite": True, "model_checkpoint": str(run / "model")})
    assert kept(run)


def test_the_readmes_papermill_commands_never_reuse_an_executed_notebook():
    """papermill writes its output before any cell can refuse the run, so each command names a new notebook."""
    outputs = [line.split(" ", 2)[2].split(" -p ")[0].rstrip(" \\") for line in (REPO / "README.md").read_text()
               .splitlines() if line.startswith("papermill notebooks/")]
    assert outputs and all(out.endswith("-$(date +%F-%H%M%S).ipynb") for out in outputs), outputs
