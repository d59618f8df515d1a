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


def write_test_predictions(trainer, encoded, task: str | GlueTask, raw, path) -> Path | None:
    """Predict the test split and write idx, texts and the prediction (label name or score) as CSV."""
    from .atomic import atomic_path
    from .metrics import logits_to_predictions

    if "test" not in encoded:
        print("No test split: nothing to predict.")
        return None
    t = get_task(task)
    test = encoded["test"].remove_columns([c for c in ("label", "labels") if c in encoded["test"].column_names])
    preds = logits_to_predictions(t, trainer.predict(test).predictions)
    frame = raw["test"].select_columns(["idx", *t.text_columns]).to_pandas()
    frame["prediction"] = preds if t.is_regression else [t.label_names[int(i)] for i in preds]
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    print(f"Wrote {len(frame)} test predictions to {path}")
    return path
