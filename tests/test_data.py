"""Loading GLUE from a local folder in the Hub's layout, subsampling, looking at it, and its errors."""

import shutil

import pytest
from datasets import ClassLabel, load_dataset

from glue_helpers.data import load_glue, random_elements, show_random_elements, summarize_split
from glue_helpers.errors import GlueHelpersError
from glue_helpers.tasks import get_task


def test_loads_train_validation_test(kit):
    ds = load_glue(get_task("cola"), kit.data_dir)
    assert set(ds) == {"train", "validation", "test"}
    assert ds["train"].column_names == ["sentence", "label", "idx"]
    assert isinstance(ds["train"].features["label"], ClassLabel)
    assert set(ds["test"]["label"]) == {-1}


def test_mnli_mm_evaluates_on_the_mismatched_split(kit):
    raw = load_dataset(str(kit.data_dir), "mnli")
    mm, m = load_glue(get_task("mnli-mm"), kit.data_dir), load_glue(get_task("mnli"), kit.data_dir)
    assert mm["validation"]["premise"] == raw["validation_mismatched"]["premise"]
    assert m["validation"]["premise"] == raw["validation_matched"]["premise"]
    assert mm["train"]["premise"] == m["train"]["premise"] == raw["train"]["premise"]
    assert mm["test"]["premise"] == raw["test_mismatched"]["premise"]


def test_subsampling_is_deterministic_and_sized(kit):
    a = load_glue(get_task("sst2"), kit.data_dir, max_train_samples=20, max_eval_samples=7, seed=3)
    b = load_glue(get_task("sst2"), kit.data_dir, max_train_samples=20, max_eval_samples=7, seed=3)
    c = load_glue(get_task("sst2"), kit.data_dir, max_train_samples=20, seed=4)
    assert (len(a["train"]), len(a["validation"])) == (20, 7)
    assert a["train"]["idx"] == b["train"]["idx"] != c["train"]["idx"]
    assert len(a["test"]) == len(load_glue(get_task("sst2"), kit.data_dir)["test"])


@pytest.mark.parametrize("bad", [0, -5, 2.5, "10"])
def test_bad_max_samples(kit, bad):
    with pytest.raises(GlueHelpersError, match="max_train_samples must be a positive integer"):
        load_glue(get_task("cola"), kit.data_dir, max_train_samples=bad)


@pytest.mark.parametrize("task, copy, fragments", [
    ("rte", ["cola/*"], ["'rte'", "cola"]),  # names the task and what the folder holds
    ("qnli", ["qnli/validation-*", "qnli/test-*"], ["train", "validation"]),  # names the split and what exists
    ("cola", [], ["not a folder"]),
], ids=["without-the-task", "without-a-split", "does-not-exist"])
def test_a_data_folder_without_what_the_task_needs(kit, tmp_path, task, copy, fragments):
    for path in [path for pattern in copy for path in kit.data_dir.glob(pattern)]:
        (tmp_path / "data" / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / "data" / path.parent.name / path.name)
    with pytest.raises(GlueHelpersError) as err:
        load_glue(get_task(task), tmp_path / "data")
    assert [fragment for fragment in fragments if fragment not in str(err.value)] == []


def test_hub_unreachable_fails_fast_with_the_fix(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(GlueHelpersError) as err:
        load_glue(get_task("cola"))
    for fix in ("data_dir", "model_checkpoint", "smoke"):
        assert fix in str(err.value)


def test_hub_offline_mode_without_cache_gives_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    with pytest.raises(GlueHelpersError, match="smoke"):
        load_glue(get_task("cola"))


def test_random_elements_show_label_names(kit):
    ds = load_glue(get_task("rte"), kit.data_dir)
    frame = random_elements(ds["train"], 6, seed=0)
    assert len(frame) == 6 and frame["idx"].is_unique
    assert set(frame["label"]) <= {"entailment", "not_entailment"}
    assert set(random_elements(ds["test"], 3, seed=0)["label"]) == {"(hidden)"}


def test_show_random_elements_prints_outside_a_notebook(kit, capsys):
    show_random_elements(load_glue(get_task("sst2"), kit.data_dir)["train"], 3, seed=1)
    out = capsys.readouterr().out
    assert "positive" in out or "negative" in out


def test_too_many_random_elements(kit):
    split = load_glue(get_task("wnli"), kit.data_dir)["validation"]
    with pytest.raises(GlueHelpersError, match=f"at most {len(split)}"):
        random_elements(split, len(split) + 1)


def test_summary_has_label_balance_and_lengths(kit):
    split = load_glue(get_task("mrpc"), kit.data_dir)["train"]
    summary = summarize_split(split, get_task("mrpc"))["value"]
    assert summary["rows"] == len(split)
    n_equiv = sum(1 for y in split["label"] if y == 1)
    assert summary["label equivalent"].startswith(str(n_equiv))
    assert "sentence2 words (median / max)" in summary.index
    stsb = get_task("stsb")
    assert "score mean ± std" in summarize_split(load_glue(stsb, kit.data_dir)["train"], stsb)["value"].index
