"""Load a GLUE task (Hub or local folder), subsample it, and look at it: before training, what to expect of it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, load_dataset

from .custom_task import load_custom_splits
from .errors import GlueHelpersError, setting
from .offline_kit import check_hub, hub_needs, hub_offline_mode
from .recipe import Recipe, SearchSettings, check
from .tasks import HUB_DATASET, GlueTask, model_reference, published_dev_score

# One measured training speed (notebook 01's executed copy, docs/results.md): all-MiniLM-L6-v2, 22.7M parameters, on
# CoLA in fp32 on this project's 2-core AMD EPYC CPU. Pair tasks have longer inputs: about half the speed.
MEASURED = ("all-MiniLM-L6-v2 (22.7M parameters) on a 2-core AMD EPYC CPU, fp32", 91.8)
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


def subsample(dataset: Dataset, max_samples: int | None, seed: int = Recipe.seed) -> Dataset:
    """A deterministic random subset of at most `max_samples` rows (all rows when None)."""
    if max_samples is None or max_samples >= len(dataset):
        return dataset
    return dataset.shuffle(seed=seed).select(range(max_samples))


def search_rows(n_rows: int, fraction: float = SearchSettings.search_fraction,
                min_rows: int = SearchSettings.search_min_rows) -> int:
    """Rows a search trial trains on: `fraction` of the training set, but at least `min_rows` (all of a smaller set)."""
    # fewer rows rank hyperparameters by noise: a tenth of STS-B (575 rows) left MiniLM at Pearson 0.22
    check("share", "search_fraction", fraction)
    check("min_rows", "search_min_rows", min_rows)
    return min(n_rows, max(min_rows, 1, round(n_rows * fraction)))


def search_subset(dataset: Dataset, fraction: float = SearchSettings.search_fraction, seed: int = Recipe.seed,
                  min_rows: int = SearchSettings.search_min_rows) -> Dataset:
    """A seeded subset of `search_rows` rows, stratified by label for classification so every class stays in."""
    n = search_rows(len(dataset), fraction, min_rows)
    if n >= len(dataset):
        return dataset
    if isinstance(dataset.features.get("label"), ClassLabel):
        with contextlib.suppress(ValueError):  # too few rows per class to stratify
            return dataset.train_test_split(train_size=n, stratify_by_column="label", seed=seed)["train"]
    return dataset.shuffle(seed=seed).select(range(n))


def _missing_split_error(task: GlueTask, where, missing: list[str], present) -> GlueHelpersError:
    """The error for a task whose source lacks a split it needs."""
    return GlueHelpersError(
        f"Task {task.name!r} needs split(s) {missing} but {where} has only {sorted(present)} for config "
        f"{task.hub_config!r}. Add the missing parquet file(s) under {task.hub_config}/ or load the task from the Hub.")


def local_split_files(task: GlueTask, data_dir: str | Path, needed=()) -> dict[str, list[str]]:
    """Split -> parquet files of the task in a local nyu-mll/glue copy; an error if absent (or a `needed` split is)."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise GlueHelpersError(f"data_dir {str(root)!r} is not a folder. Pass a folder in the {HUB_DATASET} layout "
                               "(one sub-folder per config, e.g. cola/), or data_dir=None to use the Hub.")
    folder, files = root / task.hub_config, {}
    # the Hub's layout (`<split>-00000-of-00001.parquet`) or `<split>/0000.parquet`
    for f in sorted(folder.glob("*.parquet")) + sorted(folder.glob("*/*.parquet")):
        files.setdefault(f.name.split("-")[0] if f.parent == folder else f.parent.name, []).append(str(f))
    if not files:
        configs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise GlueHelpersError(f"data_dir {str(root)!r} has no {task.hub_config!r} folder of parquet files for task "
                               f"{task.name!r}; it holds {configs or 'no config folders'}. Pick one of those tasks, or "
                               f"copy {HUB_DATASET}'s {task.hub_config}/ folder there.")
    missing = [s for s in needed if s not in files]
    if missing:
        raise _missing_split_error(task, root, missing, files)
    return files


