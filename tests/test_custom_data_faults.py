"""Custom data once trained on silently wrong: each case now gives its error (file, column, rows) or right labels."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml

from glue_helpers.custom_task import custom_task, load_custom_splits, load_task_file, resolve_task
from glue_helpers.errors import GlueHelpersError


def write(path, rows):
    """CSV lines written by hand (so empty cells and trailing spaces stay exactly as given), JSON lines from dicts,
    or a parquet file from a dict of columns."""
    if path.suffix == ".csv":
        path.write_text("text,label\n" + "\n".join(rows) + "\n")
    elif path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("train, dev, options, patterns", [
    pytest.param(("train.csv", ["a cat,pos", "a dog,neg", ",pos", "big tree,neg"]), None, {},
                 ["{train}", "'text'", "line 4", "drop_empty"], id="empty-text-cell"),
    pytest.param(("train.csv", ["a cat,pos", "a dog,neg", "a tree,", "big tree,neg"]), None, {},
                 [r"train\.csv: column 'label' is empty in 1 row\(s\) \(line 4\)"], id="missing-train-label"),
    pytest.param(("good.csv", ["a cat,pos", "a dog,neg"]),
                 ("dev.jsonl", [{"text": "a", "label": "pos"}, {"text": "b", "label": None}]), {},
                 [r"dev\.jsonl: column 'label' is empty in 1 row\(s\) \(line 2\)"], id="missing-dev-label"),
    # integers meant as 'neg' = 1 by the person who wrote them are not read as indexes into the word labels
    pytest.param(("train.csv", ["a cat,neg", "a dog,pos", "a tree,neg"]), ("dev.csv", ["x,1", "y,0"]), {},
                 ["{dev}", "are integers", r"words \(neg, pos\)", "line 2"], id="integer-dev-labels-for-words"),
    pytest.param(("train.csv", ["a cat,0", "a dog,1"]), ("dev.csv", ["x,neg", "y,pos"]), {},
                 [r"dev\.csv: the validation labels .* are words .*integer ids"], id="word-dev-labels-for-integers"),
    pytest.param(("train.jsonl", [{"text": "a", "label": "pos"}, {"text": "b", "label": "neg"},
                                  {"text": "c", "label": 1}]), None, {},
                 [r"train\.jsonl: column 'label' mixes integer labels \(1 on line 3\) with words \('pos' on line 1\)"],
                 id="mixed-labels-jsonl"),
    pytest.param(("train.csv", ["a,pos", "b,neg", "c,2"]), None, {}, ["mixes integer labels"], id="mixed-labels-csv"),
    pytest.param(("ids.csv", ["a,0", "b,2"]), None, {"label_names": ["neg", "pos"]}, [r"label\(s\) \[2\].*ids 0\.\.1"],
                 id="integer-id-beyond-label-names"),
    pytest.param(("t.parquet", {"text": ["a", "b", "c"], "score": [1.0, None, 2.5]}), None,
                 {"label_column": "score", "regression": True}, [r"column 'score' is empty in 1 row\(s\) \(row 2\)"],
                 id="empty-regression-score"),
])
def test_bad_labels_and_cells_name_file_column_and_line(tmp_path, train, dev, options, patterns):
    train = write(tmp_path / train[0], train[1])
    if dev is None:  # a fault of the training file stops custom_task
        with pytest.raises(GlueHelpersError) as err:
            custom_task("t", train, **options)
    else:  # one of the validation file stops loading the splits
        task = custom_task("t", train, validation_file=write(tmp_path / dev[0], dev[1]), **options)
        with pytest.raises(GlueHelpersError) as err:
            load_custom_splits(task)
    for pattern in patterns:
        pattern = pattern.format(train=re.escape(str(train)), dev=re.escape(str(tmp_path / "dev.csv")))
        assert re.search(pattern, str(err.value)), (pattern, str(err.value))


def test_a_text_that_reads_like_nan_is_kept_as_written(tmp_path):
    ds = load_custom_splits(custom_task("t", write(tmp_path / "train.csv", ["NA,pos", "nan,neg", "null,pos", "x,neg"])))
    assert set(ds["train"]["text"]) | set(ds["validation"]["text"]) == {"NA", "nan", "null", "x"}


def test_drop_empty_skips_those_rows_and_says_which(tmp_path, capsys):
    train = write(tmp_path / "train.csv", ["a cat,pos", ",neg", "a dog,neg", "a tree,", "big tree,pos"])
    dev = write(tmp_path / "dev.csv", ["a cat,pos", "  ,neg", "a dog,neg"])
    ds = load_custom_splits(custom_task("t", train, validation_file=dev, drop_empty=True))
    assert ds["train"]["text"] == ["a cat", "a dog", "big tree"] and ds["train"]["idx"] == [0, 2, 4]
    assert ds["validation"]["text"] == ["a cat", "a dog"]
    printed = capsys.readouterr().out
    assert "skipped 2 row(s) of" in printed and "lines 3, 5" in printed and "skipped 1 row(s)" in printed
    (tmp_path / "t.yaml").write_text("train_file: train.csv\n")
    with pytest.raises(GlueHelpersError, match="is empty"):
        resolve_task(str(tmp_path / "t.yaml"))
    assert resolve_task(str(tmp_path / "t.yaml"), drop_empty=True).drop_empty  # the notebook parameter
    (tmp_path / "t.yaml").write_text("train_file: train.csv\ndrop_empty: true\n")
    assert load_task_file(tmp_path / "t.yaml").drop_empty
    assert resolve_task(str(tmp_path / "t.yaml"), drop_empty=False).drop_empty  # the file's setting stays
    assert resolve_task("mine", train_file=str(train), drop_empty=True).drop_empty


def test_label_strings_are_stripped(tmp_path):
    train = write(tmp_path / "train.csv", ["a cat,pos", "a dog,pos ", "a tree, neg", "big tree,neg"])
    assert custom_task("t", train).label_names == ("neg", "pos")
    dev = write(tmp_path / "dev.csv", ["x,pos  ", "y,neg"])
    ds = load_custom_splits(custom_task("t", train, validation_file=dev))
    assert ds["train"]["label"] == [1, 1, 0, 0] and ds["validation"]["label"] == [1, 0]


def test_integer_ids_with_word_label_names_and_integer_names_by_name(tmp_path):
    train = write(tmp_path / "train.csv", ["a,0", "b,1", "c,1"])
    ids = custom_task("t", train, label_names=["neg", "pos"], validation_file=train)
    assert load_custom_splits(ids)["validation"]["label"] == [0, 1, 1]  # ids into label_names, as it says
    stars = write(tmp_path / "stars.csv", ["a,1", "b,2", "c,3", "d,3"])
    task = custom_task("t", stars, label_names=[1, 2, 3], validation_file=stars)
    assert task.label_names == ("1", "2", "3")
    assert load_custom_splits(task)["validation"]["label"] == [0, 1, 2, 2]  # star 1 is class '1', not index 1


def test_task_file_paths_stay_inside_the_yaml_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    train = write(tmp_path / "train.csv", ["a cat,pos", "a dog,neg", "a tree,pos"])  # 2 to validate, 1 to train
    (data / "t.yaml").write_text("train_file: ../train.csv\n")
    with pytest.raises(GlueHelpersError) as err:
        load_task_file(data / "t.yaml")
    assert "points outside the task file's folder" in str(err.value) and "absolute path" in str(err.value)
    assert str(data / "t.yaml") in str(err.value)
    (data / "t.yaml").write_text(f"train_file: {train}\n")
    assert load_task_file(data / "t.yaml").data_files["train"] == str(train)
    write(data / "train.csv", ["a,pos", "b,neg", "c,pos"])
    (data / "t.yaml").write_text("train_file: sub/../train.csv\n")
    assert load_task_file(data / "t.yaml").data_files["train"] == str(data / "train.csv")


@pytest.mark.parametrize("text, expected", [
    ("train_file: !!python/object/apply:os.system ['echo hi']\n", "Python tags"),
    ("train_file: [a.csv\n", "not valid YAML"),
    ("- train_file: a.csv\n", "must be a mapping"),
    ("train_file: a.csv\nlabels: [a, b]\n", "labels"),  # an unknown key
])
def test_a_bad_task_yaml_names_the_file(tmp_path, text, expected):
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(GlueHelpersError) as err:
        load_task_file(tmp_path / "t.yaml")
    assert str(tmp_path / "t.yaml") in str(err.value) and expected in str(err.value)


def test_the_task_yaml_is_read_with_safe_load(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(yaml, "safe_load", lambda text: calls.append(text) or {"train_file": "x.csv"})
    (tmp_path / "t.yaml").write_text("train_file: x.csv\n")
    with pytest.raises(GlueHelpersError, match="does not exist"):
        load_task_file(tmp_path / "t.yaml")
    assert calls
