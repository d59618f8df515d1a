"""Custom data once trained on silently wrong: each case now gives its error (file, column, rows) or right labels."""

import json
import re

import pandas as pd
import pytest
import yaml

from glue_helpers.custom_task import custom_task, load_custom_splits, load_task_file, resolve_task
from glue_helpers.errors import GlueHelpersError


def write(path, rows):
    """CSV lines by hand (empty cells and trailing spaces stay as given), JSON lines from dicts, or parquet columns."""
    if path.suffix == ".csv":
        path.write_text("text,label\n" + "\n".join(rows) + "\n")
    elif path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        pd.DataFrame(rows).to_parquet(path)
    return path


def assert_named(err, patterns, **paths):
    """Each pattern, with {train}, {dev}, {test} or {yaml} standing for that file's path, is found in the error."""
    where = {k: re.escape(str(v)) for k, v in paths.items()}
    assert [p for p in patterns if not re.search(p.format(**where), str(err.value))] == [], str(err.value)


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
    dev = {"validation_file": write(tmp_path / dev[0], dev[1])} if dev else {}
    with pytest.raises(GlueHelpersError) as err:  # either file: every split is read when the task is resolved
        custom_task("t", train, **dev, **options)
    assert_named(err, patterns, train=train, dev=tmp_path / "dev.csv")


GOOD = "text,label\n" + "".join(f"t{i},{'pos' if i % 2 else 'neg'}\n" for i in range(8))


