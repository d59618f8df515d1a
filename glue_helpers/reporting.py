"""What a run leaves behind for people and for the batch runner: metrics.json and the model card."""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from .data import data_source
from .errors import GlueHelpersError
from .metrics import logits_to_predictions
from .modeling import peft_summary
from .rundir import METRICS_SCHEMA, RunDir, write_json, write_text
from .stats import run_statistics
from .tasks import GlueTask
from .training import device_name, precision_name

LIBRARIES = ("glue-helpers", "torch", "transformers", "datasets", "evaluate", "accelerate", "tokenizers",
             "peft", "optuna", "pandas", "numpy")


def library_versions() -> dict[str, str]:
    """Installed versions of Python and the libraries a run depends on."""
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "not installed"
    return out


def metrics_record(task: GlueTask, model: str, eval_metrics: dict, train_metrics: dict, *, args,
                   train_rows: int, eval_rows: int, data_dir=None, **extra) -> dict:
    """metrics.json's record: task, model, data read, metrics, primary metric, speed, hyperparameters used, rows."""
    metrics = {k.removeprefix("eval_"): v for k, v in eval_metrics.items()
               if not k.endswith(("runtime", "per_second")) and k != "epoch"}
    return {
        "schema": METRICS_SCHEMA, "task": task.name, "model": str(model), "data": data_source(task, data_dir),
        "metrics": metrics, "primary_metric": task.primary_metric,
        "primary_metric_value": metrics.get(task.primary_metric),
        "train_runtime": train_metrics.get("train_runtime"),
        "train_samples_per_second": train_metrics.get("train_samples_per_second"),
        "num_train_epochs": args.num_train_epochs, "learning_rate": args.learning_rate,
        "batch_size": args.per_device_train_batch_size, "world_size": args.world_size, "seed": args.seed,
        "precision": precision_name(args), "train_rows": train_rows, "eval_rows": eval_rows,
        "device": device_name(), "versions": library_versions(), **extra,
    }


def prediction_rows(task: GlueTask, validation, predictions, label_ids) -> list[dict]:
    """Validation rows in dataset order (idx, label, prediction); an error unless each row was scored once, in order."""
    labels, preds = np.asarray(label_ids).tolist(), np.asarray(predictions).tolist()
    if len(preds) != len(validation) or not np.allclose(labels, list(validation["label"])):
        raise GlueHelpersError(f"Evaluation returned {len(preds)} predictions for {len(validation)} validation rows, "
                               "or in another order; it must cover every row exactly once, in order. Evaluate with "
                               "GlueTrainer, or a Trainer whose train_sampling_strategy is not 'group_by_length'.")
    idx = validation["idx"] if "idx" in validation.column_names else range(len(validation))
    cast = float if task.is_regression else int
    return [{"idx": int(i), "label": cast(y), "prediction": cast(p)}
            for i, y, p in zip(idx, labels, preds, strict=True)]


def score_run(trainer, task: GlueTask, model: str, train_result, validation, *, train_rows: int,
              **provenance) -> tuple[dict, list[dict]]:
    """Predict the whole validation split once; return the run's metrics.json record and its prediction rows."""
    output = trainer.predict(trainer.eval_dataset, metric_key_prefix="eval")
    rows = prediction_rows(task, validation, logits_to_predictions(task, output.predictions), output.label_ids)
    record = metrics_record(task, model, output.metrics, train_result.metrics, args=trainer.args,
                            train_rows=train_rows, eval_rows=len(validation),
                            best_checkpoint=trainer.state.best_model_checkpoint, **peft_summary(trainer.model),
                            **provenance)
    return record, rows


def write_run_files(run_dir: RunDir, record: dict, rows: list[dict], task: GlueTask) -> dict:
    """Add the run's statistics; write the model card, predictions, then metrics.json; finish the run; the record."""
    labels, predictions = [r["label"] for r in rows], [r["prediction"] for r in rows]
    record = {**record, **run_statistics(task, labels, predictions)}
    if run_dir.model.is_dir():
        write_text(run_dir.model / "README.md", model_card(record, task))
    write_text(run_dir.predictions, "".join(json.dumps(r) + "\n" for r in rows))
    write_json(run_dir.metrics, record)  # last, atomically: a metrics.json that exists belongs to a finished run
    run_dir.finish()
    return record


def lora_note(record: dict) -> str:
    """The model card's paragraph on LoRA (rank, alpha, trainable share); nothing for full fine-tuning."""
    if record.get("peft") != "lora":
        return ""
    trained = (f"{record['trainable_parameters']:,} of {record['total_parameters']:,} parameters "
               f"({record['trainable_share']:.2%})")
    settings = f"rank r={record['lora_r']}, alpha={record['lora_alpha']}, dropout {record['lora_dropout']}"
    modules = ", ".join(record.get("lora_target_modules") or [])
    return f"""
Trained with LoRA ({settings}) on {modules}, plus the classification head in full: {trained} were trained.
This folder holds the merged model (the adapters folded into the weights), which loads without peft; the adapter
alone is in the run's `adapter` folder (`PeftModel.from_pretrained(base_model, "adapter")`).
"""


def model_card(record: dict, task: GlueTask) -> str:
    """A short Markdown model card from a metrics record (pass the task itself for a custom one)."""
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in record["metrics"].items() if isinstance(v, float))
    labels = ", ".join(task.label_names) or "a score (regression)"
    data = "your own data" if task.is_custom else "GLUE"
    precision = f", in {record.get('precision')} mixed precision" if record.get("precision") in ("bf16", "fp16") else ""
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [glue-notebooks, {task.name}]
base_model: {record["model"]}
---

# {Path(record["model"]).name} fine-tuned on {data}: {task.name}

{task.description} Labels: {labels}.

Fine-tuned with the glue-notebooks tutorial for {record["num_train_epochs"]} epoch(s), seed {record["seed"]},
on {record["device"]}{precision}.
{lora_note(record)}
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
