"""Custom tasks: the same recipe on the user's own labelled text (CSV/TSV, JSON lines, parquet), as GlueTasks."""

# Nothing is guessed silently: empty cells and mixed or mismatched label kinds are errors naming file, column and rows.
from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from .errors import GlueHelpersError
from .metrics import METRICS
from .recipe import VALIDATION_FRACTION, Recipe
from .rundir import read_yaml
from .stats import MIN_ROWS
from .tasks import GlueTask, get_task

SPLITS = ("train", "validation", "test")
FILE_KEYS = ("train_file", "validation_file", "test_file")
DELIMITERS = {".csv": ",", ".tsv": "\t"}
# Only an empty cell is missing: a text such as "NA" or "null" is kept as written (pandas would read it as NaN).
_CSV = {"keep_default_na": False, "na_values": [""]}
_INT_TEXT = re.compile(r"[-+]?\d+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SHOWN_ROWS = 5


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


READERS = {".csv": lambda p: pd.read_csv(p, **_CSV), ".tsv": lambda p: pd.read_csv(p, sep="\t", **_CSV),
           ".jsonl": read_json_lines, ".json": read_json_lines, ".parquet": pd.read_parquet}


# What each field of a custom task (YAML key or keyword) must be, and how to say so.
SPEC_TYPES = {
    "name": (lambda v: isinstance(v, str) and _NAME.fullmatch(v) and ".." not in v,
             "a plain name of letters, digits, '-', '_' and '.' (it names the run folder runs/<name>)"),
    "text_columns": (lambda v: (isinstance(v, str) and v) or (isinstance(v, (list, tuple)) and len(v) in (1, 2) and all(
        isinstance(c, str) and c for c in v)), "a column name, or a list of two for sentence pairs"),
    "label_column": (lambda v: isinstance(v, str) and v, "a column name"),
    "label_names": (lambda v: v is None or (isinstance(v, (list, tuple)) and v and all(
        isinstance(n, (str, int)) and not isinstance(n, bool) for n in v)),
        "a list such as [negative, positive] (not one string)"),
    "regression": (lambda v: isinstance(v, bool), "true or false, unquoted"),
    "drop_empty": (lambda v: isinstance(v, bool), "true or false, unquoted"),
    "metrics": (lambda v: v is None or (isinstance(v, (list, tuple)) and v and all(isinstance(m, str) for m in v)),
                "a list of metric names"),
    "primary_metric": (lambda v: v is None or isinstance(v, str), "a metric name"),
    "description": (lambda v: isinstance(v, str), "text"),
}
SPEC_KEYS = {*SPEC_TYPES, *FILE_KEYS}


def check_spec(values: dict, where: str) -> None:
    """Each custom-task field of the right type, else an error naming where, the field, the value and the type."""
    for key, value in values.items():
        if key in SPEC_TYPES and not SPEC_TYPES[key][0](value):
            raise GlueHelpersError(f"{where}: {key} must be {SPEC_TYPES[key][1]}; got {value!r}.")


@dataclass(frozen=True)
class CustomTask(GlueTask):
    """A GlueTask on the user's files; `drop_empty` skips rows with an empty text or label instead of failing."""

    drop_empty: bool = False
    source: str = field(default="", compare=False)  # the task YAML it was read from, if any (batch passes it on)


def read_table(path: str | Path, split: str, columns=()) -> pd.DataFrame:
    """Read one split's file by its extension (with `columns`), with a clear error when it is missing or unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GlueHelpersError(f"The {split} file {str(path)!r} does not exist. Check the path (relative paths in a "
                               "task YAML are relative to the YAML file).")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise GlueHelpersError(f"Can't read {path.name!r}: use one of {', '.join(READERS)}.")
    try:
        # row i is the file's i-th data row, for error messages; a 0-byte file has no rows (pyarrow can't open it)
        frame = reader(path).reset_index(drop=True) if path.stat().st_size else pd.DataFrame()
    except UnicodeDecodeError:
        raise GlueHelpersError(f"{path} is not UTF-8 text ({first_undecodable(path)}; saved as Latin-1, Windows-1252 "
                               "or UTF-16?). Save it as UTF-8 (from a spreadsheet: 'CSV UTF-8').") from None
    except pd.errors.EmptyDataError:  # only blank lines: not even a header
        frame = pd.DataFrame()
    except pd.errors.ParserError as err:
        raise GlueHelpersError(f"{path} can't be parsed: {err}. Check that line's quotes and separators.") from None
    if frame.empty:
        raise GlueHelpersError(f"The {split} file {path} is empty: it needs at least one row (CSV/TSV: a header "
                               "line, then one line per row).")
    if path.suffix.lower() in DELIMITERS:
        check_header(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GlueHelpersError(f"Column(s) {missing} not found in the {split} file {path.name!r}; its columns "
                               f"are {list(frame.columns)}. Set text_columns / label_column to those names.")
    return frame


def first_undecodable(path: Path) -> str:
    """Where a file stops being UTF-8: the line (the header is 1) and the byte, as an editor shows them."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return f"line {line}: byte 0x{data[err.start]:02X} is not UTF-8"
    return "a byte that is not UTF-8"


def check_header(path: Path) -> None:
    """A CSV/TSV header names each column once: pandas would read a repeated 'text' as 'text.1' and use the first."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle, delimiter=DELIMITERS[path.suffix.lower()]), [])
    repeated = sorted({c for c in header if c.strip() and header.count(c) > 1})
    if repeated:
        raise GlueHelpersError(f"{path}, line 1: the header names column(s) {repeated} more than once; pandas would "
                               f"read the second {repeated[0]!r} as '{repeated[0]}.1' and use only the first. Rename "
                               "or remove the repeated column(s).")


def file_rows(path, index) -> str:
    """Rows as the user finds them in the file (CSV/TSV: lines, the header is 1), at most SHOWN_ROWS, then a count."""
    suffix = Path(path).suffix.lower()
    numbers = [int(i) + 1 for i in index]
    if suffix in DELIMITERS:  # a quoted text may span lines: count the file's own lines
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter=DELIMITERS[suffix])
            next(reader, None)
            starts = [reader.line_num + 1]  # a row starts on the line after the one the row before ends on
            starts += [reader.line_num + 1 for _ in reader]
        numbers = [starts[int(i)] for i in index]
    shown = ", ".join(map(str, numbers[:SHOWN_ROWS]))
    more = f" and {len(numbers) - SHOWN_ROWS} more" if len(numbers) > SHOWN_ROWS else ""
    return f"{'row' if suffix == '.parquet' else 'line'}{'s' if len(numbers) > 1 else ''} {shown}{more}"


def _is_missing(values: pd.Series) -> pd.Series:
    """True where a cell is empty: NaN/None, or only whitespace."""
    return values.isna() | values.astype(object).map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)


def clean_rows(frame: pd.DataFrame, columns, path, drop_empty: bool = False) -> pd.DataFrame:
    """The rows whose `columns` all have a value; an empty one is an error naming the rows, unless `drop_empty`."""
    for column in columns:
        nested = frame[column].map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).astype(bool)
        if nested.any():
            where = file_rows(path, frame.index[nested])
            raise GlueHelpersError(f"{path}: column {column!r} holds lists or objects ({where}); a text or label "
                                   "cell must be one value. Flatten that column first.")
    missing = {c: _is_missing(frame[c]) for c in columns}
    bad = {c: m for c, m in missing.items() if m.any()}
    if not bad:
        return frame
    if not drop_empty:
        column, mask = next(iter(bad.items()))
        raise GlueHelpersError(
            f"{path}: column {column!r} is empty in {int(mask.sum())} row(s) ({file_rows(path, frame.index[mask])}). "
            "Fill those cells in or remove the rows, or set drop_empty: true in the task YAML (drop_empty=True) to "
            "skip rows with an empty text or label.")
    drop = pd.concat(bad.values(), axis=1).any(axis=1)
    empty = " or ".join(map(repr, bad))
    print(f"drop_empty: skipped {int(drop.sum())} row(s) of {path} with an empty {empty} "
          f"({file_rows(path, frame.index[drop])}).")
    if drop.all():
        raise GlueHelpersError(f"{path}: every row has an empty {empty}; nothing is left. Check that text_columns "
                               "and label_column name the columns holding your data.")
    return frame[~drop]


def _is_int_like(value) -> bool:
    """An integer (not a bool), a whole float, or a string of digits (what a CSV column of ids holds)."""
    if isinstance(value, str):
        return bool(_INT_TEXT.fullmatch(value.strip()))
    if isinstance(value, (float, np.floating)):
        return float(value).is_integer()
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def label_key(value) -> str:
    """A label as a string: a whole number without a trailing '.0', a word without surrounding spaces."""
    if _is_int_like(value):
        return str(int(value.strip() if isinstance(value, str) else value))
    return str(value).strip()


def label_kind(values: pd.Series, path, column: str) -> str:
    """'int' when every label is an integer id, 'word' when none is; decimals, or a mix of both, are errors."""
    ints = values.map(_is_int_like).astype(bool)
    if ints.all():
        return "int"
    i, w = ints.to_numpy().argmax(), (~ints).to_numpy().argmax()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        raise GlueHelpersError(
            f"{path}: column {column!r} holds numbers with decimals ({values.iloc[w]:g} on "
            f"{file_rows(path, [values.index[w]])}). For a score, set regression: true (YAML) or regression=True; "
            "for classes, use whole numbers or words.")
    if ints.any():
        where = {k: f"{values.iloc[k]!r} on {file_rows(path, [values.index[k]])}" for k in (i, w)}
        raise GlueHelpersError(
            f"{path}: column {column!r} mixes integer labels ({where[i]}) with words ({where[w]}). Use one kind in "
            "every file: the class names, or integer ids with label_names naming them.")
    return "word"


def infer_label_names(values: pd.Series, label_names=None, path="training file") -> tuple[str, ...]:
    """The class names: as given (checked for duplicates), else the training labels' distinct values, sorted."""
    keys = values.map(label_key)
    if label_names is not None:
        names = tuple(str(n).strip() for n in label_names)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise GlueHelpersError(f"label_names has duplicates: {dupes}. Give each class one distinct name.")
    else:
        numbers = all(_INT_TEXT.fullmatch(k) for k in keys.unique())
        names = tuple(sorted(keys.unique(), key=int if numbers else None))
    if keys.nunique() < 2:
        raise GlueHelpersError(f"{path}: column {values.name!r} of the training split has a single class "
                               f"({values.iloc[0]!r}): a classifier needs at least two. Check label_column, or set "
                               "regression: true for a score.")
    return names


def encode_labels(values: pd.Series, task: GlueTask, split: str, path, train_kind: str | None = None) -> list:
    """Label ids (by name, or integer ids into label_names) or floats for regression; bad labels are errors."""
    if task.is_regression:
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        bad = values[~np.isfinite(numbers)]  # NaN: not a number; inf from 'inf' or JSON's Infinity would break the loss
        if len(bad):
            raise GlueHelpersError(f"{path}: the {split} split has non-numeric or non-finite values for the regression "
                                   f"label {task.label_column!r}, e.g. {bad.tolist()[0]!r} on "
                                   f"{file_rows(path, bad.index)}. A score must be a finite number: fix the data or "
                                   "drop regression.")
        return numbers.tolist()
    kind = label_kind(values, path, task.label_column)
    if train_kind is not None and kind != train_kind:  # integer ids are never read as names or vice versa
        have = "integers" if kind == "int" else "words"
        want = "integer ids" if train_kind == "int" else f"words ({', '.join(task.label_names)})"
        raise GlueHelpersError(
            f"{path}: the {split} labels in column {task.label_column!r} are {have} (e.g. {values.iloc[0]!r} on "
            f"{file_rows(path, [values.index[0]])}) but the training labels are {want}. Write the labels the way the "
            "training file does: one kind of label per column in every file.")
    names, keys = list(task.label_names), values.map(label_key)
    # Integer labels are ids into label_names only when the names are words, not numbers (star ratings).
    if kind == "int" and not all(_INT_TEXT.fullmatch(n) for n in names):
        ids = keys.astype(int)
        bad = ~ids.isin(range(len(names)))
        unseen, known = sorted(set(ids[bad])), f"ids 0..{len(names) - 1} of label_names {names}"
    else:
        ids = keys.map({n: i for i, n in enumerate(names)})
        bad = ids.isna()
        unseen, known = sorted(set(keys[bad])), f"known: {names}"
    if unseen:
        raise GlueHelpersError(f"{path}: the {split} split has label(s) {unseen} in column {task.label_column!r} "
                               f"({file_rows(path, keys.index[bad.to_numpy()])}) that the training split never has "
                               f"({known}). Fix the data, or list every class in label_names.")
    return ids.astype(int).tolist()


def custom_task(name: str, train_file, *, validation_file=None, test_file=None, text_columns=("text",),
                label_column: str = "label", label_names=None, regression: bool = False, metrics=None,
                primary_metric: str | None = None, description: str = "", drop_empty: bool = False) -> GlueTask:
    """Describe a task on your own files; label names are inferred from the training split when not given."""
    check_spec(locals(), f"custom task {name!r}")  # the arguments named in SPEC_TYPES
    text_columns = (text_columns,) if isinstance(text_columns, str) else tuple(text_columns)
    given = zip(SPLITS, (train_file, validation_file, test_file), strict=True)
    files = {split: str(Path(f).expanduser()) for split, f in given if f}
    if len({*text_columns, label_column}) <= len(text_columns):
        raise GlueHelpersError(f"custom task {name!r} ({files['train']}): text_columns {list(text_columns)} and "
                               f"label_column {label_column!r} must be different columns, or the model reads the label "
                               "it is to predict. Name the text column(s) and the label column.")
    columns = (*text_columns, label_column)
    train = clean_rows(read_table(files["train"], "train", columns), columns, files["train"], bool(drop_empty))
    labels = train[label_column]
    kind = None if regression else label_kind(labels, files["train"], label_column)
    names = () if regression else infer_label_names(labels, label_names, files["train"])
    metric_names = tuple(metrics or (("pearson", "spearmanr") if regression else ("accuracy", "f1_macro")))
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
    # Every split file is read and checked now, before a run folder is made, not first when the splits are loaded.
    rows = {split: len(_split_dataset(task, split, kind)) for split in SPLITS[1:] if split in files}
    check_validation_size(task, len(train), rows.get("validation"))
    return task


def check_validation_size(task: GlueTask, train_rows: int, rows: int | None = None) -> None:
    """Refuse, before any training, a validation split (of `rows`, or carved from train) too small to be scored."""
    if rows is None and train_rows <= MIN_ROWS:  # carving off at least MIN_ROWS would leave none to train on
        where = (f"{task.name} has no validation_file, and its {train_rows} training row(s) leave none to train on "
                 f"once {MIN_ROWS} are set aside to validate")
    elif rows is not None and rows < MIN_ROWS:
        where = f"The validation file {Path(task.data_files['validation']).name!r} has {rows} row(s)"
    else:
        return
    raise GlueHelpersError(f"{where}; scoring a run needs at least {MIN_ROWS}. Add rows, or give a validation_file "
                           "with more.")


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


def task_file_path(value, key: str, yaml_path: Path) -> str:
    """A data file named in a task YAML: relative paths stay inside the YAML's folder; absolute ones are explicit."""
    given = Path(str(value)).expanduser()
    if given.is_absolute():
        return str(given)
    folder = Path(os.path.abspath(yaml_path.parent))
    inside = Path(os.path.normpath(folder / given))
    if not inside.is_relative_to(folder):
        raise GlueHelpersError(f"Task file {yaml_path}: {key} {str(value)!r} points outside the task file's folder "
                               f"{folder}. Move the data next to the YAML, or give an absolute path if you mean it.")
    return str(inside)


def load_task_file(path: str | Path, drop_empty: bool | None = None) -> GlueTask:
    """A custom task from a small YAML file; relative data paths are taken from (and kept inside) the YAML's folder."""
    path = Path(path).expanduser()
    spec = read_yaml(path, "Task file", "'train_file: train.csv'")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown or "train_file" not in spec:
        raise GlueHelpersError(f"Task file {path}: unknown key(s) {unknown} or no train_file; valid keys are "
                               f"{sorted(SPEC_KEYS)}.")
    check_spec(spec, f"Task file {path}")
    spec.update({key: task_file_path(spec[key], key, path) for key in FILE_KEYS if spec.get(key)})
    if drop_empty is not None:
        spec["drop_empty"] = drop_empty
    return replace(custom_task(spec.pop("name", path.stem), **spec), source=str(path.resolve()))


def _split_frame(task: GlueTask, split: str) -> pd.DataFrame:
    """One split's rows with every text (and, outside test, label) present."""
    path = task.data_files[split]
    needed = task.text_columns + ((task.label_column,) if split != "test" else ())
    return clean_rows(read_table(path, split, needed), needed, path, getattr(task, "drop_empty", False))


def _split_dataset(task: GlueTask, split: str, train_kind: str | None = None, frame=None) -> Dataset:
    """A split (its `frame` if read) as a Dataset: text columns, `label` and `idx` (the row's place in its file)."""
    frame = _split_frame(task, split) if frame is None else frame
    # a test split's missing labels (none, or empty cells) stay hidden as -1
    labels = pd.Series(-1.0 if task.is_regression else -1, index=frame.index, dtype=object)
    if task.label_column in frame:
        present = ~_is_missing(frame[task.label_column])
        if present.any():
            values = frame[task.label_column][present]
            labels[present] = encode_labels(values, task, split, task.data_files[split], train_kind)
    label = Value("float32") if task.is_regression else ClassLabel(names=list(task.label_names))
    features = Features({**{c: Value("string") for c in task.text_columns}, "label": label, "idx": Value("int32")})
    texts = {c: frame[c].astype(str).tolist() for c in task.text_columns}
    return Dataset.from_dict({**texts, "label": labels.tolist(), "idx": frame.index.tolist()}, features=features)


def carve_validation(train: Dataset, task: GlueTask, fraction: float = VALIDATION_FRACTION,
                     seed: int = Recipe.seed) -> DatasetDict:
    """Split a validation set off train (at least two rows, to be scored), seeded and (for classes) stratified."""
    stratify = None if task.is_regression else "label"
    size = max(math.ceil(len(train) * fraction), MIN_ROWS)
    try:
        parts = train.train_test_split(test_size=size, seed=seed, stratify_by_column=stratify)
    except ValueError:
        parts = train.train_test_split(test_size=size, seed=seed)
    return DatasetDict(train=parts["train"], validation=parts["test"])


def load_custom_splits(task: GlueTask, seed: int = Recipe.seed,
                       validation_fraction: float = VALIDATION_FRACTION) -> DatasetDict:
    """The custom task's train / validation (carved from train when absent) / test splits."""
    train = _split_frame(task, "train")
    path = task.data_files["train"]
    kind = None if task.is_regression else label_kind(train[task.label_column], path, task.label_column)
    ds = DatasetDict(train=_split_dataset(task, "train", kind, train))
    ds.update({split: _split_dataset(task, split, kind) for split in SPLITS[1:] if split in task.data_files})
    if "validation" not in ds:
        carved = carve_validation(ds["train"], task, validation_fraction, seed)
        print(f"No validation file for {task.name}: using {len(carved['validation'])} rows "
              f"({validation_fraction:.0%}, at least {MIN_ROWS}) carved from train (seed {seed}"
              f"{'' if task.is_regression else ', stratified by label'}).")
        ds["train"], ds["validation"] = carved["train"], carved["validation"]
    return ds
