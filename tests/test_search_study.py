"""Storage and study: bad input fails before any trial, and a study refuses another task or direction."""

from __future__ import annotations

import re

import optuna
import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.search.pipeline import run_search
from glue_helpers.search.study import make_pruner, open_study, storage_url
from glue_helpers.tasks import get_task


def test_storage_urls(tmp_path):
    assert storage_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/optuna.db"
    assert storage_url(tmp_path / "s.db", ".") == f"sqlite:///{(tmp_path / 's.db').resolve()}"
    assert storage_url(tmp_path / "s.log", ".") == f"journal://{(tmp_path / 's.log').resolve()}"
    assert storage_url("postgresql://u:p@host/db", ".") == "postgresql://u:p@host/db"


def test_default_storage_is_a_sqlite_file_in_output_dir(tmp_path):
    study = open_study(get_task("cola"), output_dir=tmp_path / "out")
    assert (tmp_path / "out" / "optuna.db").is_file()
    assert study.study_name == "glue-cola" and study.user_attrs["task"] == "cola"
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert isinstance(study.pruner, optuna.pruners.SuccessiveHalvingPruner)  # ASHA, the default


def test_journal_storage_opens_and_reopens_the_same_study(tmp_path):
    first = open_study(get_task("rte"), storage=f"journal://{tmp_path}/j.log", study_name="s", pruner="hyperband")
    first.enqueue_trial({"x": 1})
    again = open_study(get_task("rte"), storage=tmp_path / "j.log", study_name="s", pruner="none")
    assert again._study_id == first._study_id and len(again.trials) == 1
    assert isinstance(again.pruner, optuna.pruners.NopPruner)


@pytest.mark.parametrize("storage", ["nosuchdialect://host/db", "sqlite:////proc/no/such/dir/x.db"])
def test_a_storage_that_cannot_be_opened_is_a_clear_error(storage, tmp_path):
    with pytest.raises(GlueHelpersError, match="Can't open the Optuna storage"):
        open_study(get_task("cola"), storage=storage, output_dir=tmp_path)


def test_a_study_of_another_task_or_direction_is_refused(tmp_path):
    open_study(get_task("cola"), study_name="mine", output_dir=tmp_path)
    with pytest.raises(GlueHelpersError, match="task 'cola', not 'sst2'"):
        open_study(get_task("sst2"), study_name="mine", output_dir=tmp_path)
    optuna.create_study(storage=storage_url(None, tmp_path), study_name="loss", direction="minimize")
    with pytest.raises(GlueHelpersError, match="not 'maximize'"):
        open_study(get_task("cola"), study_name="loss", output_dir=tmp_path)


def test_unknown_pruner_names_the_valid_ones():
    with pytest.raises(GlueHelpersError, match="median, hyperband, none"):
        make_pruner("aggressive")
    threshold = optuna.pruners.ThresholdPruner(lower=0.1)
    assert make_pruner(threshold) is threshold


@pytest.mark.parametrize("kwargs, message", [
    ({"n_trials": 0}, "n_trials must be a positive integer"),
    ({"n_trials": -3}, "n_trials must be a positive integer"),
    ({"search_fraction": 0}, "search_fraction must be in (0, 1]"),
    ({"search_fraction": 1.5}, "search_fraction must be in (0, 1]"),
    ({"search_space": {"dropout": [0.1]}}, "Valid ones:"),
    ({"search_space": {}}, "empty"),
    ({"pruner": "sometimes"}, "Unknown pruner"),
    ({"task": "glue"}, "Unknown GLUE task"),
    ({"storage": "nosuchdialect://x"}, "Can't open the Optuna storage"),
])
def test_bad_input_fails_before_any_trial_runs(kit, tmp_path, monkeypatch, kwargs, message):
    monkeypatch.setattr("glue_helpers.search.pipeline.prepare_data",
                        lambda *args, **kw: pytest.fail("data loaded before the inputs were checked"))
    args = {"task": "cola", "n_trials": 2, **kwargs}
    with pytest.raises(GlueHelpersError, match=re.escape(message)):
        run_search(get_task(args.pop("task")), str(kit.model_dir), data_dir=kit.data_dir, output_dir=tmp_path, **args)
    assert not (tmp_path / "optuna.db").exists() or not optuna.get_all_study_summaries(storage_url(None, tmp_path))
