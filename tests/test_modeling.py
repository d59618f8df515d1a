"""The model and tokenizer: label names in the config, regression head, and clear errors for bad paths."""

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.modeling import load_model, load_tokenizer, make_model_init, resolve_checkpoint
from glue_helpers.tasks import get_task


def test_classifier_carries_the_label_names(kit):
    model = load_model(kit.model_dir, get_task("cola"))
    assert model.config.num_labels == 2
    assert model.config.id2label == {0: "unacceptable", 1: "acceptable"}
    assert model.config.label2id == {"unacceptable": 0, "acceptable": 1}


def test_three_way_nli_head(kit):
    model = load_model(kit.model_dir, get_task("mnli-mm"))
    assert model.config.num_labels == 3 and model.config.id2label[2] == "contradiction"


def test_stsb_has_one_regression_output(kit):
    model = load_model(kit.model_dir, get_task("stsb"))
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"


def test_model_init_builds_a_fresh_model_each_call(kit):
    init = make_model_init(kit.model_dir, get_task("rte"))
    a, b = init(), init(None)
    assert a is not b and a.config.id2label == b.config.id2label == {0: "entailment", 1: "not_entailment"}


def test_tokenizer_handles_pairs(kit):
    tok = load_tokenizer(kit.model_dir)
    single, pair = tok("the cat"), tok("the cat", "a dog")
    assert len(pair["input_ids"]) > len(single["input_ids"])
    assert pair["input_ids"].count(tok.sep_token_id) == 2


def test_missing_local_model_path(tmp_path):
    with pytest.raises(GlueHelpersError, match="does not exist"):
        resolve_checkpoint(tmp_path / "no-such-model")


def test_folder_without_config(tmp_path):
    with pytest.raises(GlueHelpersError, match="config.json"):
        resolve_checkpoint(tmp_path)


def test_hub_id_while_offline_and_not_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(GlueHelpersError) as err:
        resolve_checkpoint("distilbert-base-uncased")
    assert "smoke" in str(err.value) and "model_checkpoint" in str(err.value)
