"""`python -m glue_helpers train`: the sub-command's arguments; the job itself (`train_job`) loads on use.

Flags are named after notebook 01's parameters and take their defaults from `recipe.RECIPE`. The same command
runs unchanged under `torchrun --nproc_per_node N -m glue_helpers train ...` or
`accelerate launch -m glue_helpers train ...` (DDP).
"""

from __future__ import annotations

from .recipe import PRECISIONS, RECIPE


def run(args) -> int:
    """Run the training job (imports torch and transformers only now)."""
    from .train_job import run as run_job

    return run_job(args)


def add_model_and_data(p) -> None:
    """The flags `train` and `search` share: model, data, smoke mode and subsets (notebook parameter names)."""
    p.add_argument("--model-checkpoint", "--model", dest="model_checkpoint",
                   help="model folder or Hub id (default with --smoke: the kit's tiny model)")
    p.add_argument("--data-dir", help="local copy of nyu-mll/glue (default: the Hub)")
    p.add_argument("--smoke", action="store_true", help="use the offline kit's tiny model and synthetic data")
    p.add_argument("--max-train-samples", type=int, help="train on a random subset of this many rows")
    p.add_argument("--max-eval-samples", type=int, help="evaluate on a random subset of this many rows")
    p.add_argument("--seed", type=int, default=RECIPE["seed"])


def register(sub) -> None:
    """Add the `train` sub-command."""
    p = sub.add_parser("train", help="fine-tune on one GLUE task (works under torchrun / accelerate launch)")
    p.add_argument("--task", required=True, help="GLUE task (e.g. cola, mrpc, sst2, stsb) or a custom task's YAML")
    add_model_and_data(p)
    p.add_argument("--output-dir", default="runs/train", help="the run folder (default runs/train)")
    p.add_argument("--overwrite", action="store_true", help="replace another run's outputs in --output-dir")
    p.add_argument("--num-train-epochs", "--epochs", dest="num_train_epochs", type=float,
                   default=RECIPE["num_train_epochs"])
    p.add_argument("--batch-size", type=int, default=RECIPE["per_device_train_batch_size"],
                   help="per device; the global batch is this times the number of processes")
    p.add_argument("--learning-rate", type=float, default=RECIPE["learning_rate"])
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto (default): bf16/fp16 where the GPU or CPU runs it natively, else fp32")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the per-epoch checkpoints after training")
    p.set_defaults(func=run)
