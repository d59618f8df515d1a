"""Custom tasks: the same recipe on the user's own labelled text (CSV/TSV, JSON lines, parquet), as GlueTasks.

Nothing is guessed silently: empty cells and mixed or mismatched label kinds are errors naming file, column and rows.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from .errors import GlueHelpersError
from .metrics import METRICS
from .recipe import SEED, VALIDATION_FRACTION
from .stats import MIN_ROWS
from .tasks import GlueTask, get_task

CLASSIFICATION_METRICS = ("accuracy", "f1_macro")
REGRESSION_METRICS = ("pearson", "spearmanr")
SPLITS = ("train", "validation", "test")
# Only an empty cell is missing: a text such as "NA" or "null" is kept as written (pandas would read it as NaN).
_CSV = {"keep_default_na": False, "na_values": [""]}


def read_json_lines(path: Path) -> pd.DataFrame:
    """A JSON-lines file as a frame; a line that is not a JSON object is an error naming the file and line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise GlueHelpersError(f"{path}, line {number}: not valid JSON ({err.msg}, column {err.colno}). Each "
                                   'line must be one JSON object, e.g. {"text": "...", "label": "pos"}.') from None
        if not isinstance(row, dict):
            raise GlueHelpersError(f"{path}, line {number}: expected a JSON object with the task's columns, got "
                                   f"{type(row).__name__}.")
        rows.append(row)
    return pd.DataFrame(rows)


READERS = {
    ".csv": lambda p: pd.read_csv(p, **_CSV),
    ".tsv": lambda p: pd.read_csv(p, sep="\t", **_CSV),
    ".jsonl": read_json_lines,
    ".json": read_json_lines,
    ".parquet": lambda p: pd.read_parquet(p),
}
SPEC_KEYS = {"name", "train_file", "validation_file", "test_file", "text_columns", "label_column", "label_names",
             "regression", "metrics", "primary_metric", "description", "drop_empty"}
FILE_KEYS = ("train_file", "validation_file", "test_file")
_INT_TEXT = re.compile(r"[-+]?\d+")
SHOWN_ROWS = 5


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _names(value) -> bool:
    """A non-empty list of words or whole numbers."""
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(v, (str, int)) and not isinstance(v, bool) for v in value)


# What each field of a custom task (YAML key or keyword) must be, and how to say so.
SPEC_TYPES = {
    "name": (lambda v: isinstance(v, str) and _NAME.fullmatch(v) and ".." not in v,
             "a plain name of letters, digits, '-', '_' and '.' (it names the run folder runs/<name>)"),
    "text_columns": (lambda v: (isinstance(v, str) and v) or (isinstance(v, (list, tuple)) and len(v) in (1, 2) and all(
        isinstance(c, str) and c for c in v)), "a column name, or a list of two for sentence pairs"),
    "label_column": (lambda v: isinstance(v, str) and v, "a column name"),
    "label_names": (lambda v: v is None or _names(v), "a list such as [negative, positive] (not one string)"),
    "regression": (lambda v: isinstance(v, bool), "true or false, unquoted"),
    "drop_empty": (lambda v: isinstance(v, bool), "true or false, unquoted"),
    "metrics": (lambda v: v is None or (isinstance(v, (list, tuple)) and v and all(isinstance(m, str) for m in v)),
                "a list of metric names"),
    "primary_metric": (lambda v: v is None or isinstance(v, str), "a metric name"),
    "description": (lambda v: isinstance(v, str), "text"),
}


def check_spec(values: dict, where: str) -> None:
    """Each custom-task field of the right type, else an error naming where, the field, the value and the type."""
    for key, value in values.items():
        valid, expected = SPEC_TYPES.get(key, (None, ""))
        if valid is not None and not valid(value):
            raise GlueHelpersError(f"{where}: {key} must be {expected}; got {value!r}.")


@dataclass(frozen=True)
class CustomTask(GlueTask):
    """A GlueTask on the user's files; `drop_empty` skips rows with an empty text or label instead of failing."""

    drop_empty: bool = False


