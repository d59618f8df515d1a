"""The checks on a run's inputs before anything loads (a typo fails in seconds): notebook 01's and every program's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from .custom_task import resolve_task
from .data import check_data_source
from .errors import GlueHelpersError, setting
from .inference import example_input
from .modeling import resolve_checkpoint
from .offline_kit import check_hub, ensure_kit, hub_needs
from .recipe import Recipe, run_dir_for
from .rundir import RunDir
from .tasks import GlueTask

CUSTOM_DATA = ("train_file", "validation_file", "test_file", "text_columns", "label_column", "label_names",
               "regression", "drop_empty")


def sources(model_checkpoint, data_dir, smoke: bool, keep_given: bool = False) -> tuple[str, str | None]:
    """The model and data folder a run reads (data None: the Hub). Smoke mode reads the offline kit's; with
    `keep_given` (the train command, whose flags default to None) a model or data folder given still wins."""
    if smoke:
        kit = ensure_kit()
        given = keep_given and model_checkpoint, keep_given and data_dir
        return str(given[0] or kit.model_dir), str(given[1] or kit.data_dir)
    if not model_checkpoint:
        raise GlueHelpersError(f"A model is needed: {setting('model_checkpoint', 'MODEL')} (a folder or a Hub id), or "
                               f"smoke mode, {setting('smoke', True)}, for the offline kit's tiny model.")
    return str(model_checkpoint), None if data_dir is None else str(data_dir)


def check_sources(task: GlueTask, model, data_dir, splits=("train", "validation"), push_to_hub: bool = False) -> str:
    """What a run reads and sends, before anything loads: the local data's splits, the model's folder, and the Hub for
    everything that needs it (named all at once); return the model as resolved."""
    check_data_source(task, data_dir, splits)
    model = resolve_checkpoint(model)
    check_hub(hub_needs(task, data_dir, model, push_to_hub))
    return model


class Inputs(NamedTuple):
    """What notebook 01's check resolved: the task's record, the model and data to read, and the claimed run folder."""

    task: GlueTask
    model_checkpoint: str
    data_dir: str | None
    precision: str
    report_to: str
    run_dir: RunDir


def check_inputs(params: Mapping, claim: bool = True) -> Inputs:
    """Check notebook 01's parameters (its `globals()`) and everything the run reads and sends, then claim the output
    folder (a new dated one by default); `claim=False` (batch, before it starts any run) checks it only."""
    from .training import resolve_precision  # torch: only once a notebook runs

    task = resolve_task(params["task"], **{name: params[name] for name in CUSTOM_DATA})
    recipe = Recipe.from_params(params)
    recipe.warn_if_odd()
    precision = resolve_precision(recipe.precision)
    model, data_dir = sources(params["model_checkpoint"], params["data_dir"], params["smoke"])
    if params["push_to_hub"] and not params["hub_model_id"]:
        repository = setting("hub_model_id", "'YOU/MODEL'")
        raise GlueHelpersError(f"push_to_hub needs the repository to push to: {repository} "
                               f"(e.g. your-name/distilbert-{task.name}), or {setting('push_to_hub', False)}.")
    if params["example_sentence"] is not None:
        example_input(task, params["example_sentence"])  # one text, or a pair for a pair task
    splits = ("train", "validation", "test") if params["write_leaderboard"] else ("train", "validation")
    model = check_sources(task, model, data_dir, splits, params["push_to_hub"])
    run_dir = RunDir(params["output_dir"] or run_dir_for(task.name, dated=True))
    if claim:
        run_dir.prepare(overwrite=params["overwrite"], inputs=(model, data_dir, *task.data_files.values()))
    return Inputs(task, model, data_dir, precision, recipe.report_to, run_dir)
