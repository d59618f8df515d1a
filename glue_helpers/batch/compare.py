"""Compare two run, seed (`seed-<n>/`) or batch folders task by task on the same validation rows (docs/compare.md)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import stats
from ..errors import GlueHelpersError
from ..rundir import METRICS, PREDICTIONS, read_metrics, write_text
from ..tasks import GlueTask, get_task
from .plan import SEED_FOLDER, task_outcome
from .results import to_markdown

MCNEMAR_COLUMNS = ("mcnemar_b", "mcnemar_c", "mcnemar_p", "mcnemar_significant")


@dataclass(frozen=True)
class Run:
    """One run's validation rows: the example ids, gold labels and predictions, in dataset order."""

    folder: Path
    task: GlueTask
    idx: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray


def run_task(folder: Path) -> GlueTask:
    """The task of a run, from its metrics.json; a custom task is rebuilt from its primary metric."""
    path = folder / METRICS
    record = read_metrics(path)
    if "task" not in record:
        raise GlueHelpersError(f"{path} has no 'task' key; it was not written by glue_helpers. Rerun that run.")
    try:
        return get_task(record["task"])
    except GlueHelpersError:
        metric = record.get("primary_metric")
        if not metric:
            raise GlueHelpersError(f"{path}: task {record['task']!r} is not a GLUE task and there is no "
                                   "'primary_metric' to score it by. Rerun it with this version.") from None
        return GlueTask(record["task"], record["task"], (), (), (metric,), metric,
                        regression=metric in stats.CORRELATIONS)


def valid_value(task: GlueTask, value) -> bool:
    """True for a label or prediction the task can score: a finite number (regression), else a class id."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if task.is_regression:
        return math.isfinite(value)
    # A custom task rebuilt from metrics.json has no label names: any class id >= 0 then.
    return isinstance(value, int) and 0 <= value and (not task.label_names or value < task.num_labels)


def load_run(folder: Path) -> Run:
    """A run folder's task and validation rows (validation_predictions.jsonl), each checked against the task."""
    task, path = run_task(folder), folder / PREDICTIONS
    if not path.is_file():
        raise GlueHelpersError(f"No validation predictions at {path}. compare needs each run's {PREDICTIONS}, which "
                               "notebook 01 and `python -m glue_helpers train` write; rerun that run to get it.")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append((int(row["idx"]), row["label"], row["prediction"]))
        except (ValueError, KeyError, TypeError) as err:
            raise GlueHelpersError(f"{path}, line {number}: expected a JSON object with idx, label and prediction "
                                   f"({err}). The file is damaged; rerun that run.") from err
        bad = next((key for key in ("label", "prediction") if not valid_value(task, row[key])), None)
        if bad:
            expected = ("a finite number" if task.is_regression else
                        f"a class id from 0 to {task.num_labels - 1} ({', '.join(task.label_names)})"
                        if task.label_names else "a class id (0, 1, ...)")
            raise GlueHelpersError(f"{path}, line {number}: {bad} {row[bad]!r} is not a {task.name} {bad}: expected "
                                   f"{expected}. The file does not come from this task's run; rerun that run.")
    if not rows:
        raise GlueHelpersError(f"{path} is empty: the run scored no validation rows. Rerun it.")
    idx, labels, predictions = (np.asarray(column) for column in zip(*rows, strict=True))
    if len(set(idx.tolist())) != len(idx):
        raise GlueHelpersError(f"{path}: an idx appears twice; each validation row is scored once. Rerun that run.")
    return Run(folder, task, idx, labels, predictions)


def _succeeded(folder: Path, left_out: list[str] | None) -> bool:
    """True for a run whose metrics.json `task_outcome` calls succeeded; one that failed after it goes in `left_out`."""
    if not (folder / METRICS).is_file():
        return False
    state = task_outcome(folder)[0]
    if state != "succeeded" and left_out is not None and f"{folder} ({state})" not in left_out:
        left_out.append(f"{folder} ({state})")
    return state == "succeeded"


def _seed_runs(folder: Path, left_out: list[str] | None = None) -> dict[int | None, Path]:
    """A task folder's succeeded runs: {seed: folder} for seed-<n>/ folders, else {None: folder} for a single run."""
    seeds = {int(m.group(1)): child for child in sorted(folder.iterdir()) if child.is_dir()
             and (m := SEED_FOLDER.fullmatch(child.name)) and _succeeded(child, left_out)}
    if seeds:
        return dict(sorted(seeds.items()))
    return {None: folder} if _succeeded(folder, left_out) else {}


def _left_out(runs: list[str]) -> str:
    """' Left out, as not succeeded: ...' for runs whose status.json says they failed, else ''."""
    return f" Left out, as not succeeded (status.json): {', '.join(runs)}." if runs else ""