def read_table(path: str | Path, split: str) -> pd.DataFrame:
    """Read one split's file by its extension, with a clear error when it is missing or unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GlueHelpersError(f"The {split} file {str(path)!r} does not exist. Check the path (relative paths in a "
                               "task YAML are relative to the YAML file).")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise GlueHelpersError(f"Can't read {path.name!r}: use one of {', '.join(READERS)}.")
    try:
        frame = reader(path).reset_index(drop=True)  # row i is the file's i-th data row, for error messages
    except UnicodeDecodeError as err:
        raise GlueHelpersError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}; UTF-16 or another "
                               "encoding?). Save it as UTF-8 (a spreadsheet's 'CSV UTF-8').") from None
    except pd.errors.ParserError as err:
        raise GlueHelpersError(f"{path} can't be parsed: {err}. Check that line's quotes and separators.") from None
    if frame.empty:
        raise GlueHelpersError(f"The {split} split ({path.name}) is empty: it needs at least one row.")
    return frame


def file_rows(path, index) -> str:
    """Rows as the user finds them in the file (CSV/TSV: lines, the header is 1), at most SHOWN_ROWS, then a count."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):  # a quoted text may span lines: count the file's own lines
        starts = record_lines(str(path), "\t" if suffix == ".tsv" else ",")
        numbers, word = [starts[int(i)] for i in index], "line"
    else:
        offset, word = {".parquet": (1, "row")}.get(suffix, (1, "line"))
        numbers = [int(i) + offset for i in index]
    shown = ", ".join(str(n) for n in numbers[:SHOWN_ROWS])
    more = f" and {len(numbers) - SHOWN_ROWS} more" if len(numbers) > SHOWN_ROWS else ""
    return f"{word}{'s' if len(numbers) > 1 else ''} {shown}{more}"


def record_lines(path: str, delimiter: str) -> list[int]:
    """The file line on which each data row of a CSV/TSV file starts (the header is line 1)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        starts, last = [], reader.line_num
        for _ in reader:
            starts.append(last + 1)
            last = reader.line_num
    return starts


def _is_missing(values: pd.Series) -> pd.Series:
    """True where a cell is empty: NaN/None, or only whitespace."""
    text = values.astype(object).map(lambda v: isinstance(v, str) and not v.strip())
    return values.isna() | text.astype(bool)


def _check_columns(frame: pd.DataFrame, columns, split: str, path) -> None:
    """Every named column exists in the split, else an error naming the columns that do."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GlueHelpersError(f"Column(s) {missing} not found in the {split} file {Path(path).name!r}; its columns "
                               f"are {list(frame.columns)}. Set text_columns / label_column to those names.")


def clean_rows(frame: pd.DataFrame, columns, path, drop_empty: bool = False) -> pd.DataFrame:
    """The rows whose `columns` all have a value; an empty one is an error naming the rows, unless `drop_empty`."""
    for column in columns:
        nested = frame[column].map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).astype(bool)
        if nested.any():
            where = file_rows(path, frame.index[nested])
            raise GlueHelpersError(f"{path}: column {column!r} holds lists or objects ({where}); a text or label "
                                   "cell must be one value. Flatten that column first.")
    empty = {c: _is_missing(frame[c]) for c in columns}
    bad = {c: m for c, m in empty.items() if m.any()}
    if not bad:
        return frame
    if not drop_empty:
        column, mask = next(iter(bad.items()))
        raise GlueHelpersError(
            f"{path}: column {column!r} is empty in {int(mask.sum())} row(s) ({file_rows(path, frame.index[mask])}). "
            "Fill those cells in or remove the rows, or set drop_empty: true in the task YAML (drop_empty=True) to "
            "skip rows with an empty text or label.")
    drop = np.logical_or.reduce([m.to_numpy() for m in bad.values()])
    kept = frame[~drop]
    print(f"drop_empty: skipped {int(drop.sum())} row(s) of {path} with an empty {' or '.join(map(repr, bad))} "
          f"({file_rows(path, frame.index[drop])}).")
    if kept.empty:
        raise GlueHelpersError(f"{path}: every row has an empty {' or '.join(map(repr, bad))}; nothing is left.")
    return kept


