"""Tokenization (single and pair, cached), and dynamic padding (multiples of 8 on GPUs only)."""

import datasets
import pytest
import torch
from datasets import Dataset, DatasetDict
from packaging.version import Version

from glue_helpers import modeling
from glue_helpers.data import load_glue
from glue_helpers.errors import GlueHelpersError
from glue_helpers.modeling import load_tokenizer, make_data_collator, make_tokenize_function, tokenize_dataset
from glue_helpers.tasks import get_task


@pytest.fixture(scope="module")
def tokenizer(kit):
    return load_tokenizer(kit.model_dir)


def test_pairs_are_encoded_as_two_segments_and_long_inputs_truncated(tokenizer):
    out = make_tokenize_function(get_task("mrpc"), tokenizer)({"sentence1": ["the cat"], "sentence2": ["a dog runs"]})
    expected = tokenizer("the cat", "a dog runs")["input_ids"]
    assert out["input_ids"][0] == expected
    assert expected.count(tokenizer.sep_token_id) == 2 and expected != tokenizer("the cat a dog runs")["input_ids"]
    out = make_tokenize_function(get_task("cola"), tokenizer, max_length=6)({"sentence": ["the cat sees " * 30]})
    assert len(out["input_ids"][0]) == 6


def test_tokenize_dataset_keeps_model_inputs_and_label_and_reuses_its_cache(kit):
    raw = load_glue(get_task("mrpc"), kit.data_dir, splits=("train", "validation"))
    tokenizer = load_tokenizer(kit.model_dir)
    first = tokenize_dataset(raw, get_task("mrpc"), tokenizer)
    assert {"label", "input_ids", "attention_mask"} <= set(first["train"].column_names)
    assert not {"sentence1", "sentence2", "idx"} & set(first["train"].column_names)
    assert first["validation"]["label"][:] == raw["validation"]["label"][:]
    # Reruns read the same cache files: a new session's tokenizer, and the one already used. datasets < 4.7 (Colab's
    # 4.0) hashes a tokenizer anew once it has been called (datasets PR 7982), so it re-tokenizes some splits.
    if Version(datasets.__version__) >= Version("4.7"):
        second = tokenize_dataset(raw, get_task("mrpc"), load_tokenizer(kit.model_dir))
        assert second.cache_files == first.cache_files and all(first.cache_files.values())
        assert tokenize_dataset(raw, get_task("mrpc"), tokenizer).cache_files == first.cache_files


def test_in_memory_splits_are_tokenized_too_and_missing_columns_are_named(tokenizer):
    raw = DatasetDict({"train": Dataset.from_dict({"sentence": ["a b", "the cat"], "label": [0, 1], "idx": [0, 1]})})
    out = tokenize_dataset(raw, get_task("cola"), tokenizer)["train"]
    assert out["input_ids"][:] == tokenizer(["a b", "the cat"])["input_ids"]
    assert "sentence" not in out.column_names and "idx" not in out.column_names
    with pytest.raises(GlueHelpersError, match="sentence1"):
        tokenize_dataset(raw, get_task("mrpc"), tokenizer)
    with pytest.raises(GlueHelpersError, match="DatasetDict"):
        tokenize_dataset(raw["train"], get_task("cola"), tokenizer)


@pytest.mark.parametrize("cuda, multiple, length", [(False, None, 7), (True, 8, 8)],
                         ids=["cpu-pads-to-the-longest-example", "gpu-pads-to-multiples-of-8"])
def test_padding_fits_the_device_and_a_bad_multiple_is_named(monkeypatch, tokenizer, cuda, multiple, length):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    collator = make_data_collator(tokenizer)
    examples = [dict(tokenizer(text)) for text in ("the cat", "the big red dog runs")]  # of different lengths
    assert (collator.pad_to_multiple_of, collator(examples)["input_ids"].shape) == (multiple, (2, length))
    assert make_data_collator(tokenizer, pad_to_multiple_of=None).pad_to_multiple_of is None
    with pytest.raises(GlueHelpersError, match="pad_to_multiple_of"):
        make_data_collator(tokenizer, pad_to_multiple_of=0)


def test_a_tokenizer_without_a_max_length_is_capped(kit):
    """A tokenizer saved without model_max_length reports a huge placeholder; a long text must still be cut."""
    unbounded = load_tokenizer(kit.model_dir)
    unbounded.model_max_length = int(1e30)  # what transformers sets when the saved tokenizer has none
    assert modeling.max_length_for(unbounded) == modeling.MAX_LENGTH_CAP
    encoded = make_tokenize_function(get_task("cola"), unbounded)({"sentence": ["the cat " * 5000]})
    assert len(encoded["input_ids"][0]) == modeling.MAX_LENGTH_CAP
    assert modeling.max_length_for(load_tokenizer(kit.model_dir)) == 128  # a real limit is kept
