"""Leaderboard files: one correctly formed `<Task>.tsv` per GLUE task, on the offline kit."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from datasets import load_dataset

from glue_helpers.batch.submission import collect_submission
from glue_helpers.errors import GlueHelpersError
from glue_helpers.inference import format_predictions, read_predictions, write_leaderboard_files, write_predictions_file
from glue_helpers.tasks import AX, LEADERBOARD_FILES, TASK_NAMES, get_task

ALLOWED = {
    **dict.fromkeys(("cola", "sst2", "mrpc", "qqp", "wnli"), {"0", "1"}),
    **dict.fromkeys(("mnli", "mnli-mm", "ax"), {"entailment", "neutral", "contradiction"}),
    **dict.fromkeys(("qnli", "rte"), {"entailment", "not_entailment"}),
}
FORMATTED = [
    ("mnli", [0, 1, 2], ["entailment", "neutral", "contradiction"]),  # label words follow the dataset ids
    ("rte", [0, 1], ["entailment", "not_entailment"]),
    ("qnli", np.array([1, 0]), ["not_entailment", "entailment"]),
    ("ax", [2], ["contradiction"]),
    *[(task, np.array([1, 0, 1]), ["1", "0", "1"]) for task in ("cola", "sst2", "mrpc", "qqp", "wnli")],  # ids kept
    ("stsb", [-0.3, 2.34567, 5.9], ["0.000", "2.346", "5.000"]),  # clipped, three decimals
]


@pytest.mark.parametrize("task, predictions, expected", FORMATTED, ids=[task for task, *_ in FORMATTED])
def test_predictions_are_written_as_the_leaderboard_expects(task, predictions, expected):
    assert format_predictions(AX if task == "ax" else get_task(task), predictions) == expected


def test_out_of_range_class_ids_are_refused():
    with pytest.raises(GlueHelpersError, match=r"\[0, 1\]"):
        format_predictions(get_task("cola"), [0, 2])


def test_file_round_trip_and_header(tmp_path):
    path = write_predictions_file(tmp_path / "CoLA.tsv", [3, 1], ["1", "0"])
    assert path.read_text() == "index\tprediction\n3\t1\n1\t0\n"
    assert read_predictions(path) == [(3, "1"), (1, "0")]
    with pytest.raises(GlueHelpersError, match="2 indices but 1"):
        write_predictions_file(tmp_path / "x.tsv", [1, 2], ["0"])


def test_collect_submission_zips_flat_and_lists_missing(tmp_path):
    write_predictions_file(tmp_path / "cola" / "leaderboard" / "CoLA.tsv", [0], ["1"])
    write_predictions_file(tmp_path / "mnli" / "leaderboard" / "AX.tsv", [0], ["neutral"])
    zip_path, missing = collect_submission(tmp_path)
    assert sorted(zipfile.ZipFile(zip_path).namelist()) == ["AX.tsv", "CoLA.tsv"]
    assert len(missing) == 9 and "MNLI-mm.tsv" in missing and "CoLA.tsv" not in missing


@pytest.mark.parametrize("files", [[], ["cola.tsv", "notes.tsv"]], ids=["none", "no-leaderboard-name"])
def test_no_leaderboard_file_means_no_zip(tmp_path, files):
    """A batch whose every run failed wrote an empty glue_submission.zip."""
    for name in files:
        write_predictions_file(tmp_path / "cola" / "leaderboard" / name, [0], ["1"])
    (tmp_path / "rte").mkdir()
    assert collect_submission(tmp_path) == (None, list(LEADERBOARD_FILES))
    assert not (tmp_path / "glue_submission.zip").exists()


@pytest.fixture(scope="module")
def trainer_for(kit, tmp_path_factory):
    """Build an (untrained) Trainer on the tiny kit model for a task; predictions only."""
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

    from glue_helpers.modeling import load_tokenizer, make_data_collator, model_kwargs

    tokenizer = load_tokenizer(kit.model_dir)
    args = TrainingArguments(str(tmp_path_factory.mktemp("trainer")), per_device_eval_batch_size=16,
                             report_to="none", use_cpu=True)

    def build(task):
        model = AutoModelForSequenceClassification.from_pretrained(kit.model_dir, ignore_mismatched_sizes=True,
                                                                   **model_kwargs(get_task(task)))
        return Trainer(model=model, args=args, data_collator=make_data_collator(tokenizer)), tokenizer

    return build


@pytest.mark.parametrize("task", TASK_NAMES)
def test_each_task_writes_its_leaderboard_file(task, kit, trainer_for, tmp_path):
    trainer, tokenizer = trainer_for(task)
    paths = write_leaderboard_files(trainer, tokenizer, get_task(task), kit.data_dir, tmp_path)
    expected = [get_task(task).leaderboard_file] + (["AX.tsv"] if task == "mnli" else [])
    assert [p.name for p in paths] == expected and all(p.parent == tmp_path / "leaderboard" for p in paths)
    for path in paths:
        name = "ax" if path.name == "AX.tsv" else task
        config, split = ("ax", "test") if name == "ax" else (get_task(task).hub_config, get_task(task).test_split)
        test = load_dataset(str(kit.data_dir), config, split=split)
        rows = read_predictions(path)
        assert len(rows) == len(test) == 32 and sorted(i for i, _ in rows) == sorted(test["idx"])
        preds = [p for _, p in rows]
        if task == "stsb":
            assert all(0.0 <= float(p) <= 5.0 and len(p.split(".")[1]) == 3 for p in preds)
        else:
            assert set(preds) <= ALLOWED[name]


def test_the_raw_test_split_can_be_passed_in(kit, trainer_for, tmp_path):
    trainer, tokenizer = trainer_for("rte")
    test = load_dataset(str(kit.data_dir), "rte", split="test").select(range(5))
    [path] = write_leaderboard_files(trainer, tokenizer, get_task("rte"), None, tmp_path, test_dataset=test)
    assert [i for i, _ in read_predictions(path)] == list(test["idx"])
    with pytest.raises(GlueHelpersError, match="no 'idx' column"):
        write_leaderboard_files(trainer, tokenizer, get_task("rte"), None, tmp_path,
                                test_dataset=test.remove_columns("idx"))