def _is_integer_series(values: pd.Series) -> bool:
    """True when every value is a whole number (ints, or floats such as 1.0)."""
    return pd.api.types.is_integer_dtype(values) or (
        pd.api.types.is_float_dtype(values) and bool(np.all(np.mod(values, 1) == 0)))


def _is_int_like(value) -> bool:
    """True for an integer, a whole float, or a string of digits (what a CSV column of ids holds)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    if isinstance(value, (float, np.floating)):
        return float(value).is_integer()
    return isinstance(value, str) and bool(_INT_TEXT.fullmatch(value.strip()))


def label_kind(values: pd.Series, path, column: str) -> str:
    """'int' when every label is an integer id, 'word' when none is; a column mixing both is an error."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        if not _is_integer_series(values):
            k = int((values.astype(float) % 1 != 0).to_numpy().argmax())
            raise GlueHelpersError(
                f"{path}: column {column!r} holds numbers with decimals ({values.iloc[k]:g} on "
                f"{file_rows(path, [values.index[k]])}). For a score, set regression: true (YAML) or regression=True; "
                "for classes, use whole numbers or words.")
        return "int"
    ints = values.map(_is_int_like).astype(bool)
    if ints.all():
        return "int"
    if ints.any():
        i, w = ints.to_numpy().argmax(), (~ints).to_numpy().argmax()
        where = {k: f"{values.iloc[k]!r} on {file_rows(path, [values.index[k]])}" for k in (i, w)}
        raise GlueHelpersError(
            f"{path}: column {column!r} mixes integer labels ({where[i]}) with words ({where[w]}). Use one kind in "
            "every file: the class names, or integer ids with label_names naming them.")
    return "word"


def label_keys(values: pd.Series) -> pd.Series:
    """Labels as strings: whole numbers without a trailing '.0', words without surrounding spaces."""
    if _is_integer_series(values) or (not pd.api.types.is_numeric_dtype(values)
                                      and values.map(_is_int_like).astype(bool).all()):
        return values.map(lambda v: str(int(str(v).strip()) if isinstance(v, str) else int(v)))
    return values.astype(str).str.strip()


def infer_label_names(values: pd.Series, label_names=None) -> tuple[str, ...]:
    """The class names: as given (checked for duplicates), else the training labels' distinct values, sorted."""
    if label_names is not None:
        names = tuple(str(n).strip() for n in label_names)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise GlueHelpersError(f"label_names has duplicates: {dupes}. Give each class one distinct name.")
    else:
        keys = label_keys(values).unique()
        names = tuple(sorted(keys, key=int) if all(_INT_TEXT.fullmatch(k) for k in keys) else sorted(keys))
    if label_keys(values).nunique() < 2:
        raise GlueHelpersError(f"The training split has a single class ({values.iloc[0]!r}): a classifier needs at "
                               "least two. Check label_column, or set regression: true for a score.")
    return names


def _by_index(task: GlueTask, kind: str) -> bool:
    """True when integer labels are ids into label_names: only when the names are words, not numbers (star ratings)."""
    return kind == "int" and not all(_INT_TEXT.fullmatch(n) for n in task.label_names)


def _check_kind(kind: str, train_kind: str | None, values: pd.Series, task: GlueTask, split: str, path) -> None:
    """A split's labels are of the training labels' kind: integer ids are never read as names or vice versa."""
    if train_kind is None or kind == train_kind:
        return
    have = "integers" if kind == "int" else "words"
    want = "integer ids" if train_kind == "int" else f"words ({', '.join(task.label_names)})"
    raise GlueHelpersError(
        f"{path}: the {split} labels in column {task.label_column!r} are {have} (e.g. {values.iloc[0]!r} on "
        f"{file_rows(path, [values.index[0]])}) but the training labels are {want}. Write the labels the way the "
        "training file does: one kind of label per column in every file.")


