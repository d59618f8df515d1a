"""Tokenization for single sentences and pairs, and dynamic padding (to multiples of 8 on GPUs)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from datasets import DatasetDict
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from .errors import GlueHelpersError
from .tasks import GlueTask, get_task

AUTO = "auto"
GPU_PAD_MULTIPLE = 8
# BERT-family models have 512 positions. A tokenizer saved without `model_max_length` reports a huge placeholder,
# and `truncation=True` would then let a long text through to crash the model: cap it here instead.
MAX_LENGTH_CAP = 512
UNSET_MAX_LENGTH = 1_000_000


def max_length_for(tokenizer: PreTrainedTokenizerBase) -> int:
    """The longest input to keep: the tokenizer's `model_max_length`, or 512 when it has none."""
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < UNSET_MAX_LENGTH else MAX_LENGTH_CAP


def make_tokenize_function(
    task: str | GlueTask, tokenizer: PreTrainedTokenizerBase, max_length: int | None = None
) -> Callable[[dict], dict]:
    """A batched `map` function that tokenizes the task's text column(s), truncating to the model's limit
    (`max_length_for`); notebook 01 writes the same function out as `preprocess_function`."""
    columns = get_task(task).text_columns
    max_length = max_length or max_length_for(tokenizer)

    def tokenize(batch: dict) -> dict:
        return tokenizer(*[batch[c] for c in columns], truncation=True, max_length=max_length)

    return tokenize


def tokenize_dataset(
    dataset: DatasetDict,
    task: str | GlueTask,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int | None = None,
) -> DatasetDict:
    """Tokenize every split, dropping the raw text and `idx` so only model inputs and `label` remain.

    Splits loaded from files are cached by datasets (keyed by the rows, the tokenizer and this function), so a
    second run, notebook or DDP rank loads the tokens instead of tokenizing again.
    """
    t = get_task(task)
    if not isinstance(dataset, DatasetDict) or not dataset:
        raise GlueHelpersError(f"tokenize_dataset needs a non-empty DatasetDict (e.g. from load_glue), got "
                               f"{type(dataset).__name__}.")
    columns = next(iter(dataset.values())).column_names
    missing = [c for c in t.text_columns if c not in columns]
    if missing:
        raise GlueHelpersError(f"Task {t.name!r} reads column(s) {missing}, which the dataset lacks (it has "
                               f"{columns}). Load the data of task {t.name!r}, or pass the task this data belongs to.")
    drop = [c for c in (*t.text_columns, "idx") if c in columns]
    return dataset.map(make_tokenize_function(t, tokenizer, max_length), batched=True, remove_columns=drop,
                       desc="Tokenizing")


def default_pad_multiple() -> int | None:
    """8 on GPUs (tensor cores work on multiples of 8), None on CPU where padding only costs time."""
    return GPU_PAD_MULTIPLE if torch.cuda.is_available() else None


def make_data_collator(tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | str | None = AUTO):
    """Dynamic padding: each batch is padded to its own longest example, not to a global maximum.

    `pad_to_multiple_of="auto"` (the default) rounds up to a multiple of 8 on GPUs only; pass an int or None to choose.
    """
    if pad_to_multiple_of == AUTO:
        pad_to_multiple_of = default_pad_multiple()
    elif pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
        raise GlueHelpersError(
            f"pad_to_multiple_of must be a positive int, None or 'auto', got {pad_to_multiple_of!r}."
        )
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)
