"""`python -m glue_helpers search`: notebook 02, run with papermill, each flag one of its parameters. One command is one
worker; start several with the same --storage and --study-name to scale out.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..recipe import MODEL_CHECKPOINT, TASK, Recipe, SearchSettings, search_dir_for
from .knobs import add_knobs, from_flags
from .train import add_model_and_data

# The recipe knobs a search takes as flags (notebook 02's parameters of the same names); the others are searched.
SEARCH_KNOBS = ("seed", "max_train_samples", "max_eval_samples", "report_to", "peft", "lora_r", "lora_alpha",
                "lora_dropout", "lora_target_modules")
NOTEBOOK = "02_hyperparameter_search.ipynb"
SPACE_EXAMPLE = '{"learning_rate": {"low": 0.00001, "high": 0.0001, "log": true}}'

EXAMPLES = """examples:
  # the recipe as trial 0, trials until they cost 2 recipe runs, then the recipe and the 2 best on all the data
  # with 3 seeds each (runs of notebook 01); the best of those is saved in runs/cola-search/best-model
  python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased --retrain
  # scale out: run this on N machines (or N times on one) with one shared storage
  python -m glue_helpers search --task cola --storage journal:///shared/cola.log --study-name cola --n-trials 20 \\
      --worker $i
  # then once: the re-check on the full training set, and the winner saved with metrics.json
  python -m glue_helpers search --task cola --storage journal:///shared/cola.log --study-name cola --retrain-only
  # LoRA: the search then tries LoRA's learning rates and ranks
  python -m glue_helpers search --task cola --peft lora --study-name cola-lora --n-trials 10
  # on a Ray cluster: Ray Tune with TPE and ASHA, one trial per GPU, then the re-check of the best
  python -m glue_helpers search --task cola --backend ray --address auto --n-trials 20 --retrain
Each run leaves notebook 02's executed copy (and its log) in --output-dir."""


def _absolute(value):
    """A path that exists from here, made absolute (the notebook may run elsewhere); anything else as given."""
    return str(Path(value).expanduser().resolve()) if isinstance(value, str) and Path(value).expanduser().exists() \
        else value


def storage_parameter(storage: str | None) -> str | None:
    """The --storage value for the notebook: a file path made absolute, a URL as given."""
    return storage if storage is None or "://" in storage else str(Path(storage).expanduser().resolve())


def notebook_parameters(args) -> dict:
    """Notebook 02's parameters from the flags, each checked here and named by its flag."""
    from ..custom_task import resolve_task
    from ..rundir import read_yaml
    from ..search.space import validate_search_space

    knobs = from_flags(args, Recipe, SEARCH_KNOBS)
    settings = from_flags(args, SearchSettings)
    space = read_yaml(args.space, "--space", SPACE_EXAMPLE, inline=True) if args.space else None
    if space is not None:
        validate_search_space(space, knobs.peft)
    task = resolve_task(_absolute(args.task))  # a GLUE name, or a custom task's YAML: read and checked here
    output_dir = Path(args.output_dir or search_dir_for(task.name)).expanduser().resolve()
    return {"task": getattr(task, "source", "") or task.name, "model_checkpoint": _absolute(args.model_checkpoint),
            "data_dir": _absolute(args.data_dir), "smoke": args.smoke, "output_dir": str(output_dir),
            "storage": storage_parameter(args.storage), "study_name": args.study_name,
            "worker": args.worker if args.worker is not None else os.getpid() % 1000, "search_space": space,
            "retrain": args.retrain or args.retrain_only, "retrain_only": args.retrain_only,
            "ray_address": args.address, **{name: getattr(knobs, name) for name in SEARCH_KNOBS},
            **{name: getattr(settings, name) for name in vars(settings)}}


def run(args) -> int:
    """Check the flags, run notebook 02 with them (its output streamed here), leave the executed notebook."""
    from ..batch.plan import notebook_path
    from ..batch.runner import run_notebook

    parameters = notebook_parameters(args)
    output_dir = Path(parameters["output_dir"])
    return run_notebook(notebook_path(NOTEBOOK), output_dir, parameters, f"worker-{parameters['worker']}")


def register(sub) -> None:
    """Add the `search` sub-command."""
    p = sub.add_parser("search", help="run notebook 02's hyperparameter search (one worker of a possibly shared study)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default=TASK, help="GLUE task or a custom task's YAML (default: %(default)s)")
    add_model_and_data(p, model_default=MODEL_CHECKPOINT)
    p.add_argument("--storage", help="Optuna storage: a .db (SQLite) or .log (journal) path, journal:///path, or a "
                                     "database URL (default: SQLite in --output-dir)")
    p.add_argument("--study-name", help="study to create or continue (default: glue-TASK)")
    p.add_argument("--output-dir", help="trial folders, default storage, re-check runs, the winner and the executed "
                                        "notebook (default runs/<task>-search)")
    p.add_argument("--worker", type=int, help="worker number, offsets the sampler seed (default: from the pid)")
    p.add_argument("--space", help="search space as a JSON/YAML file or inline JSON (default: notebook 02's)")
    add_knobs(p, Recipe, SEARCH_KNOBS)
    add_knobs(p, SearchSettings)
    p.add_argument("--address", help="ray: the cluster, 'auto' or ray://HOST:10001 (default: a local one)")
    p.add_argument("--retrain", action="store_true",
                   help="after the trials, re-check the recipe and the best trials on the full data and save the best")
    p.add_argument("--retrain-only", action="store_true", help="run no trial: only the re-check and the save")
    p.set_defaults(func=run)
