"""Using a fine-tuned model: a `pipeline` that returns label names, and an example input for it."""

from __future__ import annotations

from pathlib import Path

from .tasks import GlueTask, get_task


def make_classifier(model_dir: str | Path, task: str | GlueTask, device=None):
    """A text-classification pipeline on a saved model (raw score for STS-B)."""
    from transformers import pipeline

    extra = {"function_to_apply": "none"} if get_task(task).is_regression else {}
    return pipeline("text-classification", model=str(model_dir), device=device, **extra)


def example_input(task: str | GlueTask, example=None, fallback_row: dict | None = None):
    """The user's example (a string, or a pair for pair tasks), or the texts of `fallback_row`."""
    t = get_task(task)
    if example is None:
        example = [fallback_row[c] for c in t.text_columns]
    if isinstance(example, str):
        example = [example]
    example = list(example)
    if len(example) != len(t.text_columns):
        from .errors import GlueHelpersError

        raise GlueHelpersError(f"Task {t.name!r} takes {len(t.text_columns)} text(s) ({', '.join(t.text_columns)}), "
                               f"but example_sentence has {len(example)}. Give a list of {len(t.text_columns)}.")
    return example[0] if len(example) == 1 else {"text": example[0], "text_pair": example[1]}
