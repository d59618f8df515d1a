"""Each knob once: defaults live in glue_helpers.recipe; the notebooks' parameter cells and the flags say the same."""

import inspect
import json
import re
from dataclasses import asdict, fields, make_dataclass
from pathlib import Path

import jupytext
import pytest

import glue_helpers as gh
from glue_helpers import recipe
from glue_helpers.cli import build_parser
from glue_helpers.cli.search import SEARCH_KNOBS
from glue_helpers.inputs import check_inputs

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
RECIPE = tuple(f.name for f in fields(recipe.Recipe))
SETTINGS = tuple(f.name for f in fields(recipe.SearchSettings))


def defaults(names) -> dict:
    """Each knob's declared default: the dataclass's class attribute (task and model: the module's constants)."""
    knobs = {name: getattr(recipe.Recipe if name in RECIPE else recipe.SearchSettings, name) for name in names}
    return {"task": recipe.TASK, "model_checkpoint": recipe.MODEL_CHECKPOINT, **knobs}


# notebook 01 has every recipe knob; notebook 02 every search setting and the recipe knobs a search takes as flags
NOTEBOOK_01 = defaults(RECIPE)
NOTEBOOK_02 = defaults((*SETTINGS, *SEARCH_KNOBS))


def parameters(notebook: str) -> dict:
    """The values the notebook's parameters cell (and its settings cell, where it has one) sets."""
    scope: dict = {}
    for cell in jupytext.read(NOTEBOOKS / notebook).cells:
        if "parameters" in cell.metadata.get("tags", []):
            exec(cell.source, scope)
    return scope


def test_the_defaults_are_the_dataclasses_defaults():
    """What the tables above compare with: the class attributes are the defaults a bare Recipe() is built with."""
    assert {name: NOTEBOOK_01[name] for name in RECIPE} == asdict(recipe.Recipe())
    assert {name: NOTEBOOK_02[name] for name in SETTINGS} == asdict(recipe.SearchSettings())
    assert (NOTEBOOK_01["learning_rate"], NOTEBOOK_01["weight_decay"], NOTEBOOK_01["warmup_ratio"]) == (2e-5, 0.01, 0.0)
    assert set(SEARCH_KNOBS) < set(RECIPE) and "seed" in SEARCH_KNOBS
    # notebook 01's weight_decay and warmup_ratio are parameters (below) that its TrainingArguments cell passes on
    cell = next(cell.source for cell in jupytext.read(NOTEBOOKS / "01_text_classification.py").cells
                if "TrainingArguments(" in cell.source and "args =" in cell.source)
    assert "weight_decay=weight_decay," in cell and "warmup_steps=warmup_ratio," in cell


@pytest.mark.parametrize("notebook, expected", [("01_text_classification.py", NOTEBOOK_01),
                                                ("02_hyperparameter_search.py", NOTEBOOK_02)])
def test_the_notebooks_parameters_match_the_recipe(notebook, expected):
    values = parameters(notebook)
    assert {name: values.get(name, "<missing>") for name in expected} == expected


def test_the_default_folders_are_the_recipes(kit, tmp_path, monkeypatch):
    """output_dir=None: notebook 01 claims a new runs/<task>-<date>-<time>, notebook 02 runs/<task>-search."""
    assert recipe.run_dir_for("cola") == "runs/cola" and recipe.search_dir_for("cola") == "runs/cola-search"
    assert "run_dir_for(task.name, dated=True)" in inspect.getsource(check_inputs)
    assert "search_dir_for(task.name)" in inspect.getsource(gh.check_search_inputs)
    monkeypatch.chdir(tmp_path)
    first = {**parameters("01_text_classification.py"), "smoke": True}
    second = {**parameters("02_hyperparameter_search.py"), "smoke": True, "hp_space": lambda trial: {}}
    assert (first["output_dir"], second["output_dir"]) == (None, None)
    claimed = check_inputs(first).run_dir.root.resolve()
    assert claimed.parent == tmp_path / "runs" and re.fullmatch(r"cola-\d{4}-\d\d-\d\d-\d{6}", claimed.name)
    assert gh.check_search_inputs(second).output_dir.resolve() == tmp_path / "runs" / "cola-search"
    assert "f\"runs/" not in (NOTEBOOKS / "02_hyperparameter_search.py").read_text()  # decided in one place


