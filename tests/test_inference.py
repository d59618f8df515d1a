"""Inputs for the fine-tuned model's pipeline."""

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.inference import example_input
from glue_helpers.tasks import get_task


def test_single_sentence_and_pair_inputs():
    assert example_input(get_task("sst2"), "a fine film") == "a fine film"
    assert example_input(get_task("mrpc"), ["a", "b"]) == {"text": "a", "text_pair": "b"}
    assert example_input(get_task("rte"), None, {"sentence1": "x", "sentence2": "y", "label": 0}) == {"text": "x",
                                                                                           "text_pair": "y"}


def test_pair_task_needs_two_texts():
    with pytest.raises(GlueHelpersError, match="takes 2 text"):
        example_input(get_task("qnli"), "only one")
