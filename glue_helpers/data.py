"""Load a GLUE task (Hub or local folder), subsample it, and look at it: before training, what to expect of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, load_dataset

from .custom_task import load_custom_splits
from .errors import GlueHelpersError
from .offline_kit import OFFLINE_FIX, hub_offline_mode, hub_reachable
from .recipe import SEED, check_max_samples
from .tasks import HUB_DATASET, GlueTask, published_dev_score

# Rough DistilBERT training speeds (examples per second, batch 16). Estimates, not measurements of this project:
# a T4 in fp16 and a 4-core laptop CPU in fp32. Pair tasks have longer inputs, hence about half the speed.
SPEED = {"Colab T4 (fp16)": 250, "laptop CPU (fp32)": 12}
PAIR_SLOWDOWN = 2
METRIC_MEANING = {
    "matthews_correlation": "Matthews correlation: from -1 (always wrong) through 0 (no better than a constant "
                            "guess, whatever the label balance) to 1 (perfect)",
    "accuracy": "accuracy: the share of validation examples labelled right",
    "f1": "F1: the harmonic mean of precision and recall of the positive class",
    "f1_macro": "macro F1: F1 averaged over the classes",
    "pearson": "Pearson correlation between predicted and gold similarity: 0 = unrelated, 1 = perfectly linear",
    "spearmanr": "Spearman correlation: Pearson's on ranks",
}


def subsample(dataset: Dataset, max_samples: int | None, seed: int = SEED) -> Dataset:
    """A deterministic random subset of at most `max_samples` rows (all rows when None)."""
    if max_samples is None or max_samples >= len(dataset):
        return dataset
    return dataset.shuffle(seed=seed).select(range(max_samples))


def _local_configs(data_dir: Path) -> list[str]:
    """Config folders present in a local copy of the GLUE repo."""
    return sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _config_files(config_dir: Path) -> dict[str, list[str]]:
    """Split name -> parquet files, in the Hub's layout (`<split>-00000-of-00001.parquet`) or `<split>/0000.parquet`."""
    files: dict[str, list[str]] = {}
    for f in sorted(config_dir.glob("*.parquet")):
        files.setdefault(f.name.split("-")[0], []).append(str(f))
    for f in sorted(config_dir.glob("*/*.parquet")):
        files.setdefault(f.parent.name, []).append(str(f))
    return files


def _missing_split_error(task: GlueTask, where, missing: list[str], present) -> GlueHelpersError:
    """The error for a task whose source lacks a split it needs."""
    return GlueHelpersError(
        f"Task {task.name!r} needs split(s) {missing} but {where} has only {sorted(present)} for config "
        f"{task.hub_config!r}. Add the missing parquet file(s) under {task.hub_config}/ or load the task from the Hub."
    )


