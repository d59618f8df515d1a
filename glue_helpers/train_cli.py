"""`python -m glue_helpers train`: the sub-command's arguments; the job itself (`train_job`) loads on use.

The same command runs unchanged under `torchrun --nproc_per_node N -m glue_helpers train ...` or
`accelerate launch -m glue_helpers train ...` (DDP).
"""

from __future__ import annotations

from .recipe import PRECISIONS, RECIPE


def run(args) -> int:
    """Run the training job (imports torch and transformers only now)."""
    from .train_job import run as run_job

    return run_job(args)


def register(sub) -> None:
    """Add the `train` sub-command."""
    p = sub.add_parser("train", help="fine-tune on one GLUE task (works under torchrun / accelerate launch)")
    p.add_argument("--task", required=True, help="GLUE task, e.g. cola, mrpc, sst2, stsb")
    p.add_argument("--model", help="model folder or Hub id (default with --smoke: the kit's tiny model)")
    p.add_argument("--data-dir", help="local GLUE folder in the nyu-mll/glue layout (default: the Hub)")
    p.add_argument("--smoke", action="store_true", help="use the offline kit's tiny model and synthetic data")
    p.add_argument("--output-dir", default="runs/train", help="where metrics.json and model/ go (default runs/train)")
    p.add_argument("--epochs", type=float, default=RECIPE["num_train_epochs"])
    p.add_argument("--batch-size", type=int, default=RECIPE["per_device_train_batch_size"],
                   help="per device; the global batch is this times the number of processes")
    p.add_argument("--learning-rate", type=float, default=RECIPE["learning_rate"])
    p.add_argument("--max-train-samples", type=int, help="train on a random subset of this many rows")
    p.add_argument("--max-eval-samples", type=int, help="evaluate on a random subset of this many rows")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto (default): bf16/fp16 where the GPU or CPU runs it natively, else fp32")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the per-epoch checkpoints after training")
    p.set_defaults(func=run)