def test_train_and_search_flags_are_the_recipe_fields_with_their_defaults_and_the_notebooks_names():
    args = build_parser().parse_args(["train", "--task", "cola"])
    assert {f.name: getattr(args, f.name) for f in fields(recipe.Recipe)} == asdict(recipe.Recipe())
    assert args.output_dir is None  # runs/<task>, once the task is known
    args = build_parser().parse_args(["train", "--task", "cola", "--lr", "1e-4", "--epochs", "3", "--lora-alpha", "16",
                                      "--lora-target-modules", "q", "v", "--max-train-samples", "8"])
    assert (args.learning_rate, args.num_train_epochs, args.lora_alpha, args.lora_target_modules,
            args.max_train_samples) == (1e-4, 3, 16, ["q", "v"], 8)  # old spellings too
    args = build_parser().parse_args(["search"])
    assert {f.name: getattr(args, f.name) for f in fields(recipe.SearchSettings)} == asdict(recipe.SearchSettings())
    assert (args.task, args.model_checkpoint, args.seed) == (recipe.TASK, recipe.MODEL_CHECKPOINT, recipe.Recipe.seed)
    args = build_parser().parse_args(["search", "--model", "m", "--n-trials", "3", "--search-fraction", "0.5",
                                      "--search-budget", "none", "--max-train-samples", "None"])
    assert (args.model_checkpoint, args.n_trials, args.search_fraction, args.search_budget,
            args.max_train_samples) == ("m", 3, 0.5, None, None)


@pytest.mark.slow
def test_a_new_recipe_field_is_a_checked_flag_and_recorded_in_metrics_json(kit, tmp_path, monkeypatch, capsys):
    """A knob is one field: a throwaway field on the Recipe is a `train` flag, checked, and in metrics.json."""
    from glue_helpers.cli import main
    from glue_helpers.cli import train as train_command

    knob = ("throwaway_knob", int, recipe.knob(3, "a test knob", "count"))
    throwaway = make_dataclass("Recipe", [knob], bases=(recipe.Recipe,), frozen=True)
    monkeypatch.setattr(train_command, "Recipe", throwaway)
    run = ["train", "--task", "cola", "--smoke", "--num-train-epochs", "1", "--max-train-samples", "16"]
    assert main([*run, "--throwaway-knob", "0", "--output-dir", str(tmp_path / "bad")]) == 2
    assert "--throwaway-knob must be a positive integer, got 0" in capsys.readouterr().err
    assert main([*run, "--throwaway-knob", "7", "--output-dir", str(tmp_path / "run")]) == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["recipe"]["throwaway_knob"] == 7 and record["recipe"]["max_train_samples"] == 16


def test_notebook_02_checks_its_settings_and_recipe_knobs_from_its_parameters(kit, tmp_path):
    """`gh.check_search_inputs(globals())` builds both dataclasses: each field is checked before the folder is made."""
    values = parameters("02_hyperparameter_search.py")
    assert recipe.SearchSettings.from_params(values) == recipe.SearchSettings()
    assert recipe.Recipe.from_params(values) == recipe.Recipe()
    assert "gh.check_search_inputs(globals())" in (NOTEBOOKS / "02_hyperparameter_search.py").read_text()
    source = inspect.getsource(gh.check_search_inputs)
    assert "SearchSettings.from_params(params)" in source and "Recipe.from_params(params)" in source
    with pytest.raises(recipe.GlueHelpersError, match="backend must be one of 'optuna', 'ray'; got 'dask'"):
        recipe.SearchSettings.from_params({**values, "backend": "dask"})
    with pytest.raises(recipe.GlueHelpersError, match="lora_r must be a positive integer, got 0"):
        recipe.Recipe.from_params({**values, "lora_r": 0})
    values = {**values, "smoke": True, "output_dir": str(tmp_path / "out"), "hp_space": None}
    for bad, needle in (({"backend": "dask"}, "backend must be one of"), ({"lora_r": 0}, "lora_r must be a positive"),
                        ({"search_fraction": 0}, "search_fraction must be in"), ({"seed": -1}, "seed must be")):
        with pytest.raises(recipe.GlueHelpersError, match=needle):
            gh.check_search_inputs({**values, **bad})
    assert not (tmp_path / "out").exists()  # refused before the output folder is made


@pytest.mark.parametrize("bad, needle", [
    ({"learning_rate": -1.0}, "learning_rate must be a positive"), ({"num_train_epochs": 0}, "num_train_epochs"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"), ({"lora_r": 0}, "lora_r must be a positive"),
    ({"weight_decay": -0.1}, "weight_decay must be a number in"), ({"warmup_ratio": 1.5}, "warmup_ratio must be"),
    ({"precision": "half"}, "precision must be one of 'auto', 'fp32', 'bf16', 'fp16'"),
    ({"report_to": "tensorbord"}, "report_to='tensorbord' is not a tracking backend")])
def test_notebook_01_refuses_a_bad_knob_in_its_first_check(kit, tmp_path, bad, needle):
    """Notebook 01's check cell (before any data loads: test_notebook01 shows it on a real run) names each bad knob."""
    values = {**parameters("01_text_classification.py"), "smoke": True, "output_dir": str(tmp_path / "out")}
    with pytest.raises(recipe.GlueHelpersError, match=needle):
        check_inputs({**values, **bad})
    assert not (tmp_path / "out").exists()  # refused before the run folder is claimed
    assert check_inputs(values).run_dir.root == tmp_path / "out"  # the notebook's own values pass