@pytest.mark.parametrize("files, options, patterns", [
    pytest.param({"train.csv": "text,label\na,pos\nb,pos \nc,pos\n"}, {},
                 ["{train}", "column 'label'", "single class"], id="single-class"),
    pytest.param({"train.csv": "text,label,text\na,pos,x\nb,neg,y\nc,pos,z\n"}, {},
                 ["{train}", r"\['text'\] more than once", "text.1", "Rename"], id="repeated-column-csv"),
    pytest.param({"train.tsv": "text\tlabel\tlabel\na\tpos\tx\nb\tneg\ty\nc\tpos\tz\n"}, {},
                 ["{train}", r"\['label'\]"], id="repeated-column-tsv"),
    pytest.param({"train.csv": GOOD}, {"text_columns": "label"}, ["{train}", "different columns"],
                 id="text-column-is-label"),
    pytest.param({"train.csv": GOOD}, {"text_columns": ["text", "label"]}, ["different columns"],
                 id="pair-column-is-label"),
    pytest.param({"train.csv": "text,score\na,1.0\nb,inf\nc,2\n"}, {"regression": True},
                 ["{train}", "inf on line 3", "finite"], id="inf-score"),
    pytest.param({"train.csv": "text,score\na,1.0\nb,0.5\nc,-inf\n"}, {"regression": True},
                 ["{train}", "-inf on line 4", "finite"], id="minus-inf-score"),
    pytest.param({"train.csv": "text,score\na,1.0\nb,nan\nc,2\n"}, {"regression": True},
                 ["{train}", "'nan' on line 3"], id="nan-text-score"),
    pytest.param({"train.jsonl": '{"text": "a", "score": 1}\n{"text": "b", "score": Infinity}\n'},
                 {"regression": True}, ["{train}", "inf on line 2", "finite"], id="infinity-jsonl-score"),
    pytest.param({"train.parquet": {"text": ["a", "b", "c"], "score": [1.0, 2.0, float("inf")]}},
                 {"regression": True}, ["{train}", "inf on row 3", "finite"], id="inf-parquet-score"),
    pytest.param({"train.parquet": {"text": ["a", "b", "c"], "score": [1.0, float("nan"), 2.0]}},
                 {"regression": True}, ["{train}", "'score' is empty", "row 2"], id="nan-parquet-score"),
    pytest.param({"train.csv": ""}, {}, ["{train}", "is empty"], id="0-byte-csv"),
    pytest.param({"train.jsonl": ""}, {}, ["{train}", "is empty"], id="0-byte-jsonl"),
    pytest.param({"train.parquet": b""}, {}, ["{train}", "is empty"], id="0-byte-parquet"),
    pytest.param({"train.csv": "\n\n"}, {}, ["{train}", "is empty"], id="blank-lines-csv"),
    pytest.param({"train.csv": "text,label\n"}, {}, ["{train}", "is empty", "header"], id="header-only-csv"),
    pytest.param({"train.csv": "text,label\n,pos\n  ,neg\n"}, {}, ["{train}", "'text'", "lines 2, 3", "drop_empty"],
                 id="every-text-empty"),
    pytest.param({"train.csv": "text,label\n,pos\n  ,neg\n"}, {"drop_empty": True}, ["{train}", "nothing is left"],
                 id="every-text-empty-dropped"),
    pytest.param({"train.csv": "text,label\na,pos\ncafé,neg\n".encode("latin-1")}, {},
                 ["{train}", "line 3", "0xE9", "Save it as UTF-8", "CSV UTF-8"], id="latin-1-csv"),
    pytest.param({"train.jsonl": '{"text": "a", "label": "x"}\n{"text": "it’s", "label": "y"}\n'.encode("cp1252")},
                 {}, ["{train}", "line 2", "0x92", "Save it as UTF-8"], id="cp1252-jsonl"),
    pytest.param({"train.csv": GOOD, "dev.csv": "text,label\na,neg\nb,posittive\n"}, {"validation_file": "dev.csv"},
                 [r"{dev}: the validation split has label\(s\) \['posittive'\]", "line 3"], id="typo-in-validation"),
    pytest.param({"train.csv": GOOD, "test.csv": "text,label\na,neg\nb,nope\n"}, {"test_file": "test.csv"},
                 ["{test}", "'nope'", "line 3"], id="unknown-label-in-test"),
    pytest.param({"train.csv": GOOD, "test.csv": "words\na\n"}, {"test_file": "test.csv"},
                 ["'test.csv'", r"\['words'\]"], id="test-without-text-column"),
    pytest.param({"train.csv": GOOD}, {"test_file": "nope.csv"}, ["test file", "nope.csv", "does not exist"],
                 id="missing-test-file"),
    pytest.param({"train.csv": GOOD, "dev.csv": "text,label,label\na,neg,x\nb,pos,y\n"},
                 {"validation_file": "dev.csv"}, ["{dev}", r"\['label'\]"], id="repeated-column-in-validation"),
])
def test_bad_files_are_refused_when_the_task_is_resolved(tmp_path, files, options, patterns):
    for name, content in files.items():
        if isinstance(content, dict):
            pd.DataFrame(content).to_parquet(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    options = {k: str(tmp_path / v) if k.endswith("_file") else v for k, v in options.items()}
    if options.get("regression"):
        options["label_column"] = "score"
    train = tmp_path / next(iter(files))
    with pytest.raises(GlueHelpersError) as err:
        custom_task("t", train, **options)
    assert_named(err, patterns, train=train, dev=tmp_path / "dev.csv", test=tmp_path / "test.csv")


@pytest.mark.parametrize("fault", ["typo-in-validation", "missing-test-file"])
@pytest.mark.parametrize("entry", ["resolve_task", "load_task_file"])
def test_resolve_task_and_a_task_yaml_check_every_split_file(tmp_path, entry, fault):
    (tmp_path / "train.csv").write_text(GOOD)
    (tmp_path / "dev.csv").write_text("text,label\na,neg\nb,posittive\n")
    spec = {"validation_file": "dev.csv"} if fault == "typo-in-validation" else {"test_file": "nope.csv"}
    with pytest.raises(GlueHelpersError, match="posittive" if "typo" in fault else "nope.csv' does not exist"):
        if entry == "resolve_task":
            resolve_task("t", train_file=str(tmp_path / "train.csv"),
                         **{k: str(tmp_path / v) for k, v in spec.items()})
        else:
            (tmp_path / "t.yaml").write_text(yaml.safe_dump({"train_file": "train.csv", **spec}))
            load_task_file(tmp_path / "t.yaml")


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
    task = custom_task("t", train, validation_file=write(tmp_path / "dev.csv", ["x,pos  ", "y,neg"]),
                       test_file=write(tmp_path / "test.csv", ["z,  neg", "w,pos\t"]))
    ds = load_custom_splits(task)
    assert task.label_names == ("neg", "pos") and ds["validation"].features["label"].names == ["neg", "pos"]
    assert (ds["train"]["label"], ds["validation"]["label"], ds["test"]["label"]) == ([1, 1, 0, 0], [1, 0], [0, 1])


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
    assert_named(err, ["points outside the task file's folder", "absolute path", "{yaml}"], yaml=data / "t.yaml")
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
