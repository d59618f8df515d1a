"""The `train` job behind `python -m glue_helpers train`: one GLUE task, the package defaults, one device or many.

The same command runs unchanged under `torchrun --nproc_per_node N -m glue_helpers train ...` or
`accelerate launch -m glue_helpers train ...` (DDP): every process trains on its shard, evaluation covers the
validation split exactly once, and only the main process writes metrics.json, predictions and the best model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .data import check_max_samples, label_names_of, load_glue
from .errors import GlueHelpersError
from .metrics import logits_to_predictions, make_compute_metrics
from .modeling import load_model, load_tokenizer
from .preprocessing import make_data_collator, tokenize_dataset
from .tasks import get_task
from .trainer import GlueTrainer
from .training import device_name, precision_name, training_arguments

CHECKPOINTS = "checkpoints"
MODEL = "model"
METRICS = "metrics.json"
PREDICTIONS = "validation_predictions.jsonl"


def resolve_sources(args) -> tuple[str, str | None]:
    """Model and data folder: the offline kit's with --smoke, else --model and --data-dir (None = the Hub)."""
    if args.smoke:
        from .offline_kit import ensure_kit

        kit = ensure_kit()
        return str(args.model or kit.model_dir), str(args.data_dir or kit.data_dir)
    if not args.model:
        raise GlueHelpersError("train needs --model (a folder or Hub id), or --smoke for the offline kit's tiny model.")
    return args.model, args.data_dir


def build_trainer(args, output_dir: Path):
    """The raw validation split and a GlueTrainer with the package defaults for this task and these options."""
    task = get_task(args.task)
    model_path, data_dir = resolve_sources(args)
    targs = training_arguments(task, str(output_dir / CHECKPOINTS), learning_rate=args.learning_rate,
                               batch_size=args.batch_size, num_train_epochs=args.epochs, seed=args.seed,
                               precision=args.precision)
    with targs.main_process_first(desc="load and tokenize"):
        raw = load_glue(task, data_dir, max_train_samples=check_max_samples("--max-train-samples",
                                                                            args.max_train_samples),
                        max_eval_samples=check_max_samples("--max-eval-samples", args.max_eval_samples),
                        seed=args.seed, splits=("train", "validation"))
        tokenizer = load_tokenizer(model_path)
        encoded = tokenize_dataset(raw, task, tokenizer)
    model = load_model(model_path, task, label_names_of(raw["train"]))
    trainer = GlueTrainer(model=model, args=targs, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                          processing_class=tokenizer, data_collator=make_data_collator(tokenizer),
                          compute_metrics=make_compute_metrics(task))
    return raw["validation"], trainer


def prediction_rows(task, validation, output) -> list[dict]:
    """One row per validation example, in dataset order: its idx, the label evaluation saw, the prediction."""
    preds = logits_to_predictions(task, output.predictions).tolist()
    labels = np.asarray(output.label_ids).tolist()
    expected = list(validation["label"])
    if len(preds) != len(validation) or not np.allclose(labels, expected):
        raise GlueHelpersError(f"Evaluation returned {len(preds)} predictions for {len(validation)} validation rows, "
                               "or in another order; it must cover every row exactly once, in order. Evaluate with "
                               "GlueTrainer (not transformers.Trainer) when train_sampling_strategy='group_by_length'.")
    idx = validation["idx"] if "idx" in validation.column_names else range(len(validation))
    return [{"idx": int(i), "label": y, "prediction": p} for i, y, p in zip(idx, labels, preds, strict=True)]


def write_outputs(trainer, output_dir: Path, report: dict, rows: list[dict], keep_checkpoints: bool) -> None:
    """From the main process only: metrics.json, the predictions and the best model (checkpoints removed)."""
    trainer.save_model(str(output_dir / MODEL))  # every rank calls it; the Trainer writes from the main one
    if not trainer.is_world_process_zero():
        return
    (output_dir / METRICS).write_text(json.dumps(report, indent=1))
    (output_dir / PREDICTIONS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    if not keep_checkpoints:
        shutil.rmtree(output_dir / CHECKPOINTS, ignore_errors=True)
    print(f"[rank {trainer.args.process_index}] wrote {output_dir / METRICS}, {output_dir / PREDICTIONS} and "
          f"{output_dir / MODEL}", flush=True)


def run(args) -> int:
    """Train, evaluate on the whole validation split, write the outputs; print the dev metrics."""
    task = get_task(args.task)
    output_dir = Path(args.output_dir).expanduser()
    validation, trainer = build_trainer(args, output_dir)
    train_metrics = trainer.train().metrics
    output = trainer.predict(trainer.eval_dataset, metric_key_prefix="eval")
    rows = prediction_rows(task, validation, output)
    report = {"task": task.name, "primary_metric": task.primary_metric, "eval": output.metrics,
              "train": train_metrics, "num_eval_predictions": len(rows), "num_eval_rows": len(validation),
              "world_size": trainer.args.world_size, "device": device_name(),
              "precision": precision_name(trainer.args), "best_checkpoint": trainer.state.best_model_checkpoint}
    write_outputs(trainer, output_dir, report, rows, args.keep_checkpoints)
    if trainer.is_world_process_zero():
        print(json.dumps({k: v for k, v in output.metrics.items() if not k.endswith("_per_second")}, indent=1))
    return 0
