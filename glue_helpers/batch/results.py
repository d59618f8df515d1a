"""Gather a batch run's metrics.json files into results.csv, results.md and a bar chart next to a reference."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..rundir import METRICS, atomic_path, write_text
from ..tasks import GLUE_TASKS
from .plan import STATUS, read_record, task_outcome

# The reference is each GlueTask's `distilbert_dev`: one MNLI figure (matched), none for mnli-mm.
REFERENCE_NAME = "DistilBERT-base-uncased (published dev)"
SKIP_METRICS = ("loss", "runtime", "samples_per_second", "steps_per_second", "epoch")
REF_COLUMN = "distilbert_ref"


def metric_columns(metrics: dict) -> dict[str, float]:
    """The quality metrics of a metrics dict, without `eval_` prefixes, losses and timings."""
    out = {}
    for key, value in metrics.items():
        name = key.removeprefix("eval_")
        if isinstance(value, (int, float)) and not name.endswith(SKIP_METRICS):
            out[name] = float(value)
    return out


def task_score(name: str, metrics: dict) -> float | None:
    """The GLUE score of one task, x100: its metric, or the mean of its two metrics (MRPC, QQP, STS-B);
    None for a custom task, which has no place in the GLUE average."""
    task = GLUE_TASKS.get(name)
    if task is None:
        return None
    values = metric_columns(metrics)
    wanted = [values.get(m) for m in task.metric_names]
    if any(v is None or math.isnan(v) for v in wanted) or not wanted:
        return None
    return 100 * sum(wanted) / len(wanted)


def reference(name: str) -> float | None:
    """The reference score of a GLUE task (None for mnli-mm and custom tasks)."""
    task = GLUE_TASKS.get(name)
    return task.distilbert_dev if task is not None else None


def glue_group(name: str) -> str:
    """The GLUE task a task's score counts toward: GLUE scores MNLI once, the mean of matched and mismatched."""
    task = GLUE_TASKS.get(name)
    return task.scored_as if task is not None else name


def task_row(run_dir: Path, name: str) -> dict:
    """One row of the results table, from `<run_dir>/<task>/metrics.json` and status.json; an unreadable one
    makes the status 'corrupt' and is named in `note`, without scores."""
    folder = run_dir / name
    state, problem = task_outcome(folder)
    status = read_record(folder / STATUS)[0]
    result = read_record(folder / METRICS)[0] if state != "corrupt" else {}
    metrics = result.get("metrics") or {}
    score = task_score(name, metrics) if metrics else None
    return {
        "task": name, "status": state,
        **metric_columns(metrics),
        "primary_metric": result.get("primary_metric"), "primary_value": result.get("primary_metric_value"),
        "glue_score": score, REF_COLUMN: reference(name),
        "train_runtime_s": result.get("train_runtime"), "train_samples_per_s": result.get("train_samples_per_second"),
        "wall_s": status.get("seconds"), "model": result.get("model"), "note": problem,
    }


FIXED = ["primary_metric", "primary_value", "glue_score", REF_COLUMN, "train_runtime_s", "train_samples_per_s",
         "wall_s", "model", "note"]


def results_table(run_dir: str | Path, tasks: list[str]) -> pd.DataFrame:
    """One row per task: task, status, every metric any task reported, then score, reference, timings, model."""
    rows = [task_row(Path(run_dir), name) for name in tasks]
    metrics = sorted({k for r in rows for k in r} - {"task", "status", *FIXED})
    return pd.DataFrame(rows, columns=["task", "status", *metrics, *FIXED])


def glue_average(table: pd.DataFrame, column: str = "glue_score") -> tuple[float | None, int]:
    """GLUE-style average over the tasks present (MNLI-m and -mm averaged into one MNLI score), and their count."""
    scores: dict[str, list[float]] = {}
    for name, value in zip(table["task"], table[column], strict=True):
        if value is not None and not pd.isna(value):
            scores.setdefault(glue_group(name), []).append(float(value))
    per_task = [sum(v) / len(v) for v in scores.values()]
    return (sum(per_task) / len(per_task) if per_task else None), len(per_task)


def reference_average(table: pd.DataFrame) -> float | None:
    """The reference's mean over the same GLUE tasks our average covers."""
    scored = table.loc[table["glue_score"].notna(), "task"]
    refs = [reference(group) for group in {glue_group(name) for name in scored}]
    refs = [value for value in refs if value is not None]
    return sum(refs) / len(refs) if refs else None


def _cell(value) -> str:
    """A markdown table cell: 4 significant decimals for floats, blank for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no tabulate needed)."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.astype(object).itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def summary_lines(table: pd.DataFrame) -> list[str]:
    """The GLUE-style averages, and what the reference column is."""
    ours, n = glue_average(table)
    ref = reference_average(table)
    avg = f"{ours:.1f} over {n} GLUE task(s)" if ours is not None else "n/a (no finished task)"
    lines = [f"GLUE-style average (tasks with two metrics use their mean; MNLI = mean of -m and -mm): {avg}"]
    if ref is not None:
        lines.append(f"{REFERENCE_NAME} over the same tasks: {ref:.1f}")
    lines.append(f"`{REF_COLUMN}` = {REFERENCE_NAME} score x100; it has no separate mnli-mm figure (left empty).")
    return lines


def bar_labels(values: pd.Series) -> list[str]:
    """Text over each bar: the score with one decimal, or "n/a" where there is none (failed or missing)."""
    return ["n/a" if pd.isna(v) else f"{float(v):.1f}" for v in values]


def plot_results(table: pd.DataFrame, path: str | Path) -> Path:
    """Bars of our GLUE score next to the reference, per task (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(len(table))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table) + 2), 4))
    ours, ref = table["glue_score"].astype(float), table[REF_COLUMN].astype(float)
    ours_bars = ax.bar([i - 0.2 for i in x], ours.fillna(0), width=0.4, label="this run")
    ref_bars = ax.bar([i + 0.2 for i in x], ref.fillna(0), width=0.4, label=REFERENCE_NAME)
    ax.bar_label(ours_bars, labels=bar_labels(ours), fontsize=7, padding=2)
    ax.bar_label(ref_bars, labels=["no ref" if pd.isna(v) else "" for v in ref], fontsize=7, padding=2)
    ax.margins(y=0.12)
    ax.set_xticks(list(x), table["task"], rotation=30)
    ax.set_ylabel("score (x100)")
    ax.set_title("GLUE dev scores per task")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)


def write_results(run_dir: str | Path, tasks: list[str]) -> tuple[pd.DataFrame, list[Path]]:
    """Write results.csv, results.md and results.png under `run_dir`; return the table and the paths."""
    run_dir = Path(run_dir)
    table = results_table(run_dir, tasks)
    csv_path, md_path, png_path = (run_dir / f"results.{ext}" for ext in ("csv", "md", "png"))
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_text(md_path, "# GLUE batch results\n\n" + to_markdown(table) + "\n\n" + "\n\n".join(summary_lines(table))
               + "\n")
    plot_results(table, png_path)
    return table, [csv_path, md_path, png_path]
