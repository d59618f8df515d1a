"""The `train` job behind `python -m glue_helpers train`: notebook 01's recipe for one task, on one device or many.

It makes the same calls as the notebook's cells (`load_glue` = its two data cells, `tokenize_dataset` = its
`preprocess_function`, `training_arguments` = its `TrainingArguments(...)`, `make_compute_metrics` = its
`compute_metrics`) and writes the same run folder, so the two give the same metrics.json (a test checks it).

The same command runs unchanged under `torchrun --nproc_per_node N -m glue_helpers train ...` or
`accelerate launch -m glue_helpers train ...` (DDP): every process trains on its shard, evaluation covers the
validation split exactly once, and only the main process writes metrics.json, predictions and the best model.
"""

from __future__ import annotations

import json
import shutil

from transformers import set_seed

from .data import check_max_samples, label_names_of, load_glue
from .errors import GlueHelpersError
from .metrics import logits_to_predictions, make_compute_metrics
from .modeling import load_model, load_tokenizer
from .preprocessing import make_data_collator, tokenize_dataset
from .reporting import metrics_record, prediction_rows, write_run_files
from .rundir import RunDir
from .tasks import get_task
from .trainer import GlueTrainer
from .training import check_training_parameters, training_arguments


def resolve_sources(args) -> tuple[str, str | None]:
    """Model and data folder: the offline kit's with --smoke, else --model-checkpoint and --data-dir (None = Hub)."""
    if args.smoke:
        from .offline_kit import ensure_kit

        kit = ensure_kit()
        return str(args.model_checkpoint or kit.model_dir), str(args.data_dir or kit.data_dir)
    if not args.model_checkpoint:
        raise GlueHelpersError("train needs --model-checkpoint (a folder or Hub id), or --smoke for the offline kit's "
                               "tiny model.")
    return args.model_checkpoint, args.data_dir


def build_trainer(args, task, run_dir: RunDir):
    """The raw splits and a GlueTrainer with notebook 01's recipe for this task and these options."""
    model_path, data_dir = resolve_sources(args)
    targs = training_arguments(task, str(run_dir.checkpoints), learning_rate=args.learning_rate,
                               batch_size=args.batch_size, num_train_epochs=args.num_train_epochs, seed=args.seed,
                               precision=args.precision)
    with targs.main_process_first(desc="load and tokenize"):
        if targs.process_index == 0:  # before the other ranks touch the folder
            run_dir.prepare(overwrite=args.overwrite)
        raw = load_glue(task, data_dir, max_train_samples=args.max_train_samples,
                        max_eval_samples=args.max_eval_samples, seed=args.seed, splits=("train", "validation"))
        tokenizer = load_tokenizer(model_path)
        encoded = tokenize_dataset(raw, task, tokenizer)
    set_seed(args.seed)  # the new head's random init, as in the notebook
    model = load_model(model_path, task, label_names_of(raw["train"]))
    trainer = GlueTrainer(model=model, args=targs, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                          processing_class=tokenizer, data_collator=make_data_collator(tokenizer),
                          compute_metrics=make_compute_metrics(task))
    return raw, trainer, model_path, data_dir


def run(args) -> int:
    """Train, evaluate on the whole validation split, write the run folder; print the dev metrics."""
    task = get_task(args.task)  # a GLUE name or a custom task's YAML, resolved once here
    check_training_parameters(learning_rate=args.learning_rate, batch_size=args.batch_size,
                              num_train_epochs=args.num_train_epochs, seed=args.seed, precision=args.precision)
    check_max_samples("--max-train-samples", args.max_train_samples)
    check_max_samples("--max-eval-samples", args.max_eval_samples)
    run_dir = RunDir(args.output_dir)
    raw, trainer, model_path, data_dir = build_trainer(args, task, run_dir)
    train_result = trainer.train()
    output = trainer.predict(trainer.eval_dataset, metric_key_prefix="eval")
    rows = prediction_rows(task, raw["validation"], logits_to_predictions(task, output.predictions), output.label_ids)
    record = metrics_record(task, model_path, output.metrics, train_result.metrics, args=trainer.args,
                            train_rows=len(raw["train"]), eval_rows=len(raw["validation"]), data_dir=data_dir,
                            smoke=args.smoke, max_train_samples=args.max_train_samples,
                            max_eval_samples=args.max_eval_samples,
                            best_checkpoint=trainer.state.best_model_checkpoint)
    trainer.save_model(str(run_dir.model))  # every rank calls it; the Trainer writes from the main one
    if not trainer.is_world_process_zero():
        return 0
    write_run_files(run_dir, record, rows, task)
    if not args.keep_checkpoints:
        shutil.rmtree(run_dir.checkpoints, ignore_errors=True)
    print(f"[rank {trainer.args.process_index}] wrote {run_dir.metrics}, {run_dir.predictions} and {run_dir.model}",
          flush=True)
    print(json.dumps(record["metrics"], indent=1))
    return 0