def encode_labels(values: pd.Series, task: GlueTask, split: str, path=None, train_kind: str | None = None) -> list:
    """Label ids (by name, or integer ids into label_names) or floats for regression; bad labels are errors."""
    path = path or task.data_files.get(split, split)
    if task.is_regression:
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna()]
        if len(bad):
            raise GlueHelpersError(f"{path}: the {split} split has non-numeric values for the regression label "
                                   f"{task.label_column!r}, e.g. {bad.iloc[0]!r} on {file_rows(path, bad.index)}. "
                                   "Fix the data or drop regression.")
        return numbers.astype(float).tolist()
    kind = label_kind(values, path, task.label_column)
    _check_kind(kind, train_kind, values, task, split, path)
    names = list(task.label_names)
    keys = label_keys(values)
    if _by_index(task, kind):
        ids = keys.astype(int)
        unseen = sorted(set(ids) - set(range(len(names))))
        known = f"ids 0..{len(names) - 1} of label_names {names}"
    else:
        lookup = {n: i for i, n in enumerate(names)}
        ids = keys.map(lookup)
        unseen = sorted(set(keys[ids.isna()]))
        known = f"known: {names}"
    if unseen:
        rows = keys.index[keys.isin([str(u) for u in unseen]).to_numpy()]
        raise GlueHelpersError(f"{path}: the {split} split has label(s) {unseen} in column {task.label_column!r} "
                               f"({file_rows(path, rows)}) that the training split never has ({known}). Fix the "
                               "data, or list every class in label_names.")
    return ids.astype(int).tolist()


def custom_task(name: str, train_file, *, validation_file=None, test_file=None, text_columns=("text",),
                label_column: str = "label", label_names=None, regression: bool = False, metrics=None,
                primary_metric: str | None = None, description: str = "", drop_empty: bool = False) -> GlueTask:
    """Describe a task on your own files; label names are inferred from the training split when not given."""
    check_spec(dict(name=name, text_columns=text_columns, label_column=label_column, label_names=label_names,
                    regression=regression, metrics=metrics, primary_metric=primary_metric, description=description,
                    drop_empty=drop_empty), f"custom task {name!r}")
    text_columns = (text_columns,) if isinstance(text_columns, str) else tuple(text_columns)
    if len(text_columns) not in (1, 2):
        raise GlueHelpersError(f"text_columns must name one column or a pair, got {list(text_columns)}.")
    given = zip(SPLITS, (train_file, validation_file, test_file), strict=True)
    files = {split: str(Path(f).expanduser()) for split, f in given if f}
    train = read_table(files["train"], "train")
    _check_columns(train, (*text_columns, label_column), "train", files["train"])
    train = clean_rows(train, (*text_columns, label_column), files["train"], bool(drop_empty))
    labels = train[label_column]
    if not regression:
        label_kind(labels, files["train"], label_column)
    names = () if regression else infer_label_names(labels, label_names)
    metric_names = tuple(metrics or (REGRESSION_METRICS if regression else CLASSIFICATION_METRICS))
    unknown = [m for m in metric_names if m not in METRICS]
    if unknown:
        raise GlueHelpersError(f"Unknown metric(s) {unknown}; choose from {sorted(METRICS)}.")
    primary = primary_metric or metric_names[0]
    if primary not in metric_names:
        raise GlueHelpersError(f"primary_metric {primary!r} must be one of the task's metrics {list(metric_names)}.")
    task = CustomTask(name=name, hub_config=name, text_columns=text_columns, label_names=names,
                      metric_names=metric_names, primary_metric=primary, label_column=label_column,
                      description=description or f"Custom task {name}.", data_files=files,
                      regression=bool(regression), drop_empty=bool(drop_empty))
    encode_labels(labels, task, "train", files["train"])
    check_validation_size(task, len(train))
    return task