def local_split_files(task: GlueTask, data_dir: str | Path) -> dict[str, list[str]]:
    """The parquet files of the task's config in a local copy of nyu-mll/glue, by split; a clear error when absent."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise GlueHelpersError(f"data_dir {str(root)!r} is not a folder. Pass a folder in the {HUB_DATASET} layout "
                               "(one sub-folder per config, e.g. cola/), or data_dir=None to use the Hub.")
    files = _config_files(root / task.hub_config) if (root / task.hub_config).is_dir() else {}
    if not files:
        raise GlueHelpersError(
            f"data_dir {str(root)!r} has no {task.hub_config!r} folder of parquet files for task {task.name!r}; "
            f"it holds {_local_configs(root) or 'no config folders'}. Pick one of those tasks, or copy "
            f"{HUB_DATASET}'s {task.hub_config}/ folder there."
        )
    return files


def check_data_source(task: GlueTask, data_dir: str | Path | None) -> None:
    """Fail in seconds, with the fix, when the task's data can't be read (Hub out of reach, local config missing)."""
    if task.is_custom:  # checked when it was resolved
        return
    if data_dir is not None:
        local_split_files(task, data_dir)
    elif not hub_offline_mode() and not hub_reachable():
        raise GlueHelpersError(f"Cannot reach the Hugging Face Hub to download {HUB_DATASET}. {OFFLINE_FIX}")


def load_source(task: GlueTask, data_dir: str | Path | None = None,
                splits: tuple[str, ...] | None = None, seed: int = SEED) -> DatasetDict:
    """The task's raw config from the Hub or a local copy (`splits` limits what it reads), or a custom task's files."""
    if task.is_custom:
        return load_custom_splits(task, seed)
    if data_dir is not None:
        files = local_split_files(task, data_dir)  # checks the folder, as check_data_source does
        missing = [s for s in splits or () if s not in files]
        if missing:
            raise _missing_split_error(task, Path(data_dir).expanduser(), missing, files)
        return load_dataset("parquet", data_files={s: f for s, f in files.items() if not splits or s in splits})
    check_data_source(task, None)
    try:
        return load_dataset(HUB_DATASET, task.hub_config)
    except Exception as err:
        if hub_offline_mode():
            raise GlueHelpersError(
                f"{HUB_DATASET}/{task.hub_config} is not in your cache and HF_HUB_OFFLINE is set. {OFFLINE_FIX}"
            ) from err
        raise


def glue_splits(
    raw_datasets: DatasetDict,
    task: GlueTask,
    *,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    seed: int = SEED,
    splits: tuple[str, ...] = ("train", "validation", "test"),
) -> DatasetDict:
    """The splits as train/validation/test (e.g. MNLI's `validation_matched`), maybe subsampled; labels as classes."""
    max_train_samples = check_max_samples("max_train_samples", max_train_samples)
    max_eval_samples = check_max_samples("max_eval_samples", max_eval_samples)
    source = {"train": task.train_split, "validation": task.validation_split, "test": task.test_split}
    if task.is_custom:
        splits = tuple(s for s in splits if source[s] in raw_datasets)
    missing = [source[s] for s in splits if source[s] not in raw_datasets]
    if missing:
        raise _missing_split_error(task, "the data", missing, raw_datasets)
    limits = {"train": max_train_samples, "validation": max_eval_samples, "test": None}
    out = DatasetDict({s: subsample(raw_datasets[source[s]], limits[s], seed) for s in splits})
    if task.label_names and not isinstance(out[splits[0]].features["label"], ClassLabel):
        out = out.cast_column("label", ClassLabel(names=list(task.label_names)))
    return out


def load_glue(
    task: GlueTask,
    data_dir: str | Path | None = None,
    *,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    seed: int = SEED,
    splits: tuple[str, ...] = ("train", "validation", "test"),
) -> DatasetDict:
    """`load_source` then `glue_splits`; a custom task reads its own files (`data_dir` unused)."""
    check_max_samples("max_train_samples", max_train_samples)
    check_max_samples("max_eval_samples", max_eval_samples)
    source = {"train": task.train_split, "validation": task.validation_split, "test": task.test_split}
    raw = load_source(task, data_dir, tuple(source[s] for s in splits), seed)
    return glue_splits(raw, task, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples, seed=seed,
                       splits=splits)


def label_names_of(dataset: Dataset) -> list[str] | None:
    """The ClassLabel names of a split's `label` column, or None for a regression score."""
    feature = dataset.features.get("label")
    return list(feature.names) if isinstance(feature, ClassLabel) else None


def _with_label_names(frame: pd.DataFrame, names: list[str] | None) -> pd.DataFrame:
    """Replace label ids by their names (-1, the hidden test label, becomes '(hidden)')."""
    if names and "label" in frame:
        frame["label"] = [names[i] if 0 <= i < len(names) else "(hidden)" for i in frame["label"]]
    return frame


def random_elements(dataset: Dataset, num_examples: int = 10, seed: int | None = None) -> pd.DataFrame:
    """`num_examples` distinct random rows as a DataFrame with label names instead of ids."""
    if not isinstance(num_examples, int) or num_examples <= 0:
        raise GlueHelpersError(f"num_examples must be a positive integer, got {num_examples!r}.")
    if num_examples > len(dataset):
        raise GlueHelpersError(
            f"Can't pick {num_examples} distinct examples from a split of {len(dataset)} rows; "
            f"ask for at most {len(dataset)}."
        )
    picks = np.random.default_rng(seed).choice(len(dataset), size=num_examples, replace=False)
    frame = dataset.select(sorted(picks.tolist())).to_pandas()
    return _with_label_names(frame, label_names_of(dataset))


def show_random_elements(dataset: Dataset, num_examples: int = 10, seed: int | None = None) -> None:
    """Display random rows with label names: an HTML table in a notebook, plain text elsewhere."""
    frame = random_elements(dataset, num_examples, seed)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML(frame.to_html(index=False)))
            return
    except ImportError:
        pass
    with pd.option_context("display.max_colwidth", 80, "display.width", 160):
        print(frame.to_string(index=False))


def summarize_split(dataset: Dataset, task: GlueTask) -> pd.DataFrame:
    """Rows, label balance and text lengths (in words) of one split, as a one-row-per-fact table."""
    rows = [("rows", len(dataset))]
    names = label_names_of(dataset)
    labels = np.asarray(dataset["label"])
    if names:
        for i, n in enumerate(names):
            rows.append((f"label {n}", f"{(labels == i).sum()} ({(labels == i).mean():.1%})"))
        if (labels < 0).any():
            rows.append(("label hidden (-1)", int((labels < 0).sum())))
    elif (labels >= 0).any():
        rows.append(("score mean ± std", f"{labels[labels >= 0].mean():.2f} ± {labels[labels >= 0].std():.2f}"))
    for col in task.text_columns:
        words = np.array([len(s.split()) for s in dataset[col]])
        rows.append((f"{col} words (median / max)", f"{int(np.median(words))} / {words.max()}"))
    return pd.DataFrame(rows, columns=["fact", "value"]).set_index("fact")


def what_to_expect(task: GlueTask) -> pd.DataFrame:
    """The task's metric and what it means, DistilBERT's published dev score, and rough minutes per epoch."""
    rows = [("metric", METRIC_MEANING.get(task.primary_metric, task.primary_metric))]
    score = published_dev_score(task)
    if score is not None:
        rows.append(("DistilBERT-base-uncased, published dev score", f"{score:.1f} (x 0.01 on the scale above)"))
    if task.train_rows:
        rows.append(("training rows", f"{task.train_rows:,}"))
        for where, speed in SPEED.items():
            minutes = task.train_rows / (speed / (PAIR_SLOWDOWN if task.is_pair else 1)) / 60
            rows.append((f"one epoch on a {where}, roughly", f"{minutes:,.0f} min" if minutes >= 1 else "< 1 min"))
    return pd.DataFrame(rows, columns=["", "what to expect"]).set_index("")
