"""GLUE leaderboard files: predict a task's test split and write `<Task>.tsv` the way gluebenchmark.com wants it.

Format (as in the GLUE baselines and jiant's submission formatter): a header `index<TAB>prediction`, one row per
test example, `index` = the example's `idx`. MNLI-m, MNLI-mm, AX, QNLI and RTE take label words
(entailment / neutral / contradiction / not_entailment); CoLA, SST-2, MRPC, QQP and WNLI take the class id 0/1
(the same ids as the nyu-mll/glue data); STS-B takes the score, clipped to [0, 5], with 3 decimals.
AX (the diagnostic set, config `ax`) is predicted with the MNLI model, so it is written when the task is `mnli`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_text
from .errors import GlueHelpersError
from .tasks import GLUE_TASKS, GlueTask, get_task

SUBMISSION_DIR = "leaderboard"
LEADERBOARD_FILES: dict[str, str] = {
    "cola": "CoLA.tsv", "sst2": "SST-2.tsv", "mrpc": "MRPC.tsv", "stsb": "STS-B.tsv", "qqp": "QQP.tsv",
    "mnli": "MNLI-m.tsv", "mnli-mm": "MNLI-mm.tsv", "qnli": "QNLI.tsv", "rte": "RTE.tsv", "wnli": "WNLI.tsv",
    "ax": "AX.tsv",
}
WORD_LABELS = frozenset({"mnli", "mnli-mm", "ax", "qnli", "rte"})
AX_TASK = GlueTask("ax", "ax", GLUE_TASKS["mnli"].text_columns, GLUE_TASKS["mnli"].label_names, ("accuracy",),
                   "accuracy", validation_split="test", train_split="test",
                   description="GLUE diagnostic set, predicted with an MNLI model.")


def format_predictions(task: str | GlueTask, predictions) -> list[str]:
    """Predictions (class ids, or scores for STS-B) as the strings the leaderboard expects for `task`."""
    t = AX_TASK if str(getattr(task, "name", task)) == "ax" else get_task(task)
    values = np.asarray(predictions)
    if t.is_regression:
        return [f"{x:.3f}" for x in np.clip(values.astype(float), 0.0, 5.0)]
    ids = values.astype(int)
    if ids.size and (ids.min() < 0 or ids.max() >= t.num_labels):
        raise GlueHelpersError(f"{t.name} predictions must be class ids in [0, {t.num_labels - 1}], "
                               f"got values from {ids.min()} to {ids.max()}.")
    if t.name in WORD_LABELS:
        return [t.label_names[i] for i in ids]
    return [str(i) for i in ids]


def write_predictions_file(path: str | Path, indices, predictions: list[str]) -> Path:
    """Write `index<TAB>prediction` rows under a header; return the path."""
    indices = [int(i) for i in indices]
    if len(indices) != len(predictions):
        raise GlueHelpersError(f"{len(indices)} indices but {len(predictions)} predictions for {path}.")
    lines = ["index\tprediction", *(f"{i}\t{p}" for i, p in zip(indices, predictions, strict=True))]
    return write_text(path, "\n".join(lines) + "\n")  # atomic: a killed run never leaves half a file


def _model_inputs(dataset, task: GlueTask, tokenizer):
    """Tokenize a raw test split, keeping only model inputs (the hidden -1 labels would break the loss)."""
    columns = task.text_columns

    def tokenize(batch):
        return tokenizer(*[batch[c] for c in columns], truncation=True)

    return dataset.map(tokenize, batched=True, remove_columns=dataset.column_names, desc=f"Tokenizing {task.name} test")


def predict_split(trainer, tokenizer, task: GlueTask, dataset) -> np.ndarray:
    """Class ids (or scores) the trainer's model predicts for a raw split."""
    from .metrics import logits_to_predictions

    output = trainer.predict(_model_inputs(dataset, task, tokenizer))
    return logits_to_predictions(task if task.name != "ax" else GLUE_TASKS["mnli"], output.predictions)


def _raw_test(task: GlueTask, data_dir):
    """The task's raw test split (with `idx`), from a local folder or the Hub."""
    from .data import load_glue

    return load_glue(task, data_dir, splits=("test",))["test"]


def write_task_file(trainer, tokenizer, task: GlueTask, dataset, out_dir: Path) -> Path:
    """Predict one raw split and write that task's leaderboard file under `out_dir`."""
    preds = predict_split(trainer, tokenizer, task, dataset)
    path = out_dir / LEADERBOARD_FILES[task.name]
    return write_predictions_file(path, dataset["idx"], format_predictions(task, preds))


def write_leaderboard_files(trainer, tokenizer, task: str | GlueTask, data_dir=None, output_dir=".",
                            test_dataset=None) -> list[Path]:
    """Predict the test split (and AX when the task is mnli) and write the leaderboard file(s) under
    `<output_dir>/leaderboard/`. `test_dataset` is the raw test split (loaded from `data_dir` when None)."""
    t = get_task(task)
    out_dir = Path(output_dir) / SUBMISSION_DIR
    test = test_dataset if test_dataset is not None else _raw_test(t, data_dir)
    if "idx" not in test.column_names:
        raise GlueHelpersError(f"The {t.name} test split has no 'idx' column; pass the raw test split "
                               "(before tokenization), e.g. `dataset['test']` from `load_glue`.")
    written = [write_task_file(trainer, tokenizer, t, test, out_dir)]
    if t.name == "mnli":
        written.append(write_task_file(trainer, tokenizer, AX_TASK, _raw_test(AX_TASK, data_dir), out_dir))
    for path in written:
        print(f"Leaderboard file: {path} ({len(read_predictions(path))} rows)")
    return written


def read_predictions(path: str | Path) -> list[tuple[int, str]]:
    """The (index, prediction) rows of a leaderboard file, checking its header."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0] != "index\tprediction":
        raise GlueHelpersError(f"{path} does not start with the header 'index<TAB>prediction'.")
    rows = [line.split("\t") for line in lines[1:]]
    return [(int(i), p) for i, p in rows]


def collect_submission(run_dir: str | Path, task_dirs: list[Path] | None = None,
                       zip_path: str | Path | None = None) -> tuple[Path, list[str]]:
    """Zip the leaderboard files of `task_dirs` (default: every `<run_dir>/*/`) into one flat
    `<run_dir>/glue_submission.zip`; return it and the names of the leaderboard files still missing."""
    run_dir = Path(run_dir)
    zip_path = Path(zip_path) if zip_path else run_dir / "glue_submission.zip"
    folders = [Path(d) for d in task_dirs] if task_dirs is not None else sorted(p for p in run_dir.iterdir())
    found = {p.name: p for d in folders for p in sorted((d / SUBMISSION_DIR).glob("*.tsv"))}
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in LEADERBOARD_FILES.values():
            if name in found:
                zf.write(found[name], arcname=name)
    missing = [n for n in LEADERBOARD_FILES.values() if n not in found]
    return zip_path, missing
