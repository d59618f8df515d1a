"""The task registry: every GLUE config, its columns, labels, metrics and splits."""

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.tasks import AX, GLUE_TASKS, LEADERBOARD_FILES, TASK_NAMES, get_task, published_dev_score


def test_all_ten_configs_are_registered():
    assert set(TASK_NAMES) == {"cola", "mnli", "mnli-mm", "mrpc", "qnli", "qqp", "rte", "sst2", "stsb", "wnli"}


def test_mnli_mm_trains_on_mnli_and_evaluates_mismatched():
    mm, m = get_task("mnli-mm"), get_task("mnli")
    assert mm.hub_config == m.hub_config == "mnli"
    assert (mm.validation_split, mm.test_split) == ("validation_mismatched", "test_mismatched")
    assert (m.validation_split, m.test_split) == ("validation_matched", "test_matched")
    assert mm.train_split == "train"


def test_stsb_is_a_single_output_regression():
    assert get_task("stsb").is_regression and get_task("stsb").num_labels == 1  # its metrics: in the table below


@pytest.mark.parametrize("name, metrics, primary", [
    ("cola", ("matthews_correlation",), "matthews_correlation"),
    ("mrpc", ("accuracy", "f1"), "accuracy"),
    ("qqp", ("accuracy", "f1"), "accuracy"),
    ("sst2", ("accuracy",), "accuracy"),
    ("stsb", ("pearson", "spearmanr"), "pearson"),
])
def test_metric_names_follow_glue(name, metrics, primary):
    t = get_task(name)
    assert t.metric_names == metrics and t.primary_metric == primary


def test_primary_metric_is_one_of_the_task_metrics():
    assert all(t.primary_metric in t.metric_names for t in GLUE_TASKS.values())


def test_pair_and_single_sentence_tasks():
    assert not get_task("cola").is_pair and not get_task("sst2").is_pair
    assert get_task("qnli").text_columns == ("question", "sentence")
    assert get_task("qqp").text_columns == ("question1", "question2")


def test_label_maps_are_inverse():
    t = get_task("mnli")
    assert t.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    assert t.label2id["contradiction"] == 2


@pytest.mark.parametrize("alias, name", [("SST-2", "sst2"), ("sts-b", "stsb"), ("CoLA", "cola"),
                                         ("mnli_mm", "mnli-mm"), ("MNLI-MM", "mnli-mm"), ("qqp", "qqp")])
def test_aliases(alias, name):
    assert get_task(alias).name == name


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(GlueHelpersError) as err:
        get_task("imdb")
    assert [name for name in ("imdb", *TASK_NAMES) if name not in str(err.value)] == []


def test_the_registry_holds_the_leaderboard_facts():
    expected = ["CoLA.tsv", "SST-2.tsv", "MRPC.tsv", "STS-B.tsv", "QQP.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "QNLI.tsv",
                "RTE.tsv", "WNLI.tsv", "AX.tsv"]
    assert sorted(LEADERBOARD_FILES) == sorted(expected)
    words = {task.name for task in (*GLUE_TASKS.values(), AX) if task.leaderboard_words}
    assert words == {"mnli", "mnli-mm", "ax", "qnli", "rte"}
    assert get_task("mnli").diagnostic is AX and get_task("mnli-mm").diagnostic is None
    assert AX.label_names == get_task("mnli").label_names and AX.text_columns == get_task("mnli").text_columns


def test_reference_scores_and_sizes():
    assert get_task("cola").distilbert_dev == 51.3 and get_task("cola").train_rows == 8551
    mm = get_task("mnli-mm")
    assert mm.distilbert_dev is None and mm.scored_as == "mnli" and published_dev_score(mm) == 82.1
    assert all(task.train_rows and task.leaderboard_file for task in GLUE_TASKS.values())


def test_a_task_yaml_is_not_a_task_name():
    with pytest.raises(GlueHelpersError, match="resolve_task"):
        get_task("my_task.yaml")
