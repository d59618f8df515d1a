"""`python -m glue_helpers search`: one search worker; start several with the same --storage to scale out."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import yaml

from ..errors import GlueHelpersError
from ..recipe import LORA_KNOBS, MODEL_CHECKPOINT, TASK, Recipe, SearchSettings, search_dir_for
from .knobs import add_knobs, from_flags
from .train import add_model_and_data

# The recipe knobs a search takes as flags; the others are searched.
SEARCH_KNOBS = ("seed", "max_train_samples", "max_eval_samples", "report_to", "peft", *LORA_KNOBS)

EXAMPLES = """examples:
  # the recipe as trial 0, trials until they cost 2 recipe runs, then the recipe and the 2 best on all the data
  # with 3 seeds each; the best of those is saved in runs/cola-search/best-model
  python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased --retrain
  # scale out: run this on N machines (or N times on one) with one shared storage
  python -m glue_helpers search --task cola --storage journal:///shared/cola.log --study-name cola --n-trials 5
  # then once: the re-check on the full training set, and the winner saved with metrics.json
  python -m glue_helpers search --task cola --storage journal:///shared/cola.log --study-name cola --retrain-only
  # LoRA: the default space then searches LoRA's learning rates and --lora-r
  python -m glue_helpers search --task cola --peft lora --study-name cola-lora --n-trials 10
  # on a Ray cluster: Ray Tune with TPE and ASHA, one trial per GPU, then the retrain of the best
  python -m glue_helpers search --task cola --backend ray --address auto --n-trials 20 --retrain
"""


def load_space(text: str | None) -> dict | None:
    """A search space from a JSON/YAML file or an inline JSON object; None keeps the default."""
    if not text:
        return None
    path = Path(text).expanduser()
    try:
        space = yaml.safe_load(path.read_text() if path.is_file() else text)
    except yaml.YAMLError as err:
        raise GlueHelpersError(f"--space must be a JSON/YAML file or an inline JSON object: {err}") from err
    if not isinstance(space, dict):
        raise GlueHelpersError(f"--space must describe a mapping of parameter -> range, got {space!r}.")
    return space


def _print_summary(study, record: dict | None) -> None:
    """The study's size and best trial, and the retrained model's metrics."""
    states = [trial.state.name for trial in study.trials]
    counts = ", ".join(f"{s.lower()} {states.count(s)}" for s in sorted(set(states)))
    print(f"study {study.study_name!r}: {len(states)} trials ({counts})")
    try:
        print(f"best trial #{study.best_trial.number}: {study.best_value:.4f} with {study.best_params}")
    except ValueError:
        print("no completed trial yet")
    if record:
        print(f"best-model: {record['primary_metric']} = {record['primary_metric_value']}")


def run(args) -> int:
    """Resolve the task once, run this worker's trials (and optionally retrain the best), print a summary."""
    from ..custom_task import resolve_task
    from ..offline_kit import ensure_kit
    from ..search.pipeline import prepare_search, recheck_search, search_trials
    from ..search.retrain import retrain_best
    from ..search.space import default_search_space

    task = resolve_task(args.task)  # a GLUE name or a custom task's YAML, resolved once here
    knobs = from_flags(args, Recipe, SEARCH_KNOBS)  # a bad value fails here, named by its flag
    settings = from_flags(args, SearchSettings)
    space = load_space(args.space)
    model, data_dir = args.model_checkpoint, args.data_dir
    if args.smoke:
        kit = ensure_kit()
        model, data_dir = str(kit.model_dir), str(kit.data_dir)
        space = space or default_search_space(args.peft, smoke=True)
    worker = args.worker if args.worker is not None else os.getpid() % 1000
    output_dir = args.output_dir or search_dir_for(task.name)
    search = prepare_search(task, model, data_dir=data_dir, n_trials=settings.n_trials,
                            search_fraction=settings.search_fraction, search_min_rows=settings.search_min_rows,
                            search_budget=settings.search_budget, storage=args.storage, study_name=args.study_name,
                            pruner=settings.pruner, output_dir=output_dir, worker=worker, search_space=space,
                            **{name: getattr(knobs, name) for name in SEARCH_KNOBS})
    if not args.retrain_only and settings.backend == "ray":
        from ..search.ray_backend import run_ray_trials

        run_ray_trials(search, settings.n_trials, seed=args.seed, address=args.address,
                       cpus_per_trial=settings.cpus_per_trial, gpus_per_trial=settings.gpus_per_trial)
    elif not args.retrain_only:
        search_trials(search, settings.n_trials)
    record = None
    if (args.retrain or args.retrain_only) and settings.recheck_seeds:
        _, record = recheck_search(search, top_k=settings.recheck_top, n_seeds=settings.recheck_seeds, seed=args.seed)
    elif args.retrain or args.retrain_only:
        _, record = retrain_best(search.study, task, model_init=search.model_init,
                                 compute_metrics=search.compute_metrics, train_dataset=search.data.train,
                                 eval_dataset=search.data.eval, data_collator=search.data.data_collator,
                                 tokenizer=search.data.tokenizer, output_dir=output_dir, model_name=model)
    _print_summary(search.study, record)
    if record:
        print(json.dumps(record["metrics"]))
    return 0


def register(sub) -> None:
    """Add the `search` sub-command."""
    p = sub.add_parser("search", help="run hyperparameter-search trials (one worker of a possibly shared study)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default=TASK, help="GLUE task or a custom task's YAML (default: %(default)s)")
    add_model_and_data(p, model_default=MODEL_CHECKPOINT)
    p.add_argument("--storage", help="Optuna storage: a .db (SQLite) or .log (journal) path, journal:///path, or a "
                                     "database URL (default: SQLite in --output-dir)")
    p.add_argument("--study-name", help="study to create or continue (default: glue-TASK)")
    p.add_argument("--output-dir", help="trial folders, default storage, retrained model (default runs/<task>-search)")
    p.add_argument("--worker", type=int, help="worker number, offsets the sampler seed (default: from the pid)")
    p.add_argument("--space", help="search space as a JSON/YAML file or inline JSON (default: the built-in space)")
    add_knobs(p, Recipe, SEARCH_KNOBS)
    add_knobs(p, SearchSettings)
    p.add_argument("--address", help="ray: the cluster, 'auto' or ray://HOST:10001 (default: a local one)")
    p.add_argument("--retrain", action="store_true",
                   help="after the trials, re-check the recipe and the best trials on the full data and save the best")
    p.add_argument("--retrain-only", action="store_true", help="run no trial: only the re-check and the save")
    p.set_defaults(func=run)
