"""Each knob once: the recipe's defaults live in glue_helpers.recipe; the notebooks' parameter cells and the command
line's flags say the same."""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import asdict, fields, make_dataclass
from pathlib import Path

import jupytext
import pytest

from glue_helpers import recipe
from glue_helpers.cli import build_parser

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# notebook parameter -> the recipe's name for its default
NOTEBOOK_01 = {"task": "TASK", "model_checkpoint": "MODEL_CHECKPOINT", "batch_size": "BATCH_SIZE",
               "learning_rate": "LEARNING_RATE", "num_train_epochs": "NUM_TRAIN_EPOCHS", "seed": "SEED",
               "precision": "PRECISION", "peft": "PEFT", "lora_r": "LORA_R", "lora_alpha": "LORA_ALPHA",
               "lora_dropout": "LORA_DROPOUT", "lora_target_modules": "LORA_TARGET_MODULES", "report_to": "REPORT_TO"}
NOTEBOOK_02 = {"task": "TASK", "model_checkpoint": "MODEL_CHECKPOINT", "n_trials": "N_TRIALS",
               "search_fraction": "SEARCH_FRACTION", "search_min_rows": "SEARCH_MIN_ROWS",
               "search_budget": "SEARCH_BUDGET", "pruner": "PRUNER", "recheck_top": "RECHECK_TOP",
               "recheck_seeds": "RECHECK_SEEDS", "seed": "SEED"}


def parameters(notebook: str) -> dict:
    """The values the notebook's parameters cell (and its settings cell, where it has one) sets."""
    scope: dict = {}
    for cell in jupytext.read(NOTEBOOKS / notebook).cells:
        if {"settings", "parameters"} & set(cell.metadata.get("tags", [])):
            exec(cell.source, scope)
    return scope


@pytest.mark.parametrize("notebook, names", [("01_text_classification.py", NOTEBOOK_01),
                                             ("02_hyperparameter_search.py", NOTEBOOK_02)])
def test_the_notebooks_parameters_match_the_recipe(notebook, names):
    values = parameters(notebook)
    assert {name: values[name] for name in names} == {name: getattr(recipe, key) for name, key in names.items()}


def test_the_notebooks_default_folders_and_weight_decay_match_the_recipe():
    first, second = (NOTEBOOKS / "01_text_classification.py").read_text(), (
        NOTEBOOKS / "02_hyperparameter_search.py").read_text()
    from glue_helpers.train import check_inputs  # notebook 01's edge picks its default folder

    assert "run_dir_for(task.name)" in inspect.getsource(check_inputs) and recipe.run_dir_for("cola") == "runs/cola"
    assert 'f"runs/{task.name}-search"' in second and recipe.search_dir_for("cola") == "runs/cola-search"
    assert float(re.search(r"weight_decay=([\d.e-]+)", first).group(1)) == recipe.WEIGHT_DECAY


def test_train_flags_are_the_recipe_fields_with_their_defaults_and_old_spellings():
    args = build_parser().parse_args(["train", "--task", "cola"])
    assert {f.name: getattr(args, f.name) for f in fields(recipe.Recipe)} == asdict(recipe.Recipe())
    assert args.output_dir is None  # runs/<task>, once the task is known
    args = build_parser().parse_args(["train", "--task", "cola", "--lr", "1e-4", "--epochs", "3", "--lora-alpha", "16",
                                      "--lora-target-modules", "q", "v", "--max-train-samples", "8"])
    assert (args.learning_rate, args.num_train_epochs, args.lora_alpha, args.lora_target_modules,
            args.max_train_samples) == (1e-4, 3, 16, ["q", "v"], 8)


@pytest.mark.slow
def test_a_new_recipe_field_is_a_checked_flag_and_recorded_in_metrics_json(kit, tmp_path, monkeypatch, capsys):
    """A knob is one field: a throwaway field on the Recipe is a `train` flag, checked, and in metrics.json."""
    from glue_helpers.cli import main
    from glue_helpers.cli import train as train_command

    knob = ("throwaway_knob", int, recipe.knob(3, "a test knob", recipe.check_positive))
    throwaway = make_dataclass("Recipe", [knob], bases=(recipe.Recipe,), frozen=True)
    monkeypatch.setattr(train_command, "Recipe", throwaway)
    run = ["train", "--task", "cola", "--smoke", "--num-train-epochs", "1", "--max-train-samples", "16"]
    assert main([*run, "--throwaway-knob", "0", "--output-dir", str(tmp_path / "bad")]) == 2
    assert "--throwaway-knob must be a positive integer, got 0" in capsys.readouterr().err
    assert main([*run, "--throwaway-knob", "7", "--output-dir", str(tmp_path / "run")]) == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["recipe"]["throwaway_knob"] == 7 and record["recipe"]["max_train_samples"] == 16


def test_search_flags_default_to_the_recipe_and_take_the_notebooks_names():
    args = build_parser().parse_args(["search"])
    assert {f.name: getattr(args, f.name) for f in fields(recipe.SearchSettings)} == asdict(recipe.SearchSettings())
    assert (args.task, args.model_checkpoint, args.seed) == (recipe.TASK, recipe.MODEL_CHECKPOINT, recipe.SEED)
    args = build_parser().parse_args(["search", "--model", "m", "--n-trials", "3", "--search-fraction", "0.5",
                                      "--search-budget", "none", "--max-train-samples", "None"])
    assert (args.model_checkpoint, args.n_trials, args.search_fraction, args.search_budget,
            args.max_train_samples) == ("m", 3, 0.5, None, None)


def test_notebook_02_checks_its_settings_and_recipe_knobs_from_its_parameters():
    """Notebook 02 builds both dataclasses from its globals(): each of its parameters that is a field is checked."""
    values = parameters("02_hyperparameter_search.py")
    assert recipe.SearchSettings.from_params(values) == recipe.SearchSettings()
    assert "gh.SearchSettings.from_params(globals())" in (NOTEBOOKS / "02_hyperparameter_search.py").read_text()
    with pytest.raises(recipe.GlueHelpersError, match="backend must be one of 'optuna', 'ray'; got 'dask'"):
        recipe.SearchSettings.from_params({**values, "backend": "dask"})
    with pytest.raises(recipe.GlueHelpersError, match="lora_r must be a positive integer, got 0"):
        recipe.Recipe.from_params({**values, "lora_r": 0})


@pytest.mark.parametrize("bad, needle", [
    ({"learning_rate": -1.0}, "learning_rate must be a positive"), ({"num_train_epochs": 0}, "num_train_epochs"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"), ({"lora_r": 0}, "lora_r must be a positive"),
    ({"precision": "half"}, "precision must be one of 'auto', 'fp32', 'bf16', 'fp16'"),
    ({"report_to": "tensorbord"}, "report_to='tensorbord' is not a tracking backend")])
def test_notebook_01_refuses_a_bad_knob_in_its_first_check(kit, tmp_path, bad, needle):
    """Notebook 01's check cell (`gh.check_inputs(globals())`, before any data loads, as test_notebook01 shows on a
    real run) names each bad knob."""
    from glue_helpers.train import check_inputs

    values = {**parameters("01_text_classification.py"), "smoke": True, "output_dir": str(tmp_path / "out")}
    with pytest.raises(recipe.GlueHelpersError, match=needle):
        check_inputs({**values, **bad})
    assert not (tmp_path / "out").exists()  # refused before the run folder is claimed
    assert check_inputs(values).run_dir.root == tmp_path / "out"  # the notebook's own values pass
