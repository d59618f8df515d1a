"""Gather a batch run's metrics.json files into results.csv, results.md and a bar chart next to a reference."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .. import stats
from ..rundir import METRICS, atomic_path, check_metrics, write_text
from ..tasks import GLUE_TASKS, model_reference
from .plan import STATUS, read_record, split_grid_run, task_outcome

# `distilbert_ref`: each GlueTask's `distilbert_dev`, whatever the model; `model_ref`: the run's own model's score.
REFERENCE_NAME = "DistilBERT-base-uncased (published dev)"
# A run further than this (x100) from its model's published dev score is marked in `vs_model_ref`: seeds alone move
# small GLUE tasks by several points (Dodge et al. 2020), so only a wider gap is worth a look.
REFERENCE_BAND = 5.0
SKIP_METRICS = ("loss", "runtime", "samples_per_second", "steps_per_second", "epoch")
REF_COLUMN = "distilbert_ref"
MODEL_COLUMN = "model_slug"  # a grid's (--models) model: its folder under the batch folder


def metric_columns(metrics: dict) -> dict[str, float]:
    """The quality metrics of a metrics dict, without `eval_` prefixes, losses and timings."""
    return {key.removeprefix("eval_"): float(value) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not key.endswith(SKIP_METRICS)}


def task_score(name: str, metrics: dict) -> float | None:
    """A GLUE task's score x100: its metric, or the mean of its two (MRPC, QQP, STS-B); None for a custom task."""
    task, values = GLUE_TASKS.get(name), metric_columns(metrics)
    wanted = [values.get(m) for m in task.metric_names] if task is not None else []
    if not wanted or any(v is None or math.isnan(v) for v in wanted):
        return None
    return 100 * sum(wanted) / len(wanted)


def reference(name: str) -> float | None:
    """The reference score of a GLUE task (None for mnli-mm and custom tasks)."""
    return getattr(GLUE_TASKS.get(name), "distilbert_dev", None)


def glue_group(name: str) -> str:
    """The GLUE task a task's score counts toward: GLUE scores MNLI once, the mean of matched and mismatched."""
    return getattr(GLUE_TASKS.get(name), "scored_as", name)


def _degenerate(result: dict):
    """The run's degenerate flag: as metrics.json records it, else from its baseline and score; None when unknown."""
    if "degenerate" in result:
        return bool(result["degenerate"])
    value, baseline = result.get("primary_metric_value"), result.get("majority_baseline")
    return None if value is None or baseline is None else stats.is_degenerate(value, baseline)


def _reference_band(value: float | None, reference_score: float | None) -> str:
    """'below' or 'above' when a score (x100) is further than REFERENCE_BAND from its model's published one."""
    if value is None or reference_score is None or math.isnan(value):
        return ""
    gap = 100 * value - reference_score
    return "below" if gap < -REFERENCE_BAND else "above" if gap > REFERENCE_BAND else ""


def task_row(run_dir: Path, run: str) -> dict:
    """One results row from a run's metrics.json and status.json; an unreadable one is 'corrupt', named in `note`."""
    slug, name, seed = split_grid_run(run)
    folder = run_dir / run
    state, problem = task_outcome(folder)
    status = read_record(folder / STATUS)[0]
    result = read_record(folder / METRICS)[0] if state != "corrupt" else {}
    result = check_metrics(result, folder / METRICS) if result else {}
    metrics = result.get("metrics") or {}
    value = result.get("primary_metric_value")
    low, high = (result.get("primary_metric_ci95") or [None, None])[:2]
    task = GLUE_TASKS.get(name)
    model_ref = model_reference(result["model"], task) if task is not None and result.get("model") else None
    return {
        "run": run, MODEL_COLUMN: slug, "task": name, "seed": seed if seed is not None else result.get("seed"),
        "status": state,
        **metric_columns(metrics),
        "primary_metric": result.get("primary_metric"), "primary_value": value, "ci_low": low, "ci_high": high,
        "majority_baseline": result.get("majority_baseline"), "degenerate": _degenerate(result),
        "glue_score": task_score(name, metrics) if metrics else None, REF_COLUMN: reference(name),
        "model_ref": model_ref, "vs_model_ref": _reference_band(value, model_ref),
        "train_runtime_s": result.get("train_runtime"), "train_samples_per_s": result.get("train_samples_per_second"),
        "wall_s": status.get("seconds"), "model": result.get("model"), "note": problem,
    }


