"""Using a fine-tuned model: a label-naming `pipeline`, test-set predictions, and GLUE leaderboard files.

Leaderboard file: `<Task>.tsv`, header `index<TAB>prediction`, a row per test example (`index` = its `idx`); label
words or class ids per the task registry, STS-B scores clipped to [0, 5]; AX is predicted with the MNLI model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import load_glue
from .errors import GlueHelpersError
from .metrics import logits_to_predictions
from .modeling import make_tokenize_function
from .rundir import LEADERBOARD, atomic_path, write_text
from .tasks import GlueTask

HEADER = "index\tprediction"


def example_input(task: GlueTask, example=None, fallback_row: dict | None = None):
    """The user's example (a string, or a pair for pair tasks), or the texts of `fallback_row`."""
    if example is None:
        example = [fallback_row[c] for c in task.text_columns]
    if isinstance(example, str):
        example = [example]
    example = list(example)
    if len(example) != len(task.text_columns):
        raise GlueHelpersError(f"Task {task.name!r} takes {len(task.text_columns)} text(s) "
                               f"({', '.join(task.text_columns)}), but example_sentence has {len(example)}. Give a "
                               f"list of {len(task.text_columns)}.")
    return example[0] if len(example) == 1 else {"text": example[0], "text_pair": example[1]}


def write_test_predictions(trainer, encoded, task: GlueTask, raw, path, write: bool = True) -> Path | None:
    """Predict the test split and write idx, texts and the prediction (label name or score) as CSV (`write=False`:
    predict only, as a DDP process other than the main one must)."""
    if "test" not in encoded:
        print("No test split: nothing to predict.")
        return None
    test = encoded["test"].remove_columns([c for c in ("label", "labels") if c in encoded["test"].column_names])
    preds = logits_to_predictions(task, trainer.predict(test).predictions)
    if not write:
        return None
    frame = raw["test"].select_columns(["idx", *task.text_columns]).to_pandas()
    frame["prediction"] = preds if task.is_regression else [task.label_names[int(i)] for i in preds]
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    print(f"Wrote {len(frame)} test predictions to {path}")
    return path


def format_predictions(task: GlueTask, predictions) -> list[str]:
    """Predictions (class ids, or scores for STS-B) as the strings the leaderboard expects for `task`."""
    values = np.asarray(predictions)
    if task.is_regression:
        return [f"{x:.3f}" for x in np.clip(values.astype(float), 0.0, 5.0)]
    ids = values.astype(int)
    if ids.size and (ids.min() < 0 or ids.max() >= task.num_labels):
        raise GlueHelpersError(f"{task.name} predictions must be class ids in [0, {task.num_labels - 1}], "
                               f"got values from {ids.min()} to {ids.max()}.")
    if task.leaderboard_words:
        return [task.label_names[i] for i in ids]
    return [str(i) for i in ids]


def write_predictions_file(path: str | Path, indices, predictions: list[str]) -> Path:
    """Write `index<TAB>prediction` rows under a header; return the path."""
    indices = [int(i) for i in indices]
    if len(indices) != len(predictions):
        raise GlueHelpersError(f"{len(indices)} indices but {len(predictions)} predictions for {path}.")
    lines = [HEADER, *(f"{i}\t{p}" for i, p in zip(indices, predictions, strict=True))]
    return write_text(path, "\n".join(lines) + "\n")  # atomic: a killed run never leaves half a file


def read_predictions(path: str | Path) -> list[tuple[int, str]]:
    """The (index, prediction) rows of a leaderboard file, checking its header."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0] != HEADER:
        raise GlueHelpersError(f"{path} does not start with the header 'index<TAB>prediction'.")
    rows = [line.split("\t") for line in lines[1:]]
    return [(int(i), p) for i, p in rows]


def write_task_file(trainer, tokenizer, task: GlueTask, dataset, out_dir: Path) -> Path:
    """Predict one raw split and write that task's leaderboard file under `out_dir`."""
    # model inputs only: the test split's hidden -1 labels would break the loss
    inputs = dataset.map(make_tokenize_function(task, tokenizer), batched=True, remove_columns=dataset.column_names,
                         desc=f"Tokenizing {task.name} test")
    preds = logits_to_predictions(task, trainer.predict(inputs).predictions)
    return write_predictions_file(out_dir / task.leaderboard_file, dataset["idx"], format_predictions(task, preds))


def write_leaderboard_files(trainer, tokenizer, task: GlueTask, data_dir=None, output_dir=".",
                            test_dataset=None) -> list[Path]:
    """Predict the test split (and AX for mnli) and write the leaderboard file(s) under `<output_dir>/leaderboard/`."""
    if not task.leaderboard_file:
        raise GlueHelpersError(f"Task {task.name!r} has no GLUE leaderboard file; for your own data use "
                               "write_test_predictions, which writes test_predictions.csv.")
    out_dir = Path(output_dir) / LEADERBOARD
    test = test_dataset if test_dataset is not None else load_glue(task, data_dir, splits=("test",))["test"]
    if "idx" not in test.column_names:
        raise GlueHelpersError(f"The {task.name} test split has no 'idx' column; pass the raw test split "
                               "(before tokenization), e.g. `dataset['test']` from `load_glue`.")
    written = [write_task_file(trainer, tokenizer, task, test, out_dir)]
    if task.diagnostic is not None:
        diagnostic = load_glue(task.diagnostic, data_dir, splits=("test",))["test"]
        written.append(write_task_file(trainer, tokenizer, task.diagnostic, diagnostic, out_dir))
    for path in written:
        print(f"Leaderboard file: {path} ({len(read_predictions(path))} rows)")
    return written
