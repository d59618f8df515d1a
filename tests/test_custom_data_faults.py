"""Custom data that used to be trained on silently wrong: each case now gives its error (file, column, rows) or
its right labels."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from glue_helpers.custom_task import custom_task, load_custom_splits, load_task_file, resolve_task
from glue_helpers.errors import GlueHelpersError


def write_csv(path, rows, header="text,label"):
    """A CSV written by hand, so empty cells and trailing spaces stay exactly as given."""
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def write_jsonl(path, rows):
    """JSON lines, one dict a line."""
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_an_empty_text_cell_is_an_error_naming_file_column_and_line(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["a cat,pos", "a dog,neg", ",pos", "big tree,neg"])
    with pytest.raises(GlueHelpersError) as err:
        custom_task("t", train)
    message = str(err.value)
    assert str(train) in message and "'text'" in message and "line 4" in message and "drop_empty" in message


def test_a_text_that_reads_like_nan_is_kept_as_written(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["NA,pos", "nan,neg", "null,pos", "x,neg"])
    ds = load_custom_splits(custom_task("t", train))
    texts = set(ds["train"]["text"]) | set(ds["validation"]["text"])
    assert texts == {"NA", "nan", "null", "x"}


def test_a_missing_label_is_an_error_not_a_type_error(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["a cat,pos", "a dog,neg", "a tree,", "big tree,neg"])
    with pytest.raises(GlueHelpersError, match=r"train\.csv: column 'label' is empty in 1 row\(s\) \(line 4\)"):
        custom_task("t", train)
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": "a", "label": "pos"}, {"text": "b", "label": None}])
    good = write_csv(tmp_path / "good.csv", ["a cat,pos", "a dog,neg"])
    task = custom_task("t", good, validation_file=dev)
    with pytest.raises(GlueHelpersError, match=r"dev\.jsonl: column 'label' is empty in 1 row\(s\) \(line 2\)"):
        load_custom_splits(task)


def test_drop_empty_skips_those_rows_and_says_which(tmp_path, capsys):
    train = write_csv(tmp_path / "train.csv", ["a cat,pos", ",neg", "a dog,neg", "a tree,", "big tree,pos"])
    dev = write_csv(tmp_path / "dev.csv", ["a cat,pos", "  ,neg", "a dog,neg"])
    task = custom_task("t", train, validation_file=dev, drop_empty=True)
    ds = load_custom_splits(task)
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
    train = write_csv(tmp_path / "train.csv", ["a cat,pos", "a dog,pos ", "a tree, neg", "big tree,neg"])
    task = custom_task("t", train)
    assert task.label_names == ("neg", "pos")
    dev = write_csv(tmp_path / "dev.csv", ["x,pos  ", "y,neg"])
    ds = load_custom_splits(custom_task("t", train, validation_file=dev))
    assert ds["train"]["label"] == [1, 1, 0, 0] and ds["validation"]["label"] == [1, 0]


def test_integer_labels_are_not_read_as_indexes_into_word_labels(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["a cat,neg", "a dog,pos", "a tree,neg"])
    dev = write_csv(tmp_path / "dev.csv", ["x,1", "y,0"])  # meant as 'neg' = 1 by the person who wrote it
    task = custom_task("t", train, validation_file=dev)
    with pytest.raises(GlueHelpersError) as err:
        load_custom_splits(task)
    message = str(err.value)
    assert str(dev) in message and "are integers" in message and "words (neg, pos)" in message
    assert "line 2" in message


def test_words_where_the_training_labels_are_integers_are_an_error(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["a cat,0", "a dog,1"])
    dev = write_csv(tmp_path / "dev.csv", ["x,neg", "y,pos"])
    with pytest.raises(GlueHelpersError, match=r"dev\.csv: the validation labels .* are words .*integer ids"):
        load_custom_splits(custom_task("t", train, validation_file=dev))


def test_a_mix_of_integer_and_word_labels_is_an_error(tmp_path):
    rows = [{"text": "a", "label": "pos"}, {"text": "b", "label": "neg"}, {"text": "c", "label": 1}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(GlueHelpersError, match=r"train\.jsonl: column 'label' mixes integer labels \(1 on line 3\) "
                                               r"with words \('pos' on line 1\)"):
        custom_task("t", train)
    csv = write_csv(tmp_path / "train.csv", ["a,pos", "b,neg", "c,2"])
    with pytest.raises(GlueHelpersError, match="mixes integer labels"):
        custom_task("t", csv)


def test_integer_ids_with_word_label_names_and_integer_names_by_name(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["a,0", "b,1", "c,1"])
    ids = custom_task("t", train, label_names=["neg", "pos"], validation_file=train)
    assert load_custom_splits(ids)["validation"]["label"] == [0, 1, 1]  # ids into label_names, as it says
    stars = write_csv(tmp_path / "stars.csv", ["a,1", "b,2", "c,3", "d,3"])
    task = custom_task("t", stars, label_names=[1, 2, 3], validation_file=stars)
    assert task.label_names == ("1", "2", "3")
    assert load_custom_splits(task)["validation"]["label"] == [0, 1, 2, 2]  # star 1 is class '1', not index 1
    with pytest.raises(GlueHelpersError, match=r"label\(s\) \[2\].*ids 0\.\.1"):
        custom_task("t", write_csv(tmp_path / "ids.csv", ["a,0", "b,2"]), label_names=["neg", "pos"])


def test_task_file_paths_stay_inside_the_yaml_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    train = write_csv(tmp_path / "train.csv", ["a cat,pos", "a dog,neg", "a tree,pos"])  # 2 to validate, 1 to train
    (data / "t.yaml").write_text("train_file: ../train.csv\n")
    with pytest.raises(GlueHelpersError) as err:
        load_task_file(data / "t.yaml")
    assert "points outside the task file's folder" in str(err.value) and "absolute path" in str(err.value)
    assert str(data / "t.yaml") in str(err.value)
    (data / "t.yaml").write_text(f"train_file: {train}\n")
    assert load_task_file(data / "t.yaml").data_files["train"] == str(train)
    write_csv(data / "train.csv", ["a,pos", "b,neg", "c,pos"])
    (data / "t.yaml").write_text("train_file: sub/../train.csv\n")
    assert load_task_file(data / "t.yaml").data_files["train"] == str(data / "train.csv")


@pytest.mark.parametrize("text, expected", [
    ("train_file: !!python/object/apply:os.system ['echo hi']\n", "Python tags"),
    ("train_file: [a.csv\n", "not valid YAML"),
    ("- train_file: a.csv\n", "must be a mapping"),
])
def test_a_bad_task_yaml_names_the_file(tmp_path, text, expected):
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(GlueHelpersError) as err:
        load_task_file(tmp_path / "t.yaml")
    assert str(tmp_path / "t.yaml") in str(err.value) and expected in str(err.value)


def test_the_task_yaml_is_read_with_safe_load(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(yaml, "safe_load", lambda text: calls.append(text) or {"train_file": "x.csv"})
    with pytest.raises(GlueHelpersError, match="does not exist"):
        load_task_file(write_csv(tmp_path / "t.yaml", [], header="train_file: x.csv"))
    assert calls


def test_regression_scores_with_an_empty_cell_name_the_row(tmp_path):
    pd.DataFrame({"text": ["a", "b", "c"], "score": [1.0, None, 2.5]}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(GlueHelpersError, match=r"column 'score' is empty in 1 row\(s\) \(row 2\)"):
        custom_task("t", tmp_path / "t.parquet", label_column="score", regression=True)
