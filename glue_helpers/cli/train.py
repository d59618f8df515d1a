"""`python -m glue_helpers train`: notebook 01's recipe as a command; runs under torchrun / accelerate launch (DDP)."""

from __future__ import annotations

import json

from ..recipe import Recipe
from .knobs import add_knobs, from_flags


def run(args) -> int:
    """Resolve the task once, check the recipe, train, print the dev metrics (imports torch only now)."""
    from ..custom_task import resolve_task
    from ..train import train

    task = resolve_task(args.task)  # a GLUE name or a custom task's YAML, resolved once here
    record = train(task, args.model_checkpoint, args.output_dir, from_flags(args, Recipe),
                   data_dir=args.data_dir, overwrite=args.overwrite, keep_checkpoints=args.keep_checkpoints,
                   smoke=args.smoke)
    if record is not None:  # the main process
        print(json.dumps(record["metrics"], indent=1))
    return 0


def add_model_and_data(p, model_default: str | None = None) -> None:
    """Add the model, data and smoke-mode flags."""
    default = f" (default {model_default})" if model_default else ""
    p.add_argument("--model-checkpoint", "--model", dest="model_checkpoint", default=model_default,
                   help=f"model folder or Hub id{default}; with --smoke: the offline kit's tiny model")
    p.add_argument("--data-dir", help="local copy of nyu-mll/glue (default: the Hub)")
    p.add_argument("--smoke", action="store_true", help="use the offline kit's tiny model and synthetic data")


def register(sub) -> None:
    """Add the `train` sub-command."""
    p = sub.add_parser("train", help="fine-tune on one GLUE task (works under torchrun / accelerate launch)")
    p.add_argument("--task", required=True, help="GLUE task (e.g. cola, mnli, sst2, stsb) or a custom task's YAML")
    add_model_and_data(p)
    p.add_argument("--output-dir", help="the run folder (default runs/<task>)")
    p.add_argument("--overwrite", action="store_true", help="replace another run's outputs in --output-dir")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the per-epoch checkpoints after training")
    add_knobs(p, Recipe)
    p.set_defaults(func=run)
