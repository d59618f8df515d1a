"""Gather a batch run's metrics.json files into results.csv, results.md and a bar chart next to a reference."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .atomic import atomic_path, write_text
from .rundir import METRICS
from .tasks import GLUE_TASKS, get_task

# DistilBERT-base-uncased, GLUE dev sets (transformers' examples/research_projects/distillation README).
# It gives one MNLI figure (matched); there is none for mnli-mm.
REFERENCE_NAME = "DistilBERT-base-uncased (published dev)"
REFERENCE = {"cola": 51.3, "mnli": 82.1, "mrpc": 87.5, "qnli": 89.2, "qqp": 88.5, "rte": 59.9, "sst2": 91.3,
             "stsb": 86.9, "wnli": 56.3}
GLUE_GROUPS = {"mnli-mm": "mnli"}  # GLUE scores MNLI once: the mean of matched and mismatched.
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


def task_score(task: str, metrics: dict) -> float | None:
    """The GLUE score of one task, x100: its metric, or the mean of its two metrics (MRPC, QQP, STS-B);
    None for a custom task, which has no place in the GLUE average."""
    if task not in GLUE_TASKS:
        return None
    values = metric_columns(metrics)
    wanted = [values.get(m) for m in get_task(task).metric_names]
    if any(v is None or math.isnan(v) for v in wanted) or not wanted:
        return None
    return 100 * sum(wanted) / len(wanted)


def task_row(run_dir: Path, task: str) -> dict:
    """One row of the results table, from `<run_dir>/<task>/metrics.json` and status.json; an unreadable one
    makes the status 'corrupt' and is named in `note`, without scores."""
    from .batch import STATUS, read_record, task_outcome

    folder = run_dir / task
    state, problem = task_outcome(folder)
    status = read_record(folder / STATUS)[0]
    result = read_record(folder / METRICS)[0] if state != "corrupt" else {}
    metrics = result.get("metrics") or {}
    score = task_score(task, metrics) if metrics else None
    return {
        "task": task, "status": state,
        **metric_columns(metrics),
        "primary_metric": result.get("primary_metric"), "primary_value": result.get("primary_metric_value"),
        "glue_score": score, REF_COLUMN: REFERENCE.get(task),
        "train_runtime_s": result.get("train_runtime"), "train_samples_per_s": result.get("train_samples_per_second"),
        "wall_s": status.get("seconds"), "model": result.get("model"), "note": problem,
    }


FIXED = ["primary_metric", "primary_value", "glue_score", REF_COLUMN, "train_runtime_s", "train_samples_per_s",
         "wall_s", "model", "note"]


def results_table(run_dir: str | Path, tasks: list[str]) -> pd.DataFrame:
    """One row per task: task, status, every metric any task reported, then score, reference, timings, model."""
    rows = [task_row(Path(run_dir), t) for t in tasks]
    metrics = sorted({k for r in rows for k in r} - {"task", "status", *FIXED})
    return pd.DataFrame(rows, columns=["task", "status", *metrics, *FIXED])


def glue_average(table: pd.DataFrame, column: str = "glue_score") -> tuple[float | None, int]:
    """GLUE-style average over the tasks present (MNLI-m and -mm averaged into one MNLI score), and their count."""
    scores: dict[str, list[float]] = {}
    for task, value in zip(table["task"], table[column], strict=True):
        if value is not None and not pd.isna(value):
            scores.setdefault(GLUE_GROUPS.get(task, task), []).append(float(value))
    per_task = [sum(v) / len(v) for v in scores.values()]
    return (sum(per_task) / len(per_task) if per_task else None), len(per_task)


def reference_average(table: pd.DataFrame) -> float | None:
    """The reference's mean over the same GLUE tasks our average covers."""
    ours = {GLUE_GROUPS.get(t, t) for t, v in zip(table["task"], table["glue_score"], strict=True) if pd.notna(v)}
    refs = [REFERENCE[t] for t in ours if t in REFERENCE]
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