def find_runs(path: str | Path, left_out: list[str] | None = None) -> dict[str, dict[int | None, Path]]:
    """A run, seed or batch folder's succeeded runs by task and seed (or None); others with metrics go in `left_out`."""
    path = Path(path)
    left_out = [] if left_out is None else left_out
    if not path.is_dir():
        raise GlueHelpersError(f"{path} is not a folder. Pass a run folder or a batch folder (--out of batch).")
    own = _seed_runs(path, left_out)
    candidates = [own] if own else [_seed_runs(child, left_out) for child in sorted(path.iterdir()) if child.is_dir()]
    found: dict[str, dict[int | None, Path]] = {}
    for runs in filter(None, candidates):
        task = run_task(next(iter(runs.values()))).name
        if task in found:
            raise GlueHelpersError(f"{path} holds two runs of task {task!r} ({next(iter(found[task].values()))} and "
                                   f"{next(iter(runs.values()))}). Compare those folders one at a time.")
        found[task] = runs
    if not found:
        grid = [child.name for child in sorted(path.iterdir()) if child.is_dir() and any(
            _seed_runs(task) for task in child.iterdir() if task.is_dir())]
        hint = (f" It looks like a grid of models ({', '.join(grid)}): compare two of them, e.g. {path / grid[0]} "
                f"{path / grid[-1]}." if grid else "")
        raise GlueHelpersError(f"No runs found in {path}: expected {path / METRICS}, {path}/<task>/{METRICS} or "
                               f"{path}/<task>/seed-<n>/{METRICS}.{hint}{_left_out(left_out)}")
    return found


def pair_runs(runs_a: dict, runs_b: dict, task: str) -> list[tuple[Path, Path]]:
    """(A, B) folder pairs of one task: by seed when both sides have seeds, else every run with every other-side run."""
    if None not in runs_a and None not in runs_b:
        common = [s for s in runs_a if s in runs_b]
        if not common:
            raise GlueHelpersError(f"Task {task!r}: A has seeds {list(runs_a)}, B has seeds {list(runs_b)}, none in "
                                   "common. Run the same seeds on both sides to pair them.")
        return [(runs_a[s], runs_b[s]) for s in common]
    return [(a, b) for a in runs_a.values() for b in runs_b.values()]


def _first_difference(x: np.ndarray, y: np.ndarray, close: bool) -> int | None:
    """Position of the first differing value in the common prefix, or None."""
    n = min(len(x), len(y))
    same = np.isclose(x[:n], y[:n], rtol=0, atol=1e-6) if close else x[:n] == y[:n]
    bad = np.flatnonzero(~same)
    return int(bad[0]) if bad.size else None


def check_same_rows(a: Run, b: Run) -> None:
    """Refuse two runs that did not score the same validation rows (ids in the same order, the same labels)."""
    where = f"{a.folder / PREDICTIONS} and {b.folder / PREDICTIONS} did not score the same validation rows"
    fix = "Compare runs of the same task on the whole validation split (same max_eval_samples and seed)."
    first = _first_difference(a.idx, b.idx, close=False)
    if first is not None or len(a.idx) != len(b.idx):
        sizes = f"{len(a.idx)} vs {len(b.idx)} rows; " if len(a.idx) != len(b.idx) else ""
        detail = (f"first differing idx at row {first}: {a.idx[first]} vs {b.idx[first]}" if first is not None
                  else f"the shorter one stops before idx {max(a.idx, b.idx, key=len)[min(len(a.idx), len(b.idx))]}")
        raise GlueHelpersError(f"{where}: {sizes}{detail}. {fix}")
    floats = a.task.is_regression or a.labels.dtype.kind == "f" or b.labels.dtype.kind == "f"
    first = _first_difference(a.labels, b.labels, close=floats)
    if first is not None:
        raise GlueHelpersError(f"{where}: the label of idx {a.idx[first]} is {a.labels[first]} vs {b.labels[first]}. "
                               f"{fix}")


def _mcnemar_columns(runs: dict[Path, Run], pairs: list[tuple[Path, Path]]) -> dict:
    """McNemar per (A, B) pair: its b, c and p for one pair; medians and the count of p < 0.05 for several."""
    tests = [stats.mcnemar(runs[a].labels, runs[a].predictions, runs[b].predictions) for a, b in pairs]
    # one pair: its own counts, as integers
    b, c, p = (tests[0][key] if len(tests) == 1 else float(np.median([test[key] for test in tests]))
               for key in ("b", "c", "p_value"))
    significant = sum(test["p_value"] < 0.05 for test in tests)
    return {"mcnemar_b": b, "mcnemar_c": c, "mcnemar_p": p, "mcnemar_significant": f"{significant}/{len(tests)}"}


