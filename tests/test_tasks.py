"""The task registry: every GLUE config, its columns, labels, metrics and splits."""

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.tasks import AX, GLUE_TASKS, LEADERBOARD_FILES, TASK_NAMES, get_task, published_dev_score


def test_all_ten_configs_are_registered_with_their_aliases_and_an_unknown_name_lists_them():
    assert set(TASK_NAMES) == {"cola", "mnli", "mnli-mm", "mrpc", "qnli", "qqp", "rte", "sst2", "stsb", "wnli"}
    names = {"SST-2": "sst2", "sts-b": "stsb", "CoLA": "cola", "mnli_mm": "mnli-mm", "MNLI-MM": "mnli-mm", "qqp": "qqp"}
    assert {alias: get_task(alias).name for alias in names} == names  # aliases
    with pytest.raises(GlueHelpersError) as err:
        get_task("imdb")
    assert [name for name in ("imdb", *TASK_NAMES) if name not in str(err.value)] == []
    with pytest.raises(GlueHelpersError, match="resolve_task"):  # a task YAML is not a task name
        get_task("my_task.yaml")


def test_metric_names_follow_glue():
    expected = {"cola": (("matthews_correlation",), "matthews_correlation"), "mrpc": (("accuracy", "f1"), "accuracy"),
                "qqp": (("accuracy", "f1"), "accuracy"), "sst2": (("accuracy",), "accuracy"),
                "stsb": (("pearson", "spearmanr"), "pearson")}
    assert {name: (get_task(name).metric_names, get_task(name).primary_metric) for name in expected} == expected
    assert all(t.primary_metric in t.metric_names for t in GLUE_TASKS.values())


def test_columns_labels_and_splits():
    assert not get_task("cola").is_pair and not get_task("sst2").is_pair
    assert [get_task(n).text_columns for n in ("qnli", "qqp")] == [("question", "sentence"), ("question1", "question2")]
    assert get_task("stsb").is_regression and get_task("stsb").num_labels == 1  # a single-output regression
    mm, m = get_task("mnli-mm"), get_task("mnli")  # mnli-mm trains on mnli and evaluates on the mismatched splits
    assert (mm.hub_config, m.hub_config, mm.train_split) == ("mnli", "mnli", "train")
    assert (mm.validation_split, mm.test_split) == ("validation_mismatched", "test_mismatched")
    assert (m.validation_split, m.test_split) == ("validation_matched", "test_matched")
    assert m.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"} and m.label2id["contradiction"] == 2


def test_the_registry_holds_the_leaderboard_facts_reference_scores_and_sizes():
    names = "CoLA SST-2 MRPC STS-B QQP MNLI-m MNLI-mm QNLI RTE WNLI AX".split()
    assert sorted(LEADERBOARD_FILES) == sorted(f"{name}.tsv" for name in names)
    words = {task.name for task in (*GLUE_TASKS.values(), AX) if task.leaderboard_words}
    assert words == {"mnli", "mnli-mm", "ax", "qnli", "rte"}
    assert get_task("mnli").diagnostic is AX and get_task("mnli-mm").diagnostic is None
    assert AX.label_names == get_task("mnli").label_names and AX.text_columns == get_task("mnli").text_columns
    assert get_task("cola").distilbert_dev == 51.3 and get_task("cola").train_rows == 8551
    mm = get_task("mnli-mm")
    assert mm.distilbert_dev is None and mm.scored_as == "mnli" and published_dev_score(mm) == 82.1
    assert all(task.train_rows and task.leaderboard_file for task in GLUE_TASKS.values())
