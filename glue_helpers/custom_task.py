"""Custom tasks: the same recipe on the user's own labelled text (CSV/TSV, JSON lines, parquet).

A custom task is a `GlueTask` with `data_files` set, so everything that takes a GLUE task takes it too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from .errors import GlueHelpersError
from .metrics import METRICS
from .tasks import GlueTask, get_task

CLASSIFICATION_METRICS = ("accuracy", "f1_macro")
REGRESSION_METRICS = ("pearson", "spearmanr")
SPLITS = ("train", "validation", "test")
READERS = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".jsonl": lambda p: pd.read_json(p, lines=True),
    ".json": lambda p: pd.read_json(p, lines=True),
    ".parquet": lambda p: pd.read_parquet(p),
}
SPEC_KEYS = {"name", "train_file", "validation_file", "test_file", "text_columns", "label_column", "label_names",
             "regression", "metrics", "primary_metric", "description"}


def read_table(path: str | Path, split: str) -> pd.DataFrame:
    """Read one split's file by its extension, with a clear error when it is missing or unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GlueHelpersError(f"The {split} file {str(path)!r} does not exist. Check the path (relative paths in a "
                               "task YAML are relative to the YAML file).")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise GlueHelpersError(f"Can't read {path.name!r}: use one of {', '.join(READERS)}.")
    frame = reader(path)
    if frame.empty:
        raise GlueHelpersError(f"The {split} split ({path.name}) is empty: it needs at least one row.")
    return frame


def _check_columns(frame: pd.DataFrame, columns, split: str, path) -> None:
    """Every named column exists in the split, else an error naming the columns that do."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GlueHelpersError(f"Column(s) {missing} not found in the {split} file {Path(path).name!r}; its columns "
                               f"are {list(frame.columns)}. Set text_columns / label_column to those names.")


def _is_integer_series(values: pd.Series) -> bool:
    """True when every value is a whole number (ints, or floats such as 1.0)."""
    return pd.api.types.is_integer_dtype(values) or (
        pd.api.types.is_float_dtype(values) and bool(np.all(np.mod(values, 1) == 0)))


def label_keys(values: pd.Series) -> pd.Series:
    """Labels as strings, whole numbers without a trailing '.0'."""
    return values.astype(int).astype(str) if _is_integer_series(values) else values.astype(str)


def infer_label_names(values: pd.Series, label_names=None) -> tuple[str, ...]:
    """The class names: as given (checked for duplicates), else the training labels' distinct values, sorted."""
    if label_names is not None:
        names = tuple(str(n) for n in label_names)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise GlueHelpersError(f"label_names has duplicates: {dupes}. Give each class one distinct name.")
    elif _is_integer_series(values):
        names = tuple(str(v) for v in sorted(values.astype(int).unique()))
    else:
        names = tuple(sorted(label_keys(values).unique()))
    if values.nunique() < 2:
        raise GlueHelpersError(f"The training split has a single class ({values.iloc[0]!r}): a classifier needs at "
                               "least two. Check label_column, or set regression: true for a score.")
    return names


def encode_labels(values: pd.Series, task: GlueTask, split: str) -> list:
    """Label ids (by name, or integer ids into label_names) or floats for regression; bad labels are errors."""
    if task.is_regression:
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna()]
        if len(bad):
            raise GlueHelpersError(f"The {split} split has non-numeric values for the regression label "
                                   f"{task.label_column!r}, e.g. {bad.iloc[0]!r}. Fix the data or drop regression.")
        return numbers.astype(float).tolist()
    names = list(task.label_names)
    lookup = {n: i for i, n in enumerate(names)}
    keys = label_keys(values)
    if keys.isin(lookup).all():
        return keys.map(lookup).astype(int).tolist()
    if _is_integer_series(values):
        unseen = sorted(set(values.astype(int)) - set(range(len(names))))
    else:
        unseen = sorted(set(keys) - set(lookup))
    if unseen:
        raise GlueHelpersError(f"The {split} split has label(s) {unseen} that the training split never has "
                               f"(known: {names}). Fix the data, or list every class in label_names.")
    return values.astype(int).tolist()


