"""Notebook 02 offline: papermill (a rerun continues the study, another search is refused), nbmake, what it teaches."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import optuna
import papermill as pm
import pytest
from conftest import ONE_SAVE
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from glue_helpers.recipe import recipe_trial
from glue_helpers.search.study import open_storage

NB = Path(__file__).resolve().parents[1] / "notebooks" / "02_hyperparameter_search.ipynb"
TWIN = NB.with_suffix(".py")
SMOKE = {"smoke": True, "n_trials": 3, "max_eval_samples": 24, "search_budget": None, "worker": 0}


def execute(tmp_path: Path, name: str, **params) -> nbformat.NotebookNode:
    """Run the notebook with papermill in smoke mode into `name`.ipynb; return the executed notebook."""
    return pm.execute_notebook(str(NB), str(tmp_path / f"{name}.ipynb"), cwd=str(tmp_path), progress_bar=False,
                               parameters={**SMOKE, "output_dir": str(tmp_path / "out"), **params}, **ONE_SAVE)


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed."""
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.notebook
def test_a_rerun_continues_the_study_and_another_search_is_refused_before_any_data(kit, tmp_path):
    """Trials only (retrain=False, what a search worker runs); each trial logs its own TensorBoard run. The rerun
    stops at its budget: 0.1 recipe runs = 0.1 x 128 rows x 5 epochs = 64 examples, which the 3 trials have spent."""
    first = execute(tmp_path, "first", retrain=False, report_to="tensorboard")
    assert "loaded 2 trials of 'glue-cola'; running up to 1 more\n" in printed(first)  # half, load_study, the rest
    out = tmp_path / "out"
    study = optuna.load_study(study_name="glue-cola", storage=open_storage(None, out))
    before = [(t.number, t.params, t.value, t.state) for t in study.trials]
    assert len(before) == 3 and all(t.state.is_finished() for t in study.trials)
    assert study.trials[0].params == recipe_trial()  # enqueue_trial, once: not again after load_study
    assert [bool(t.user_attrs.get("recipe")) for t in study.trials] == [True, False, False]
    assert study.user_attrs["model"].endswith("tiny-bert") and study.user_attrs["max_eval_samples"] == 24
    runs = {path.parent.name for path in (out / "tracking" / "tensorboard").rglob("events.out.tfevents.*")}
    assert runs == {f"cola-tiny-bert-trial-{n}" for n in range(3)}
    assert not (out / "recheck").exists() and not (out / "best-model").exists()
    second = printed(execute(tmp_path, "second", n_trials=4, retrain=False, search_budget=0.1))
    study = optuna.load_study(study_name="glue-cola", storage=open_storage(None, out))
    assert [(t.number, t.params, t.value, t.state) for t in study.trials] == before
    assert re.search(r"Stopped at the search budget: the study's 3 trials have seen [\d,]+ of 64 training examples "
                     r"\(0.1 recipe runs\)", second) and "--search-budget none" in second
    assert "3 finished trials" in second and "running up to 0 more" in second
    with pytest.raises(pm.PapermillExecutionError) as err:  # 32 rows would not compare with the trials on 128
        execute(tmp_path, "third", n_trials=5, retrain=False, max_train_samples=32)
    assert err.value.ename == "GlueHelpersError"
    assert "max_train_samples None (now 32)" in err.value.evalue and "pick another study_name" in err.value.evalue
    ran = nbformat.read(tmp_path / "third.ipynb", as_version=4)
    assert next(c for c in ran.cells if "gh.load_glue(" in c.source).execution_count is None  # refused first
    assert len(optuna.load_study(study_name="glue-cola", storage=open_storage(None, out)).trials) == 3


@pytest.mark.notebook
def test_a_regression_search_runs_under_nbmake(kit, tmp_path):
    """STS-B (the search maximises Pearson), Hyperband, under nbmake. (The best trial retrained once by notebook 01:
    the LoRA search on a task YAML, tests/test_lora.py.)"""
    params = {**SMOKE, "task": "stsb", "pruner": "hyperband", "retrain": False, "output_dir": str(tmp_path / "out")}
    nbformat.write(parameterize_notebook(load_notebook_node(str(NB)), params), tmp_path / "smoke02.ipynb")
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q",
                             str(tmp_path / "smoke02.ipynb")], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-3000:]
    study = optuna.load_study(study_name="glue-stsb", storage=open_storage(None, tmp_path / "out"))
    assert study.user_attrs["task"] == "stsb" and study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert len(study.trials) == 3 and all(t.state.is_finished() for t in study.trials)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(t.value == max(t.intermediate_values.values()) for t in complete)  # the best epoch's


def test_the_pair_is_in_sync_uncommitted_and_teaches_optuna_and_the_trainer_in_at_most_15_package_calls():
    nb, twin, source = nbformat.read(NB, as_version=4), jupytext.read(TWIN), TWIN.read_text()
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "search_fraction = 0.1" in params[0].source and "smoke = False" in params[0].source
    assert [c.source for c in twin.cells] == [c.source for c in nb.cells]
    for call in ("trial.suggest_float(", "trial.suggest_int(", "trial.suggest_categorical(", "trial.report(",
                 "trial.should_prune()", "optuna.TrialPruned", "trial.set_user_attr(", "optuna.create_study(",
                 "load_if_exists=True", "TPESampler(", "SuccessiveHalvingPruner(", "study.enqueue_trial(",
                 "study.optimize(", "MaxTrialsCallback(", "optuna.load_study(", "study.trials_dataframe(",
                 "TrainingArguments(", "AutoModelForSequenceClassification.from_pretrained(", "LoraConfig(",
                 "get_peft_model(", "GlueTrainer(", "model_init="):
        assert call in source, call
    assert '"seed"' not in source.split("def hp_space")[1].split("# %%")[0]  # the seed is not searched
    calls = package_calls("\n".join(c.source for c in twin.cells if c.cell_type == "code"))
    assert len(calls) <= 15, sorted(calls)
    assert package_calls("import glue_helpers as g\nfrom glue_helpers import GlueTrainer as T\ng.x(); T(); g.y.z()") \
        == ["g.x", "T"]  # the counter sees both ways of importing


def package_calls(source: str) -> list[str]:
    """Every call into glue_helpers in some code: `gh.name(...)` however it is imported, and names imported from it."""
    tree = ast.parse(source)
    modules, names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name.split(".")[0] == "glue_helpers"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "glue_helpers":
            names |= {a.asname or a.name for a in node.names}
    calls = []
    for func in (node.func for node in ast.walk(tree) if isinstance(node, ast.Call)):
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
            calls.append(f"{func.value.id}.{func.attr}")
        elif isinstance(func, ast.Name) and func.id in names:
            calls.append(func.id)
    return calls
