"""Notebook 02 offline: papermill in smoke mode (and again, continuing the same study), nbmake, and the pair."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import optuna
import papermill as pm
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from glue_helpers.cli import main as cli_main
from glue_helpers.search.space import default_search_space, make_hp_space, recipe_values
from glue_helpers.search.study import open_storage
from glue_helpers.tasks import get_task

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NB = NOTEBOOKS / "02_hyperparameter_search.ipynb"
TWIN = NOTEBOOKS / "02_hyperparameter_search.py"
SMOKE = {"smoke": True, "n_trials": 3, "max_eval_samples": 24, "recheck_seeds": 2}


def execute(tmp_path: Path, name: str, **params) -> nbformat.NotebookNode:
    """Run the notebook with papermill in smoke mode; return the executed notebook."""
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(NB), str(out), cwd=str(tmp_path), progress_bar=False,
                        parameters={**SMOKE, "output_dir": str(tmp_path / "out"), **params})
    return nbformat.read(out, as_version=4)


@pytest.mark.notebook
def test_smoke_run_then_rerun_continues_the_study(kit, tmp_path):
    """Also: each trial logs its own TensorBoard run, and the search command runs the notebook's trials."""
    first_run = execute(tmp_path, "first", search_budget=None, report_to="tensorboard")
    resumed = [o.text for c in first_run.cells for o in c.get("outputs", []) if "loaded " in o.get("text", "")]
    assert resumed == ["loaded 2 trials of 'glue-cola'; running up to 1 more\n"]  # half, then load_study, the rest
    out = tmp_path / "out"
    study = optuna.load_study(study_name="glue-cola", storage=open_storage(None, out))
    first = [(t.number, t.params, t.value, t.state) for t in study.trials]
    assert len(first) == 3 and all(t.state.is_finished() for t in study.trials)
    assert study.trials[0].user_attrs["recipe"] and study.trials[0].params["batch_size"] == 16  # enqueue_trial
    record = json.loads((out / "best-model" / "metrics.json").read_text())
    recheck = json.loads((out / "recheck" / "recheck.json").read_text())
    winner = record["recheck_winner"]
    assert winner == recheck["winner"] and record["seed"] == 42
    assert record["best_params"] == (recipe_values() if winner == "recipe" else
                                     study.trials[int(winner.removeprefix("trial-"))].params)
    assert record["primary_metric"] == "matthews_correlation" and record["train_rows"] == 128
    assert (out / "best-model" / "README.md").is_file()
    for name in ("optimization_history", "intermediate_values", "recheck"):
        assert (out / f"{name}.png").stat().st_size > 1000
    runs = {path.parent.name for path in (out / "tracking" / "tensorboard").rglob("events.out.tfevents.*")}
    assert runs == {f"cola-tiny-bert-trial-{n}" for n in range(3)}
    # The notebook's objective and study and the CLI's must not drift: same task, seed and budget, same trials.
    assert cli_main(["search", "--smoke", "--task", "cola", "--n-trials", "3", "--max-eval-samples", "24",
                     "--search-budget", "none", "--worker", "0", "--output-dir", str(tmp_path / "cli")]) == 0
    cli = optuna.load_study(study_name="glue-cola", storage=open_storage(None, tmp_path / "cli")).trials
    assert [(t.state, t.params, t.value, t.intermediate_values) for t in cli] == [
        (t.state, t.params, t.value, t.intermediate_values) for t in study.trials]

    executed = execute(tmp_path, "second", n_trials=4, search_budget=None)
    study = optuna.load_study(study_name="glue-cola", storage=open_storage(None, out))
    assert len(study.trials) == 4 and [t.user_attrs.get("recipe", False) for t in study.trials] == [True] + [False] * 3
    assert [(t.number, t.params, t.value, t.state) for t in study.trials[:3]] == first
    text = "\n".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "3 finished trials" in text and "running up to 1 more" in text


@pytest.mark.notebook
def test_a_regression_search_runs_under_nbmake(kit, tmp_path):
    """STS-B (a score: the search maximises Pearson) with the Hyperband pruner, run as a test by nbmake; cola: the
    test above. Every config's columns and metrics: notebook 01's smoke runs."""
    nb = parameterize_notebook(load_notebook_node(str(NB)),
                               {**SMOKE, "task": "stsb", "pruner": "hyperband", "output_dir": str(tmp_path / "out")})
    nbformat.write(nb, tmp_path / "smoke02.ipynb")
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q",
                             str(tmp_path / "smoke02.ipynb")], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout
    record = json.loads((tmp_path / "out" / "best-model" / "metrics.json").read_text())
    assert record["task"] == "stsb" and record["primary_metric"] == get_task("stsb").primary_metric
    assert isinstance(record["primary_metric_value"], float) and {"pearson", "spearmanr"} <= set(record["metrics"])


def test_pair_is_in_sync_and_outputs_are_not_committed():
    nb = nbformat.read(NB, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "search_fraction = 0.1" in params[0].source and "smoke = False" in params[0].source
    twin = jupytext.read(TWIN)
    assert [c.source for c in twin.cells] == [c.source for c in nb.cells]


def test_notebook_cells_teach_optuna():
    source = TWIN.read_text()
    for call in ("trial.suggest_float(", "trial.suggest_int(", "trial.suggest_categorical(", "trial.report(",
                 "trial.should_prune()", "optuna.create_study(", "load_if_exists=True", "sampler=", "pruner=",
                 "study.enqueue_trial(", "study.optimize(", "callbacks=", "optuna.TrialPruned"):
        assert call in source, call
    assert '"seed"' not in source.split("def hp_space")[1].split("# %%")[0]  # the seed is not searched


def distributions(hp_space) -> dict:
    """The distribution of every parameter an hp_space asks a trial for."""
    trial = optuna.create_study().ask()
    hp_space(trial)
    return trial.distributions


@pytest.mark.parametrize("smoke", [False, True])
@pytest.mark.parametrize("peft", [None, "lora"])
def test_notebook_hp_space_asks_for_the_package_search_space(smoke, peft):
    """The CLI (and backend="ray") searches `default_search_space`; the notebook writes its space out: they must not
    drift, for full fine-tuning and LoRA, real and smoke."""
    cell = next(c.source for c in jupytext.read(TWIN).cells if "def hp_space" in c.source)
    scope = {"smoke": smoke, "peft": peft}
    exec(cell, scope)
    assert distributions(scope["hp_space"]) == distributions(make_hp_space(default_search_space(peft, smoke), peft))


@pytest.mark.notebook
def test_smoke_lora_search_on_ray(kit, tmp_path):
    """backend="ray" with peft="lora": Ray Tune's trials land in the notebook's study (with their LoRA rank), and
    the best one is retrained as a merged model plus its adapter."""
    pytest.importorskip("ray")
    execute(tmp_path, "ray", backend="ray", peft="lora", n_trials=2)
    out = tmp_path / "out"
    study = optuna.load_study(study_name="glue-cola", storage=open_storage(None, out))
    assert len(study.trials) == 2 and all("lora_r" in t.params for t in study.trials)
    record = json.loads((out / "best-model" / "metrics.json").read_text())
    assert record["peft"] == "lora" and record["lora_r"] == record["best_params"]["lora_r"]
    assert sum(bool(t.user_attrs.get("recipe")) for t in study.trials) == 1  # Ray ran the recipe first too
    assert (out / "best-adapter" / "adapter_config.json").is_file()
    assert not (out / "best-model" / "adapter_config.json").exists()
