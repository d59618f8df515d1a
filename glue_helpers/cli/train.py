"""`python -m glue_helpers train`: notebook 01's recipe as a command (`glue_helpers.train`, loaded on use).

Flags are named after notebook 01's parameters and take their defaults from `glue_helpers.recipe`. The same
command runs unchanged under `torchrun --nproc_per_node N -m glue_helpers train ...` or
`accelerate launch -m glue_helpers train ...` (DDP).
"""

from __future__ import annotations

import json

from ..recipe import (
    BATCH_SIZE,
    LEARNING_RATE,
    LORA_ALPHA,
    LORA_DROPOUT,
    LORA_LEARNING_RATE,
    LORA_R,
    LORA_TARGET_MODULES,
    NUM_TRAIN_EPOCHS,
    PRECISION,
    PRECISIONS,
    REPORT_TO,
    REPORT_TOS,
    SEED,
)


def run(args) -> int:
    """Resolve the task once, train, print the dev metrics (imports torch and transformers only now)."""
    from ..custom_task import resolve_task
    from ..data import check_max_samples
    from ..train import train

    task = resolve_task(args.task)  # a GLUE name or a custom task's YAML, resolved once here
    check_max_samples("--max-train-samples", args.max_train_samples)
    check_max_samples("--max-eval-samples", args.max_eval_samples)
    record = train(task, args.model_checkpoint, args.output_dir, data_dir=args.data_dir,
                   learning_rate=args.learning_rate, batch_size=args.batch_size,
                   num_train_epochs=args.num_train_epochs, seed=args.seed, precision=args.precision,
                   max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples,
                   overwrite=args.overwrite, keep_checkpoints=args.keep_checkpoints, smoke=args.smoke,
                   report_to=args.report_to, **lora_options(args))
    if record is not None:  # the main process
        print(json.dumps(record["metrics"], indent=1))
    return 0


def add_model_and_data(p, model_default: str | None = None) -> None:
    """The flags `train` and `search` share: model, data, smoke mode, subsets and seed (notebook parameter names)."""
    default = f" (default {model_default})" if model_default else ""
    p.add_argument("--model-checkpoint", "--model", dest="model_checkpoint", default=model_default,
                   help=f"model folder or Hub id{default}; with --smoke: the offline kit's tiny model")
    p.add_argument("--data-dir", help="local copy of nyu-mll/glue (default: the Hub)")
    p.add_argument("--smoke", action="store_true", help="use the offline kit's tiny model and synthetic data")
    p.add_argument("--max-train-samples", type=int, help="train on a random subset of this many rows")
    p.add_argument("--max-eval-samples", type=int, help="evaluate on a random subset of this many rows")
    p.add_argument("--seed", type=int, default=SEED,
                   help="seed of the data subsets, the training and (search) the sampler (default %(default)s)")
    p.add_argument("--report-to", default=REPORT_TO, choices=REPORT_TOS,
                   help="experiment tracking, offline into the run folder's tracking/ (default %(default)s)")


def lora_options(args) -> dict:
    """The LoRA flags as `train`'s and `prepare_search`'s keyword arguments."""
    return dict(peft=args.peft, lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                lora_target_modules=args.lora_target_modules)


def number(text: str) -> int | float:
    """A flag's number as the notebook would write it: 16 stays an int, 0.5 is a float."""
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def add_lora(p) -> None:
    """The LoRA flags `train` and `search` share (notebook 01's parameter names)."""
    p.add_argument("--peft", choices=("lora",),
                   help=f"lora: train LoRA adapters and the head only (use a higher --learning-rate, e.g. "
                        f"{LORA_LEARNING_RATE:g}); default: full fine-tuning")
    p.add_argument("--lora-r", type=int, default=LORA_R, help="LoRA rank (default %(default)s)")
    p.add_argument("--lora-alpha", type=number, default=LORA_ALPHA,
                   help="LoRA scaling: adapters output x alpha/r (default %(default)s)")
    p.add_argument("--lora-dropout", type=float, default=LORA_DROPOUT, help="default %(default)s")
    p.add_argument("--lora-target-modules", nargs="+", metavar="NAME", default=LORA_TARGET_MODULES,
                   help="modules to adapt (default: the attention projections of the architecture)")


def register(sub) -> None:
    """Add the `train` sub-command."""
    p = sub.add_parser("train", help="fine-tune on one GLUE task (works under torchrun / accelerate launch)")
    p.add_argument("--task", required=True, help="GLUE task (e.g. cola, mnli, sst2, stsb) or a custom task's YAML")
    add_model_and_data(p)
    p.add_argument("--output-dir", help="the run folder (default runs/<task>)")
    p.add_argument("--overwrite", action="store_true", help="replace another run's outputs in --output-dir")
    p.add_argument("--num-train-epochs", "--epochs", dest="num_train_epochs", type=float, default=NUM_TRAIN_EPOCHS,
                   help="default %(default)s")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help="per device (default %(default)s); the global batch is this times the number of processes")
    p.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float, default=LEARNING_RATE,
                   help="default %(default)s")
    p.add_argument("--precision", default=PRECISION, choices=PRECISIONS,
                   help="auto (default): bf16/fp16 where the GPU or CPU runs it natively, else fp32")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the per-epoch checkpoints after training")
    add_lora(p)
    p.set_defaults(func=run)