LEADING = ["run", "task", "seed", "status"]
FIXED = ["primary_metric", "primary_value", "ci_low", "ci_high", "majority_baseline", "degenerate", "glue_score",
         REF_COLUMN, "model_ref", "vs_model_ref", "train_runtime_s", "train_samples_per_s", "wall_s", "model", "note"]


def results_table(run_dir: str | Path, runs: list[str]) -> pd.DataFrame:
    """One row per run: names, status, every metric reported, the primary metric and interval, references, timings."""
    rows = [task_row(Path(run_dir), run) for run in runs]
    leading = LEADING[:1] + [MODEL_COLUMN] * any(r[MODEL_COLUMN] for r in rows) + LEADING[1:]
    metrics = sorted({k for r in rows for k in r} - {*LEADING, *FIXED, MODEL_COLUMN})
    return pd.DataFrame(rows, columns=[*leading, *metrics, *FIXED])


def group_keys(table: pd.DataFrame) -> list[str]:
    """What one summary row is: a task, or a model and task in a grid."""
    return [MODEL_COLUMN, "task"] if MODEL_COLUMN in table.columns else ["task"]


def _spread(values: list[float], prefix: str = "") -> dict:
    """median, mean, std, min and max (x100) of some scores; blanks for none."""
    summary = stats.summarize_seeds([100 * v for v in values]) if values else {}
    return {f"{prefix}{key}": summary.get(key, math.nan) for key in ("median", "mean", "std", "min", "max")}


def task_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per task (and model) over its seeds: counts, primary metric x100 spread (`ok_`: non-degenerate), refs."""
    rows, keys = [], group_keys(table)
    for key, runs in table.groupby(keys, sort=False):
        *slug, name = key
        done = runs[runs["status"] == "succeeded"]
        flagged = done["degenerate"].eq(True)
        values, ok = done["primary_value"].dropna().tolist(), done.loc[~flagged, "primary_value"].dropna().tolist()
        glue = done["glue_score"].astype(float)  # medians skip missing values: nan when there are none
        rows.append({
            **dict(zip([MODEL_COLUMN], slug, strict=False)), "task": name,
            "metric": next(iter(done["primary_metric"].dropna()), None), "seeds": len(done),
            "failed": len(runs) - len(done), "degenerate": int(flagged.sum()),
            **_spread(values), **_spread(ok, "ok_"),
            "glue_median": float(glue.median()), "glue_median_ok": float(glue[~flagged].median()),
            REF_COLUMN: reference(name), "model_ref": float(done["model_ref"].astype(float).median()),
            "outside_ref": int((done["vs_model_ref"] != "").sum()),
        })
    return pd.DataFrame(rows)


def glue_average(summary: pd.DataFrame, column: str = "glue_median") -> tuple[float | None, int]:
    """GLUE-style average of per-task medians (MNLI-m and -mm as one MNLI score) and how many GLUE tasks it covers."""
    scored = summary[summary[column].notna()]
    per_task = scored[column].astype(float).groupby(scored["task"].map(glue_group), sort=False).mean()
    return (float(per_task.mean()) if len(per_task) else None), len(per_task)


def reference_average(summary: pd.DataFrame) -> float | None:
    """The DistilBERT reference's mean over the same GLUE tasks our average covers."""
    scored = summary.loc[summary["glue_median"].notna(), "task"]
    refs = [ref for group in {glue_group(name) for name in scored} if (ref := reference(group)) is not None]
    return sum(refs) / len(refs) if refs else None


