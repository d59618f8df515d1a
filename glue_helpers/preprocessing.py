"""Tokenization for single sentences and pairs, and dynamic padding."""

from __future__ import annotations

from collections.abc import Callable

from datasets import DatasetDict
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from .tasks import GlueTask, get_task


def make_tokenize_function(
    task: str | GlueTask, tokenizer: PreTrainedTokenizerBase, max_length: int | None = None
) -> Callable[[dict], dict]:
    """A batched `map` function that tokenizes the task's text column(s), truncating to the model's limit."""
    columns = get_task(task).text_columns

    def tokenize(batch: dict) -> dict:
        return tokenizer(*[batch[c] for c in columns], truncation=True, max_length=max_length)

    return tokenize


def tokenize_dataset(
    dataset: DatasetDict, task: str | GlueTask, tokenizer: PreTrainedTokenizerBase, max_length: int | None = None
) -> DatasetDict:
    """Tokenize every split, dropping the raw text and `idx` so only model inputs and `label` remain."""
    t = get_task(task)
    drop = [c for c in (*t.text_columns, "idx") if c in next(iter(dataset.values())).column_names]
    return dataset.map(make_tokenize_function(t, tokenizer, max_length), batched=True, remove_columns=drop,
                       desc="Tokenizing")


def make_data_collator(tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | None = None):
    """Dynamic padding: each batch is padded to its own longest example, not to a global maximum."""
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)
