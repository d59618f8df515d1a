"""Notebook 02's input check: every parameter and the search space, before any data loads; the storage opened; a
continued study checked to be the same search."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from ..batch.ray_executor import import_ray
from ..custom_task import resolve_task
from ..data import data_source
from ..errors import GlueHelpersError
from ..inputs import check_sources, sources
from ..recipe import Recipe, SearchSettings, recipe_trial, search_dir_for
from ..tasks import GlueTask
from .space import validate_search_space
from .study import check_study, open_storage, recipe_in_space


class SearchInputs(NamedTuple):
    """What notebook 02's check resolved: task, model, data, output folder, the opened storage, the study's name, the
    facts the study keeps to refuse a continuation that is another search, and the recipe as a trial."""

    task: GlueTask
    model_checkpoint: str
    data_dir: str | None
    output_dir: Path
    storage: object
    study_name: str
    tags: dict
    recipe: dict  # notebook 01's recipe in the search's names: the values of any knob the space leaves out
    trial_0: dict  # the recipe's values the space can produce: the study's first trial


def check_search_inputs(params: Mapping) -> SearchInputs:
    """Check notebook 02's parameters and its `hp_space` against the study it continues; open the storage."""
    task = resolve_task(params["task"])
    settings = SearchSettings.from_params(params)
    recipe = Recipe.from_params(params)  # the recipe knobs a search sets: seed, subsets, peft and LoRA's, tracking
    if params["search_space"] is not None:
        validate_search_space(params["search_space"], recipe.peft)
    if settings.backend == "ray":
        import_ray()  # installed, or the fix, before anything loads
    model, data_dir = sources(params["model_checkpoint"], params["data_dir"], params["smoke"])
    model = check_sources(task, model, data_dir)
    output_dir = Path(params["output_dir"] or search_dir_for(task.name)).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        raise GlueHelpersError(f"output_dir {str(output_dir)!r} is a file, not a folder. Choose a folder path.")
    output_dir.mkdir(parents=True, exist_ok=True)
    storage = open_storage(params["storage"], output_dir)
    study_name = params["study_name"] or f"glue-{task.name}"
    trial = recipe_trial(recipe.peft)
    tags = {"task": task.name, "primary_metric": task.primary_metric, "model": model,
            "data": data_source(task, data_dir), "peft": recipe.peft, "seed": recipe.seed,
            "search_fraction": settings.search_fraction, "search_min_rows": settings.search_min_rows,
            "max_train_samples": recipe.max_train_samples, "max_eval_samples": recipe.max_eval_samples}
    if recipe.peft == "lora":
        tags.update({name: getattr(recipe, name) for name in ("lora_r", "lora_alpha", "lora_dropout",
                                                              "lora_target_modules")})
    check_study(storage, study_name, tags, params["hp_space"], need_trials=params["retrain_only"])
    return SearchInputs(task, model, data_dir, output_dir, storage, study_name, tags, trial,
                        recipe_in_space(trial, params["hp_space"]))