def custom_task(name: str, train_file, *, validation_file=None, test_file=None, text_columns=("text",),
                label_column: str = "label", label_names=None, regression: bool = False, metrics=None,
                primary_metric: str | None = None, description: str = "") -> GlueTask:
    """Describe a task on your own files; label names are inferred from the training split when not given."""
    text_columns = (text_columns,) if isinstance(text_columns, str) else tuple(text_columns)
    if len(text_columns) not in (1, 2):
        raise GlueHelpersError(f"text_columns must name one column or a pair, got {list(text_columns)}.")
    given = zip(SPLITS, (train_file, validation_file, test_file), strict=True)
    files = {split: str(Path(f).expanduser()) for split, f in given if f}
    train = read_table(files["train"], "train")
    _check_columns(train, (*text_columns, label_column), "train", files["train"])
    names = () if regression else infer_label_names(train[label_column], label_names)
    metric_names = tuple(metrics or (REGRESSION_METRICS if regression else CLASSIFICATION_METRICS))
    unknown = [m for m in metric_names if m not in METRICS]
    if unknown:
        raise GlueHelpersError(f"Unknown metric(s) {unknown}; choose from {sorted(METRICS)}.")
    primary = primary_metric or metric_names[0]
    if primary not in metric_names:
        raise GlueHelpersError(f"primary_metric {primary!r} must be one of the task's metrics {list(metric_names)}.")
    task = GlueTask(name=name, hub_config=name, text_columns=text_columns, label_names=names,
                    metric_names=metric_names, primary_metric=primary, label_column=label_column,
                    description=description or f"Custom task {name}.", data_files=files, regression=bool(regression))
    encode_labels(train[label_column], task, "train")
    return task


def resolve_task(task, train_file=None, **custom) -> GlueTask:
    """The notebook's task: a custom one named `task` when `train_file` is given, else a GLUE task or task YAML."""
    if train_file:
        return custom_task(str(task), train_file, **custom)
    return get_task(task)


def load_task_file(path: str | Path) -> GlueTask:
    """A custom task from a small YAML file; relative file paths are taken from the YAML's folder."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GlueHelpersError(f"Task file {str(path)!r} does not exist.")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown or "train_file" not in spec:
        raise GlueHelpersError(f"Task file {path.name}: unknown key(s) {unknown} or no train_file; valid keys are "
                               f"{sorted(SPEC_KEYS)}.")
    for key in ("train_file", "validation_file", "test_file"):
        if spec.get(key) and not Path(spec[key]).expanduser().is_absolute():
            spec[key] = str(path.parent / spec[key])
    return custom_task(spec.pop("name", path.stem), **spec)


def _split_dataset(task: GlueTask, split: str) -> Dataset:
    """One split as a Dataset with the task's text columns, `label` and `idx` (test labels may be absent: -1)."""
    path = task.data_files[split]
    frame = read_table(path, split)
    has_label = task.label_column in frame.columns
    _check_columns(frame, task.text_columns + ((task.label_column,) if split != "test" else ()), split, path)
    out = {c: frame[c].astype(str).tolist() for c in task.text_columns}
    hidden = -1.0 if task.is_regression else -1
    out["label"] = encode_labels(frame[task.label_column], task, split) if has_label else [hidden] * len(frame)
    out["idx"] = list(range(len(frame)))
    label = Value("float32") if task.is_regression else ClassLabel(names=list(task.label_names))
    features = Features({**{c: Value("string") for c in task.text_columns}, "label": label, "idx": Value("int32")})
    return Dataset.from_dict(out, features=features)


def carve_validation(train: Dataset, task: GlueTask, fraction: float = 0.1, seed: int = 42) -> DatasetDict:
    """Split a validation set off train, seeded and (for classes) stratified."""
    stratify = None if task.is_regression else "label"
    try:
        parts = train.train_test_split(test_size=fraction, seed=seed, stratify_by_column=stratify)
    except ValueError:
        parts = train.train_test_split(test_size=fraction, seed=seed)
    return DatasetDict(train=parts["train"], validation=parts["test"])


def load_custom_splits(task: GlueTask, seed: int = 42, validation_fraction: float = 0.1) -> DatasetDict:
    """The custom task's train / validation (carved from train when absent) / test splits."""
    ds = DatasetDict({s: _split_dataset(task, s) for s in SPLITS if s in task.data_files})
    if "validation" not in ds:
        carved = carve_validation(ds["train"], task, validation_fraction, seed)
        print(f"No validation file for {task.name}: using {len(carved['validation'])} rows "
              f"({validation_fraction:.0%}) carved from train (seed {seed}"
              f"{'' if task.is_regression else ', stratified by label'}).")
        ds["train"], ds["validation"] = carved["train"], carved["validation"]
    return ds