def data_source(task: GlueTask, data_dir: str | Path | None) -> str | dict[str, str]:
    """What a run reads, as metrics.json records it: a custom task's files, the local GLUE copy, or the Hub's."""
    if task.is_custom:
        return {split: str(Path(path).resolve()) for split, path in task.data_files.items()}
    return str(Path(data_dir).expanduser().resolve()) if data_dir is not None else f"hub:{HUB_DATASET}"


def check_data_source(task: GlueTask, data_dir: str | Path | None, splits=("train", "validation")) -> None:
    """Fail in seconds, with the fix, when a local copy lacks the task or a split it needs (the Hub: `check_hub`)."""
    if task.is_custom or data_dir is None:  # a custom task's files were checked when it was resolved
        return
    local_split_files(task, data_dir, [getattr(task, f"{s}_split") for s in splits])
    if "test" in splits and task.diagnostic is not None:  # MNLI's leaderboard files include AX's
        check_data_source(task.diagnostic, data_dir, ("test",))


def load_source(task: GlueTask, data_dir: str | Path | None = None,
                splits: tuple[str, ...] | None = None, seed: int = Recipe.seed) -> DatasetDict:
    """The task's raw config from the Hub or a local copy (`splits` limits what it reads), or a custom task's files."""
    if task.is_custom:
        return load_custom_splits(task, seed)
    if data_dir is not None:
        files = local_split_files(task, data_dir, splits or ())
        return load_dataset("parquet", data_files={s: f for s, f in files.items() if not splits or s in splits})
    check_hub(hub_needs(task, None, None))
    try:
        return load_dataset(HUB_DATASET, task.hub_config)
    except Exception as err:
        if hub_offline_mode():
            raise GlueHelpersError(f"{HUB_DATASET}/{task.hub_config} is not in your cache and HF_HUB_OFFLINE is set: "
                                   f"give a local copy ({setting('data_dir')}), or use smoke mode "
                                   f"({setting('smoke', True)}).") from err
        raise


def glue_splits(raw_datasets: DatasetDict, task: GlueTask, *, max_train_samples: int | None = None,
                max_eval_samples: int | None = None, seed: int = Recipe.seed,
                splits: tuple[str, ...] = ("train", "validation", "test")) -> DatasetDict:
    """The splits as train/validation/test (e.g. MNLI's `validation_matched`), maybe subsampled; labels as classes."""
    check("rows", "max_train_samples", max_train_samples)
    check("rows", "max_eval_samples", max_eval_samples)
    source = {"train": task.train_split, "validation": task.validation_split, "test": task.test_split}
    if task.is_custom:
        splits = tuple(s for s in splits if source[s] in raw_datasets)
    missing = [source[s] for s in splits if source[s] not in raw_datasets]
    if missing:
        raise _missing_split_error(task, "the data", missing, raw_datasets)
    limits = {"train": max_train_samples, "validation": max_eval_samples, "test": None}
    # The validation subset is drawn with the recipe's default seed whatever the run's seed: runs of several seeds
    # are scored on the same rows, so compare can pair them.
    seeds = {"train": seed, "validation": Recipe.seed, "test": seed}
    out = DatasetDict({s: subsample(raw_datasets[source[s]], limits[s], seeds[s]) for s in splits})
    if task.label_names and not isinstance(out[splits[0]].features["label"], ClassLabel):
        out = out.cast_column("label", ClassLabel(names=list(task.label_names)))
    return out


def load_glue(task: GlueTask, data_dir: str | Path | None = None, *, max_train_samples: int | None = None,
              max_eval_samples: int | None = None, seed: int = Recipe.seed,
              splits: tuple[str, ...] = ("train", "validation", "test")) -> DatasetDict:
    """`load_source` then `glue_splits`; a custom task reads its own files (`data_dir` unused)."""
    raw = load_source(task, data_dir, tuple(getattr(task, f"{s}_split") for s in splits), seed)
    return glue_splits(raw, task, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples, seed=seed,
                       splits=splits)


