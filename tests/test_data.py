"""Loading GLUE from a local folder in the Hub's layout, subsampling, looking at it, and its errors."""

import shutil

import pytest
from datasets import ClassLabel, load_dataset

from glue_helpers.data import load_glue, random_elements, show_random_elements, summarize_split
from glue_helpers.errors import GlueHelpersError
from glue_helpers.offline_kit import check_hub, hub_needs
from glue_helpers.tasks import get_task


def test_loads_train_validation_test_and_mnli_mm_evaluates_on_the_mismatched_split(kit):
    ds = load_glue(get_task("cola"), kit.data_dir)
    assert (set(ds), ds["train"].column_names) == ({"train", "validation", "test"}, ["sentence", "label", "idx"])
    assert isinstance(ds["train"].features["label"], ClassLabel) and set(ds["test"]["label"]) == {-1}
    raw = load_dataset(str(kit.data_dir), "mnli")
    mm, m = load_glue(get_task("mnli-mm"), kit.data_dir), load_glue(get_task("mnli"), kit.data_dir)
    assert mm["validation"]["premise"] == raw["validation_mismatched"]["premise"]
    assert m["validation"]["premise"] == raw["validation_matched"]["premise"]
    assert mm["train"]["premise"] == m["train"]["premise"] == raw["train"]["premise"]
    assert mm["test"]["premise"] == raw["test_mismatched"]["premise"]


def test_subsampling_is_deterministic_and_sized(kit):
    a, b = (load_glue(get_task("sst2"), kit.data_dir, max_train_samples=20, max_eval_samples=7, seed=3) for _ in "ab")
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


def test_hub_unreachable_or_offline_without_cache_fails_fast_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(GlueHelpersError) as err:
        load_glue(get_task("cola"))
    assert "data_dir" in str(err.value) and "smoke" in str(err.value)
    with pytest.raises(GlueHelpersError) as err:  # what a program checks first: everything it needs, named at once
        check_hub(hub_needs(get_task("cola"), None, "nobody/no-model"))
    assert all(fix in str(err.value) for fix in ("data_dir", "model_checkpoint", "smoke"))
    monkeypatch.delenv("HF_ENDPOINT")  # offline mode, and no cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    with pytest.raises(GlueHelpersError, match="smoke"):
        load_glue(get_task("cola"))


def test_random_elements_show_label_names_and_print_outside_a_notebook(kit, capsys):
    ds = load_glue(get_task("rte"), kit.data_dir)
    frame = random_elements(ds["train"], 6, seed=0)
    assert len(frame) == 6 and frame["idx"].is_unique and set(frame["label"]) <= {"entailment", "not_entailment"}
    assert set(random_elements(ds["test"], 3, seed=0)["label"]) == {"(hidden)"}
    show_random_elements(ds["train"], 3, seed=1)
    assert "entailment" in capsys.readouterr().out
    with pytest.raises(GlueHelpersError, match=f"at most {len(ds['validation'])}"):
        random_elements(ds["validation"], len(ds["validation"]) + 1)


def test_summary_has_label_balance_and_lengths(kit):
    split = load_glue(get_task("mrpc"), kit.data_dir)["train"]
    summary = summarize_split(split, get_task("mrpc"))["value"]
    assert summary["rows"] == len(split) and summary["label equivalent"].startswith(str(sum(split["label"])))
    assert "sentence2 words (median / max)" in summary.index
    stsb = get_task("stsb")
    assert "score mean ± std" in summarize_split(load_glue(stsb, kit.data_dir)["train"], stsb)["value"].index
