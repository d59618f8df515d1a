"""What a run leaves behind for people and for the batch runner: metrics.json and the model card."""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .tasks import GlueTask, get_task

LIBRARIES = ("glue-helpers", "torch", "transformers", "datasets", "evaluate", "accelerate", "tokenizers",
             "optuna", "pandas", "numpy")


def library_versions() -> dict[str, str]:
    """Installed versions of Python and the libraries a run depends on."""
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "not installed"
    return out


def metrics_record(task: str | GlueTask, model: str, eval_metrics: dict, train_metrics: dict, *,
                   num_train_epochs: float, seed: int, device: str, **extra) -> dict:
    """The metrics.json content: task, model, all metric values, the primary one, speed, and provenance."""
    t = get_task(task)
    metrics = {k.removeprefix("eval_"): v for k, v in eval_metrics.items()
               if not k.endswith(("runtime", "per_second")) and k != "epoch"}
    return {
        "task": t.name,
        "model": str(model),
        "metrics": metrics,
        "primary_metric": t.primary_metric,
        "primary_metric_value": metrics.get(t.primary_metric),
        "train_runtime": train_metrics.get("train_runtime"),
        "train_samples_per_second": train_metrics.get("train_samples_per_second"),
        "num_train_epochs": num_train_epochs,
        "seed": seed,
        "device": device,
        "versions": library_versions(),
        **extra,
    }


def write_json(path: str | Path, record: dict) -> Path:
    """Write a record as pretty JSON, creating the folder; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def precision_note(record: dict) -> str:
    """", in bf16 mixed precision" (or fp16) for a model card; nothing for fp32 or an older record."""
    precision = record.get("precision")
    return f", in {precision} mixed precision" if precision in ("bf16", "fp16") else ""


def model_card(record: dict, task: str | GlueTask | None = None) -> str:
    """A short Markdown model card from a metrics record (pass the task itself for a custom one)."""
    t = get_task(task or record["task"])
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in record["metrics"].items() if isinstance(v, float))
    labels = ", ".join(t.label_names) or "a score (regression)"
    data = "your own data" if t.is_custom else "GLUE"
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [glue-notebooks, {t.name}]
base_model: {record["model"]}
---

# {Path(record["model"]).name} fine-tuned on {data}: {t.name}

{t.description} Labels: {labels}.

Fine-tuned with the glue-notebooks tutorial for {record["num_train_epochs"]} epoch(s), seed {record["seed"]},
on {record["device"]}{precision_note(record)}.

## Validation results

| metric | value |
|---|---|
{rows}

## Use

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="PATH_OR_HUB_ID")
```

Library versions: {", ".join(f"{k} {v}" for k, v in record["versions"].items())}.
"""


def write_model_card(folder: str | Path, record: dict, task: str | GlueTask | None = None) -> Path:
    """Write README.md (the model card) into the saved model's folder."""
    path = Path(folder) / "README.md"
    path.write_text(model_card(record, task))
    return path
