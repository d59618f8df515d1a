"""The model side of the recipe, in the lesson's order: the tokenizer, tokenization of single sentences and pairs,
dynamic padding (to multiples of 8 on GPUs), and the sequence-classification model with readable label names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from datasets import DatasetDict
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
)

from .errors import GlueHelpersError
from .offline_kit import OFFLINE_FIX, hub_offline_mode, hub_reachable
from .tasks import GlueTask, get_task

AUTO = "auto"
GPU_PAD_MULTIPLE = 8
# BERT-family models have 512 positions. A tokenizer saved without `model_max_length` reports a huge placeholder,
# and `truncation=True` would then let a long text through to crash the model: cap it here instead.
MAX_LENGTH_CAP = 512
UNSET_MAX_LENGTH = 1_000_000


def _looks_like_path(name: str) -> bool:
    """True for names that can only be a folder, never a Hub id such as 'org/model'."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def resolve_checkpoint(checkpoint: str | Path) -> str:
    """Check that a model is a local folder, or a Hub id that can be fetched now; return it as a string."""
    name = str(checkpoint)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise GlueHelpersError(f"Model folder {name!r} has no config.json; point model_checkpoint at a folder "
                                   "written by `save_pretrained` (or a Hub id).")
        return str(path)
    if _looks_like_path(name) or path.exists():
        raise GlueHelpersError(f"Model path {name!r} does not exist. Check the path, or give a Hub id such as "
                               "'distilbert-base-uncased'.")
    if hub_offline_mode() or not hub_reachable():
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return name
        raise GlueHelpersError(f"Model {name!r} is not a local folder, not in your cache, and the Hub is "
                               f"unreachable or HF_HUB_OFFLINE is set. {OFFLINE_FIX}")
    return name


def load_tokenizer(checkpoint: str | Path):
    """The model's tokenizer (remote code never trusted)."""
    return AutoTokenizer.from_pretrained(resolve_checkpoint(checkpoint), trust_remote_code=False)


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
    task = get_task(task)
    if not isinstance(dataset, DatasetDict) or not dataset:
        raise GlueHelpersError(f"tokenize_dataset needs a non-empty DatasetDict (e.g. from load_glue), got "
                               f"{type(dataset).__name__}.")
    columns = next(iter(dataset.values())).column_names
    missing = [c for c in task.text_columns if c not in columns]
    if missing:
        raise GlueHelpersError(f"Task {task.name!r} reads column(s) {missing}, which the dataset lacks (it has "
                               f"{columns}). Load the data of task {task.name!r}, or pass the task this data "
                               "belongs to.")
    drop = [c for c in (*task.text_columns, "idx") if c in columns]
    return dataset.map(make_tokenize_function(task, tokenizer, max_length), batched=True, remove_columns=drop,
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


def model_kwargs(task: str | GlueTask, label_names: list[str] | None = None) -> dict:
    """`from_pretrained` arguments that size the head and name the labels."""
    task = get_task(task)
    names = list(label_names) if label_names else list(task.label_names)
    if task.is_regression:
        return {"num_labels": 1, "problem_type": "regression", "id2label": {0: "similarity"},
                "label2id": {"similarity": 0}}
    return {"num_labels": len(names), "problem_type": "single_label_classification",
            "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def load_model(checkpoint: str | Path, task: str | GlueTask, label_names: list[str] | None = None):
    """A sequence-classification model with `num_labels` and label names taken from the task (or the dataset)."""
    return AutoModelForSequenceClassification.from_pretrained(
        resolve_checkpoint(checkpoint), trust_remote_code=False, **model_kwargs(task, label_names)
    )


def make_model_init(checkpoint: str | Path, task: str | GlueTask, label_names: list[str] | None = None):
    """A `model_init` function for `Trainer`: each call builds a fresh model (needed for hyperparameter search)."""
    resolved = resolve_checkpoint(checkpoint)

    def model_init(trial=None):
        return load_model(resolved, task, label_names)

    return model_init