def check_validation_size(task: GlueTask, train_rows: int) -> None:
    """Refuse, before any training, a validation split too small to be scored (the statistics need MIN_ROWS)."""
    if "validation" in task.data_files:
        rows = len(read_table(task.data_files["validation"], "validation"))
        where = f"The validation file {Path(task.data_files['validation']).name!r} has {rows} row(s)"
    else:
        rows = validation_rows(train_rows) if train_rows > MIN_ROWS else 0
        where = (f"{task.name} has no validation_file, and its {train_rows} training row(s) leave none to train on "
                 f"once {MIN_ROWS} are set aside to validate")
    if rows < MIN_ROWS:
        raise GlueHelpersError(f"{where}; scoring a run needs at least {MIN_ROWS}. Add rows, or give a "
                               "validation_file with more.")


def is_task_file(name) -> bool:
    """True for the path of a custom task's YAML file rather than a task name."""
    return isinstance(name, (str, os.PathLike)) and str(name).endswith((".yaml", ".yml"))


def resolve_task(task, train_file=None, drop_empty: bool = False, **custom) -> GlueTask:
    """The task as a GlueTask: custom when `train_file` is given, from a task YAML, a GLUE name or alias, or as is."""
    if train_file:
        return custom_task(str(task), train_file, drop_empty=drop_empty, **custom)
    if is_task_file(task):
        return load_task_file(task, drop_empty=True if drop_empty else None)
    return get_task(task)