def _cell(value) -> str:
    """A markdown table cell: 4 significant decimals for floats, blank for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no tabulate needed); text cells as they are, numbers as `_cell` writes them."""
    rows = [list(table.columns), ["---"] * len(table.columns)]
    rows += [[_cell(v) for v in row] for row in table.astype(object).itertuples(index=False)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


def summary_lines(summary: pd.DataFrame) -> list[str]:
    """The GLUE-style averages (with and without degenerate runs; per model in a grid) and what the columns are."""
    if MODEL_COLUMN in summary.columns:
        per_model = [(slug, glue_average(rows)) for slug, rows in summary.groupby(MODEL_COLUMN, sort=False)]
        lines = [f"{slug}: GLUE-style average of the per-task medians: {avg:.1f} over {n} GLUE task(s)"
                 if avg is not None else f"{slug}: GLUE-style average: n/a (no finished task)"
                 for slug, (avg, n) in per_model]
        summary = summary.drop(columns=MODEL_COLUMN)  # the lines below: over every model's runs
    else:
        ours, n = glue_average(summary)
        avg = f"{ours:.1f} over {n} GLUE task(s)" if ours is not None else "n/a (no finished task)"
        lines = [f"GLUE-style average of the per-task medians (tasks with two metrics use their mean; MNLI = mean of "
                 f"-m and -mm): {avg}"]
    ok, ref = glue_average(summary, "glue_median_ok")[0], reference_average(summary)
    degenerate = int(summary["degenerate"].sum())
    if degenerate and ok is not None:
        lines.append(f"Without the {degenerate} degenerate run(s) (no better than the majority class): {ok:.1f}")
    if ref is not None:
        lines.append(f"{REFERENCE_NAME} over the same tasks: {ref:.1f}")
    lines.append(f"median/mean/std/min/max: the primary metric x100 over the finished seeds; ok_*: the same without "
                 f"degenerate runs; `{REF_COLUMN}` = {REFERENCE_NAME} x100 (no separate mnli-mm figure); `model_ref` "
                 f"= the run's own model's published dev score, when known; outside_ref counts runs more than "
                 f"{REFERENCE_BAND:g} points from it.")
    return lines


def bar_labels(values: pd.Series) -> list[str]:
    """Text over each task: the median with one decimal, or "n/a" where there is none (failed or missing)."""
    return ["n/a" if pd.isna(v) else f"{float(v):.1f}" for v in values]


def plot_results(table: pd.DataFrame, summary: pd.DataFrame, path: str | Path) -> Path:
    """Per task: each finished seed as a point (degenerate: red cross), the median as a line, references as markers."""
    import matplotlib.pyplot as plt
    import numpy as np

    plt.switch_backend("Agg")
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(summary) + 2), 4))
    keys = group_keys(summary)
    x = {key: i for i, key in enumerate(summary[keys].itertuples(index=False, name=None))}  # ([model,] task): i
    pos = np.arange(len(x))
    # the median as a short line, not a bar from 0: the axis then fits the seeds, and their spread shows
    ax.hlines(summary["median"], pos - 0.3, pos + 0.3, color="#6baed6", linewidth=3, label="median of seeds")
    for i, (median, text) in enumerate(zip(summary["median"], bar_labels(summary["median"]), strict=True)):
        if not pd.isna(median):  # a task with no finished seed has no point to label (its row says n/a)
            ax.annotate(text, (i - 0.3, median), fontsize=7, ha="right", va="center", xytext=(-2, 0),
                        textcoords="offset points")
    done = table[(table["status"] == "succeeded") & table["primary_value"].notna()]
    for key, runs in done.groupby(keys, sort=False):
        jitter = np.linspace(-0.18, 0.18, len(runs)) if len(runs) > 1 else np.zeros(1)
        bad = runs["degenerate"].eq(True).to_numpy()
        xs, ys = x[key] + jitter, 100 * runs["primary_value"].astype(float).to_numpy()
        ax.scatter(xs[~bad], ys[~bad], s=18, color="#08519c", zorder=3, label="one seed")
        ax.scatter(xs[bad], ys[bad], s=30, marker="x", color="#cb181d", zorder=3, label="degenerate seed")
    for column, marker, label in ((REF_COLUMN, "D", REFERENCE_NAME), ("model_ref", "*", "this model, published")):
        if summary[column].notna().any():
            ax.scatter(pos + 0.36, summary[column].astype(float), marker=marker, s=28, color="#636363", zorder=3,
                       label=label)
    handles = dict(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    ax.legend(handles.values(), handles.keys(), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22),
              ncol=3)
    ax.set_xticks(pos, ["/".join(key) for key in x], rotation=30)
    ax.set(ylabel="primary metric (x100)", title="GLUE dev scores per task and seed", ymargin=0.12)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)


def write_results(run_dir: str | Path, runs: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """Write results.csv, results_summary.csv, results.md and results.png; return the table, summary and paths."""
    run_dir = Path(run_dir)
    table = results_table(run_dir, runs)
    summary = task_summary(table)
    paths = [run_dir / name for name in ("results.csv", "results_summary.csv", "results.md", "results.png")]
    csv_path, summary_path, md_path, png_path = paths
    for frame, path in ((table, csv_path), (summary, summary_path)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    text = ["# GLUE batch results", "## Per task", to_markdown(summary), *summary_lines(summary), "## Per run",
            to_markdown(table)]
    write_text(md_path, "\n\n".join(text) + "\n")
    plot_results(table, summary, png_path)
    return table, summary, paths
