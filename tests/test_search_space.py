"""The search space: a plain dict, checked up front, turned into `hp_space(trial)` and `TrainingArguments`."""

from __future__ import annotations

import re

import optuna
import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.search.space import (
    DEFAULT_SEARCH_SPACE,
    SEARCHABLE,
    SMOKE_SEARCH_SPACE,
    make_hp_space,
    to_training_arguments,
    validate_search_space,
)
from glue_helpers.tasks import get_task
from glue_helpers.training import training_arguments


def sample(space: dict, seed: int = 0) -> dict:
    """One draw of the space from a seeded random sampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return make_hp_space(space)(study.ask())


def test_default_spaces_are_valid_and_cover_every_searchable_parameter_but_the_seed():
    for space in (DEFAULT_SEARCH_SPACE, SMOKE_SEARCH_SPACE):
        assert validate_search_space(space) is space
        assert set(space) == set(SEARCHABLE) - {"seed"}  # a searched seed finds luck, not a recipe


def test_draws_respect_ranges_types_and_choices():
    for seed in range(20):
        p = sample(DEFAULT_SEARCH_SPACE, seed)
        assert 1e-5 <= p["learning_rate"] <= 1e-4
        assert isinstance(p["num_train_epochs"], int) and 1 <= p["num_train_epochs"] <= 5
        assert p["batch_size"] in (16, 32)
        assert 0.0 <= p["warmup_ratio"] <= 0.2


def test_learning_rate_is_searched_on_a_log_scale():
    study = optuna.create_study()
    make_hp_space(DEFAULT_SEARCH_SPACE)(study.ask())
    dist = study.trials[0].distributions["learning_rate"]
    assert isinstance(dist, optuna.distributions.FloatDistribution) and dist.log


def test_a_single_value_is_fixed_and_still_recorded():
    assert sample({"learning_rate": 3e-5, "num_train_epochs": {"low": 1, "high": 2}})["learning_rate"] == 3e-5


def test_parameters_map_onto_transformers_5_training_arguments(tmp_path):
    params = {"learning_rate": 4e-5, "num_train_epochs": 2, "batch_size": 32, "weight_decay": 0.05,
              "warmup_ratio": 0.1, "seed": 7}
    mapped = to_training_arguments(params)
    assert mapped["per_device_train_batch_size"] == 32 and mapped["warmup_steps"] == 0.1
    args = training_arguments(get_task("cola"), str(tmp_path), **mapped)
    assert (args.learning_rate, args.num_train_epochs, args.per_device_train_batch_size) == (4e-5, 2, 32)
    assert args.warmup_steps == 0.1 and args.get_warmup_steps(100) == 10  # a ratio, not 0 steps
    assert (args.weight_decay, args.seed) == (0.05, 7)


@pytest.mark.parametrize("space, message", [
    ({}, "empty"),
    ([], "empty"),
    ({"lr": {"low": 1e-5, "high": 1e-4}}, "Valid ones: learning_rate, num_train_epochs, batch_size"),
    ({"learning_rate": {"low": 1e-4, "high": 1e-5}}, "low < high"),
    ({"learning_rate": {"low": 0.0, "high": 1e-4, "log": True}}, "low must be > 0"),
    ({"learning_rate": {"low": 1e-5}}, "must look like"),
    ({"learning_rate": {"low": 1e-5, "high": 1e-4, "scale": "log"}}, "must look like"),
    ({"batch_size": []}, "empty list"),
    ({"batch_size": "16"}, "range dict, a list or a number"),
    ({"warmup_ratio": {"low": 0.0, "high": 1.5}}, "[0, 1)"),
])
def test_bad_spaces_are_refused_with_a_clear_message(space, message):
    with pytest.raises(GlueHelpersError, match=re.escape(message)):
        make_hp_space(space)