def label_names_of(dataset: Dataset) -> list[str] | None:
    """The ClassLabel names of a split's `label` column, or None for a regression score."""
    feature = dataset.features.get("label")
    return list(feature.names) if isinstance(feature, ClassLabel) else None


def random_elements(dataset: Dataset, num_examples: int = 10, seed: int | None = None) -> pd.DataFrame:
    """`num_examples` distinct random rows as a DataFrame with label names instead of ids."""
    if not isinstance(num_examples, int) or num_examples <= 0:
        raise GlueHelpersError(f"num_examples must be a positive integer, got {num_examples!r}.")
    if num_examples > len(dataset):
        raise GlueHelpersError(f"Can't pick {num_examples} distinct examples from a split of {len(dataset)} rows; "
                               f"ask for at most {len(dataset)}.")
    picks = np.random.default_rng(seed).choice(len(dataset), size=num_examples, replace=False)
    frame = dataset.select(sorted(picks.tolist())).to_pandas()
    names = label_names_of(dataset)
    if names and "label" in frame:  # -1, the hidden test label, shows as '(hidden)'
        frame["label"] = [names[i] if 0 <= i < len(names) else "(hidden)" for i in frame["label"]]
    return frame


def show_random_elements(dataset: Dataset, num_examples: int = 10, seed: int | None = None) -> None:
    """Display random rows with label names: an HTML table in a notebook, plain text elsewhere."""
    frame = random_elements(dataset, num_examples, seed)
    with contextlib.suppress(ImportError):
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML(frame.to_html(index=False)))
            return
    with pd.option_context("display.max_colwidth", 80, "display.width", 160):
        print(frame.to_string(index=False))


def summarize_split(dataset: Dataset, task: GlueTask) -> pd.DataFrame:
    """Rows, label balance and text lengths (in words) of one split, as a one-row-per-fact table."""
    rows = [("rows", len(dataset))]
    names = label_names_of(dataset)
    labels = np.asarray(dataset["label"])
    if names:
        rows += [(f"label {n}", f"{(labels == i).sum()} ({(labels == i).mean():.1%})") for i, n in enumerate(names)]
        if (labels < 0).any():
            rows.append(("label hidden (-1)", int((labels < 0).sum())))
    elif (labels >= 0).any():
        rows.append(("score mean ± std", f"{labels[labels >= 0].mean():.2f} ± {labels[labels >= 0].std():.2f}"))
    for col in task.text_columns:
        words = np.array([len(s.split()) for s in dataset[col]])
        rows.append((f"{col} words (median / max)", f"{int(np.median(words))} / {words.max()}"))
    return pd.DataFrame(rows, columns=["fact", "value"]).set_index("fact")


def what_to_expect(task: GlueTask, model: str) -> str:
    """The task's metric and what it means, the published dev score to aim for (whose it is), and a measured speed."""
    lines = [f"metric: {METRIC_MEANING.get(task.primary_metric, task.primary_metric)}"]
    score, name = published_dev_score(task), Path(str(model)).name
    own = model_reference(model, task)
    if own is not None:
        lines.append(f"published dev score of {name}, the model running here: {own:.1f} (x 0.01 on that scale)")
    elif score is not None:
        lines.append(f"published dev score of DistilBERT-base-uncased, the notebook's default model (not {name}, "
                     f"which runs here): {score:.1f} (x 0.01 on that scale). Another model lands elsewhere: a "
                     "sentence-embedding model such as all-MiniLM-L6-v2, trained to compare meanings rather than to "
                     "judge grammar or entailment, lands below it (measured here: CoLA MCC 0.299, STS-B Pearson "
                     "0.841).")
    if task.train_rows:
        where, speed = MEASURED
        minutes = task.train_rows / (speed / (PAIR_SLOWDOWN if task.is_pair else 1)) / 60
        lines.append(f"training rows: {task.train_rows:,}; one epoch of {where}, measured at {speed:g} samples/s on "
                     f"CoLA: about {max(1, round(minutes)):,} min{' (pairs: half the speed)' if task.is_pair else ''}. "
                     "A GPU is many times faster; max_train_samples makes a quick run.")
    return "\n".join(lines)
