"""The model and tokenizer: label names in the config, regression head, and clear errors for bad paths."""

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.modeling import load_model, load_tokenizer, make_model_init, resolve_checkpoint
from glue_helpers.tasks import get_task


def test_classifier_carries_the_label_names(kit):
    config = load_model(kit.model_dir, get_task("cola")).config
    assert config.num_labels == 2 and config.id2label == {0: "unacceptable", 1: "acceptable"}
    assert config.label2id == {"unacceptable": 0, "acceptable": 1}


@pytest.mark.parametrize("task, num_labels, check", [
    ("mnli-mm", 3, lambda config: config.id2label[2] == "contradiction"),
    ("stsb", 1, lambda config: config.problem_type == "regression"),
], ids=["three-way-nli", "stsb-regression"])
def test_the_head_fits_the_task(kit, task, num_labels, check):
    config = load_model(kit.model_dir, get_task(task)).config
    assert config.num_labels == num_labels and check(config)


def test_model_init_builds_a_fresh_model_each_call(kit):
    init = make_model_init(kit.model_dir, get_task("rte"))
    a, b = init(), init(None)
    assert a is not b and a.config.id2label == b.config.id2label == {0: "entailment", 1: "not_entailment"}


def test_tokenizer_handles_pairs(kit):
    tok = load_tokenizer(kit.model_dir)
    single, pair = tok("the cat"), tok("the cat", "a dog")
    assert len(pair["input_ids"]) > len(single["input_ids"])
    assert pair["input_ids"].count(tok.sep_token_id) == 2


@pytest.mark.parametrize("folder, message", [("no-such-model", "does not exist"), ("", "config.json")],
                         ids=["missing-local-path", "folder-without-config"])
def test_a_bad_local_model_path_is_named(tmp_path, folder, message):
    with pytest.raises(GlueHelpersError, match=message):
        resolve_checkpoint(tmp_path / folder)


def test_hub_id_while_offline_and_not_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(GlueHelpersError) as err:
        resolve_checkpoint("distilbert-base-uncased")
    assert "smoke" in str(err.value) and "model_checkpoint" in str(err.value)