def read_task_yaml(path: Path) -> dict:
    """A task YAML as a mapping, read with `yaml.safe_load`; any error names the file."""
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        hint = " Python tags such as !!python/object are not allowed." if "python/" in str(err) else ""
        raise GlueHelpersError(f"Task file {path}: not valid YAML ({' '.join(str(err).split())}).{hint} A task file "
                               "holds plain keys and values, e.g. 'train_file: train.csv'.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GlueHelpersError(f"Task file {path}: can't be read ({err}).") from None
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise GlueHelpersError(f"Task file {path}: must be a mapping of keys to values (e.g. 'train_file: "
                               f"train.csv'), not a {type(spec).__name__}.")
    return spec


def task_file_path(value, key: str, yaml_path: Path) -> str:
    """A data file named in a task YAML: relative paths stay inside the YAML's folder; absolute ones are explicit."""
    given = Path(str(value)).expanduser()
    if given.is_absolute():
        return str(given)
    folder = Path(os.path.abspath(yaml_path.parent))
    inside = Path(os.path.normpath(folder / given))
    if inside != folder and folder not in inside.parents:
        raise GlueHelpersError(f"Task file {yaml_path}: {key} {str(value)!r} points outside the task file's folder "
                               f"{folder}. Move the data next to the YAML, or give an absolute path if you mean it.")
    return str(inside)


def load_task_file(path: str | Path, drop_empty: bool | None = None) -> GlueTask:
    """A custom task from a small YAML file; relative data paths are taken from (and kept inside) the YAML's folder."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GlueHelpersError(f"Task file {str(path)!r} does not exist.")
    spec = read_task_yaml(path)
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown or "train_file" not in spec:
        raise GlueHelpersError(f"Task file {path}: unknown key(s) {unknown} or no train_file; valid keys are "
                               f"{sorted(SPEC_KEYS)}.")
    check_spec(spec, f"Task file {path}")
    for key in FILE_KEYS:
        if spec.get(key):
            spec[key] = task_file_path(spec[key], key, path)
    if drop_empty is not None:
        spec["drop_empty"] = drop_empty
    return custom_task(spec.pop("name", path.stem), **spec)


def _split_frame(task: GlueTask, split: str) -> tuple[pd.DataFrame, bool]:
    """One split's rows with every text (and, outside test, label) present, and whether it has labels."""
    path = task.data_files[split]
    frame = read_table(path, split)
    has_label = task.label_column in frame.columns
    _check_columns(frame, task.text_columns + ((task.label_column,) if split != "test" else ()), split, path)
    needed = task.text_columns + ((task.label_column,) if split != "test" else ())
    return clean_rows(frame, needed, path, getattr(task, "drop_empty", False)), has_label


def _encode_split(task: GlueTask, split: str, frame: pd.DataFrame, has_label: bool, train_kind: str | None) -> list:
    """A split's label ids; a test split's missing labels (none, or empty cells) stay hidden as -1."""
    hidden = -1.0 if task.is_regression else -1
    if not has_label:
        return [hidden] * len(frame)
    values = frame[task.label_column]
    present = ~_is_missing(values)
    out = [hidden] * len(frame)
    if present.any():
        encoded = encode_labels(values[present], task, split, task.data_files[split], train_kind)
        for i, label in zip(np.flatnonzero(present.to_numpy()), encoded, strict=True):
            out[i] = label
    return out


def _to_dataset(task: GlueTask, frame: pd.DataFrame, labels: list) -> Dataset:
    """A split as a Dataset with the task's text columns, `label` and `idx` (the row's 0-based place in its file)."""
    out = {c: frame[c].astype(str).tolist() for c in task.text_columns}
    out["label"] = labels
    out["idx"] = [int(i) for i in frame.index]
    label = Value("float32") if task.is_regression else ClassLabel(names=list(task.label_names))
    features = Features({**{c: Value("string") for c in task.text_columns}, "label": label, "idx": Value("int32")})
    return Dataset.from_dict(out, features=features)


def _split_dataset(task: GlueTask, split: str, train_kind: str | None = None) -> Dataset:
    """One split as a Dataset with the task's text columns, `label` and `idx` (test labels may be absent: -1)."""
    frame, has_label = _split_frame(task, split)
    return _to_dataset(task, frame, _encode_split(task, split, frame, has_label, train_kind))


def _train_kind(task: GlueTask, train: pd.DataFrame) -> str | None:
    """'int' or 'word' for a classification task's training labels (every other split must match), else None."""
    if task.is_regression:
        return None
    return label_kind(train[task.label_column], task.data_files["train"], task.label_column)


def validation_rows(train_rows: int, fraction: float = VALIDATION_FRACTION) -> int:
    """How many rows carve_validation sets aside: `fraction` of train, but at least MIN_ROWS."""
    return max(math.ceil(train_rows * fraction), MIN_ROWS)


def carve_validation(train: Dataset, task: GlueTask, fraction: float = VALIDATION_FRACTION,
                     seed: int = SEED) -> DatasetDict:
    """Split a validation set off train (at least two rows, to be scored), seeded and (for classes) stratified."""
    stratify = None if task.is_regression else "label"
    size = validation_rows(len(train), fraction)
    try:
        parts = train.train_test_split(test_size=size, seed=seed, stratify_by_column=stratify)
    except ValueError:
        parts = train.train_test_split(test_size=size, seed=seed)
    return DatasetDict(train=parts["train"], validation=parts["test"])


def load_custom_splits(task: GlueTask, seed: int = SEED,
                       validation_fraction: float = VALIDATION_FRACTION) -> DatasetDict:
    """The custom task's train / validation (carved from train when absent) / test splits."""
    train, has_label = _split_frame(task, "train")
    kind = _train_kind(task, train)
    ds = DatasetDict(train=_to_dataset(task, train, _encode_split(task, "train", train, has_label, kind)))
    for split in SPLITS[1:]:
        if split in task.data_files:
            ds[split] = _split_dataset(task, split, kind)
    if "validation" not in ds:
        carved = carve_validation(ds["train"], task, validation_fraction, seed)
        print(f"No validation file for {task.name}: using {len(carved['validation'])} rows "
              f"({validation_fraction:.0%}, at least {MIN_ROWS}) carved from train (seed {seed}"
              f"{'' if task.is_regression else ', stratified by label'}).")
        ds["train"], ds["validation"] = carved["train"], carved["validation"]
    return ds