def compare_task(name: str, runs_a: dict, runs_b: dict, n_resamples: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> dict:
    """One row: medians of A and B, B - A with its paired bootstrap interval, seed spread, McNemar, degenerate runs."""
    pairs = pair_runs(runs_a, runs_b, name)
    side_a, side_b = list(dict.fromkeys(a for a, _ in pairs)), list(dict.fromkeys(b for _, b in pairs))
    runs = {folder: load_run(folder) for folder in side_a + side_b}
    reference = runs[side_a[0]]
    for run in runs.values():
        check_same_rows(reference, run)
    task, labels, metric = reference.task, reference.labels, reference.task.primary_metric
    idx = stats.resample_indices(len(labels), n_resamples, seed)
    score = {f: stats.primary_value(task, labels, r.predictions) for f, r in runs.items()}
    # Same resampled rows for every run: the interval is of the difference of medians, paired example by example.
    resampled = {f: stats.resampled_metric(metric, labels, r.predictions, idx) for f, r in runs.items()}
    dist = (np.median([resampled[f] for f in side_b], axis=0) - np.median([resampled[f] for f in side_a], axis=0))
    low, high = stats.percentile_interval(dist, confidence)
    score_a, score_b = float(np.median([score[f] for f in side_a])), float(np.median([score[f] for f in side_b]))
    per_pair = stats.summarize_seeds([score[b] - score[a] for a, b in pairs])
    baseline = stats.majority_baseline(task, labels)
    row = {"task": name, "metric": metric, "n_examples": len(labels), "runs_a": len(side_a), "runs_b": len(side_b),
           "pairs": len(pairs), "score_a": score_a, "score_b": score_b, "diff": score_b - score_a,
           "ci_low": low, "ci_high": high, "verdict": stats.verdict(low, high, per_pair["min"], per_pair["max"]),
           "pair_diff_min": per_pair["min"], "pair_diff_max": per_pair["max"], "pair_diff_std": per_pair["std"],
           "degenerate_a": sum(stats.is_degenerate(score[f], baseline) for f in side_a),
           "degenerate_b": sum(stats.is_degenerate(score[f], baseline) for f in side_b)}
    # McNemar counts right and wrong answers: classification only (blank for scores, same columns everywhere).
    row.update(_mcnemar_columns(runs, pairs) if not task.is_regression else dict.fromkeys(MCNEMAR_COLUMNS, math.nan))
    return row


def compare_runs(a: str | Path, b: str | Path, n_resamples: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> pd.DataFrame:
    """The comparison table of B against A, one row per task both sides ran (see docs/compare.md)."""
    left_a, left_b = [], []
    found_a, found_b = find_runs(a, left_a), find_runs(b, left_b)
    tasks = [task for task in found_a if task in found_b]
    if not tasks:
        raise GlueHelpersError(f"{a} and {b} have no task in common (A: {', '.join(found_a)}; B: "
                               f"{', '.join(found_b)}). Compare runs of the same task.{_left_out(left_a + left_b)}")
    table = pd.DataFrame([compare_task(task, found_a[task], found_b[task], n_resamples, seed, confidence)
                          for task in tasks])
    table.attrs.update(a=str(a), b=str(b), n_resamples=n_resamples, seed=seed, confidence=confidence,
                       only_a=[x for x in found_a if x not in found_b], only_b=[x for x in found_b if x not in found_a],
                       left_a=left_a, left_b=left_b)
    return table


def _cell(column: str, value) -> str:
    """A cell as text: blank for missing, p-values in 2 significant digits, counts whole, scores to 4 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and column == "mcnemar_p":
        return f"{value:.2g}"
    if isinstance(value, float) and column in ("mcnemar_b", "mcnemar_c") and value.is_integer():
        return str(int(value))
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The table as text, ready to print or to write as markdown."""
    return pd.DataFrame({c: [_cell(c, v) for v in table[c].astype(object)] for c in table.columns}, dtype=object)


def notes(table: pd.DataFrame) -> list[str]:
    """What A and B are, how the intervals were made, the tasks only one side has, and the runs left out."""
    attrs = table.attrs
    lines = [f"A: {attrs.get('a', '?')}", f"B: {attrs.get('b', '?')}",
             f"diff = B - A; ci = {100 * attrs.get('confidence', 0.95):g}% paired bootstrap over the validation "
             f"examples ({attrs.get('n_resamples', '?')} resamples, seed {attrs.get('seed', '?')}); with several "
             "seeds, scores are medians and pair_diff_* the spread of per-seed differences."]
    for side in ("a", "b"):
        if attrs.get(f"only_{side}"):
            lines.append(f"only in {side.upper()} (not compared): {', '.join(attrs[f'only_{side}'])}")
        if attrs.get(f"left_{side}"):
            lines.append(f"left out of {side.upper()}, as not succeeded (status.json): "
                         f"{', '.join(attrs[f'left_{side}'])}")
    for row in table.itertuples():  # a verdict against a side that learned nothing says only that the other did
        for side, other in (("a", "B"), ("b", "A")):
            if getattr(row, f"degenerate_{side}") == getattr(row, f"runs_{side}"):
                lines.append(f"{row.task}: {side.upper()} collapsed on every run (no better than the majority "
                             f"class): the verdict says {other} learned the task, not that {other} is the better "
                             "recipe.")
    return lines


def write_compare(table: pd.DataFrame, out_dir: str | Path = ".") -> list[Path]:
    """Write compare.md and compare.csv into out_dir (atomically); return their paths."""
    out_dir = Path(out_dir)
    md = "\n".join(["# Comparison\n", *(f"* {line}" for line in notes(table)), "", to_markdown(formatted(table)), ""])
    return [write_text(out_dir / "compare.md", md), write_text(out_dir / "compare.csv", table.to_csv(index=False))]
