"""The model and tokenizer: label names in the config, regression head, and clear errors for bad paths."""

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.modeling import load_model, load_tokenizer, resolve_checkpoint
from glue_helpers.offline_kit import check_hub, hub_needs
from glue_helpers.tasks import get_task


@pytest.mark.parametrize("task, num_labels, check", [
    ("cola", 2, lambda config: config.id2label == {0: "unacceptable", 1: "acceptable"}
     and config.label2id == {"unacceptable": 0, "acceptable": 1}),
    ("mnli-mm", 3, lambda config: config.id2label[2] == "contradiction"),
    ("stsb", 1, lambda config: config.problem_type == "regression")], ids=["label-names", "three-way-nli", "stsb"])
def test_the_head_fits_the_task(kit, task, num_labels, check):
    config = load_model(kit.model_dir, get_task(task)).config
    assert config.num_labels == num_labels and check(config)


def test_each_load_builds_a_fresh_model_and_the_tokenizer_handles_pairs(kit):
    """What `train.fit` relies on: every run (a seed, a search trial) starts from a new model, not a trained one."""
    a, b = load_model(kit.model_dir, get_task("rte")), load_model(kit.model_dir, get_task("rte"))
    assert a is not b and a.config.id2label == b.config.id2label == {0: "entailment", 1: "not_entailment"}
    assert not any(p.data_ptr() == q.data_ptr() for p, q in zip(a.parameters(), b.parameters(), strict=True))
    tok = load_tokenizer(kit.model_dir)
    single, pair = tok("the cat")["input_ids"], tok("the cat", "a dog")["input_ids"]
    assert len(pair) > len(single) and pair.count(tok.sep_token_id) == 2


@pytest.mark.parametrize("folder, message", [("no-such-model", "does not exist"), ("", "config.json")],
                         ids=["missing-local-path", "folder-without-config"])
def test_a_bad_local_model_path_is_named(tmp_path, folder, message):
    with pytest.raises(GlueHelpersError, match=message):
        resolve_checkpoint(tmp_path / folder)


def test_hub_id_while_offline_and_not_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    assert resolve_checkpoint("distilbert-base-uncased") == "distilbert-base-uncased"  # the Hub: checked below
    with pytest.raises(GlueHelpersError) as err:  # with everything else the run needs from the Hub, at once
        check_hub(hub_needs(get_task("cola"), None, "distilbert-base-uncased"))
    assert "smoke" in str(err.value) and "model_checkpoint" in str(err.value)
