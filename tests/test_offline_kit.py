"""The offline kit: GLUE's exact columns, splits and label names; a real model folder; a learnable signal."""

import pytest
from datasets import ClassLabel, load_dataset
from transformers import Trainer, set_seed

from glue_helpers.data import load_glue
from glue_helpers.metrics import make_compute_metrics
from glue_helpers.modeling import load_model, load_tokenizer, make_data_collator, tokenize_dataset
from glue_helpers.offline_kit import SIZES, ensure_kit
from glue_helpers.tasks import get_task
from glue_helpers.training import training_arguments

# Columns, splits and label names as published in the nyu-mll/glue dataset card.
GLUE_CARD = {
    "cola": (["sentence"], ["train", "validation", "test"], ["unacceptable", "acceptable"]),
    "sst2": (["sentence"], ["train", "validation", "test"], ["negative", "positive"]),
    "mrpc": (["sentence1", "sentence2"], ["train", "validation", "test"], ["not_equivalent", "equivalent"]),
    "qqp": (["question1", "question2"], ["train", "validation", "test"], ["not_duplicate", "duplicate"]),
    "stsb": (["sentence1", "sentence2"], ["train", "validation", "test"], None),
    "mnli": (["premise", "hypothesis"], ["train", "validation_matched", "validation_mismatched", "test_matched",
                                         "test_mismatched"], ["entailment", "neutral", "contradiction"]),
    "qnli": (["question", "sentence"], ["train", "validation", "test"], ["entailment", "not_entailment"]),
    "rte": (["sentence1", "sentence2"], ["train", "validation", "test"], ["entailment", "not_entailment"]),
    "wnli": (["sentence1", "sentence2"], ["train", "validation", "test"], ["not_entailment", "entailment"]),
    "ax": (["premise", "hypothesis"], ["test"], ["entailment", "neutral", "contradiction"]),
}


@pytest.mark.parametrize("config", sorted(GLUE_CARD))
def test_synthetic_config_matches_the_glue_card(kit, config):
    columns, splits, names = GLUE_CARD[config]
    ds = load_dataset(str(kit.data_dir), config)
    assert sorted(ds) == sorted(splits)
    for split, part in ds.items():
        assert part.column_names == [*columns, "label", "idx"]
        label = part.features["label"]
        if names is None:
            assert label.dtype == "float32"
        else:
            assert isinstance(label, ClassLabel) and label.names == names
        if split.startswith("test"):
            assert set(part["label"]) == {-1}
            assert len(part) == SIZES["test"]


def test_kit_is_built_once_and_reused(kit):
    marker = kit.model_dir / "config.json"
    before = marker.stat().st_mtime_ns
    assert ensure_kit(kit.root).root == kit.root
    assert marker.stat().st_mtime_ns == before


@pytest.mark.parametrize("task, metric, floor, lr, epochs", [("cola", "matthews_correlation", 0.5, 1e-3, 12),
                                                              ("mnli", "accuracy", 0.6, 1e-3, 12),
                                                              ("stsb", "pearson", 0.5, 3e-3, 20)])
@pytest.mark.slow
def test_short_training_beats_chance(kit, tmp_path, task, metric, floor, lr, epochs):
    task = get_task(task)
    raw = load_glue(task, kit.data_dir)
    tok = load_tokenizer(kit.model_dir)
    enc = tokenize_dataset(raw, task, tok)
    args = training_arguments(task, str(tmp_path), learning_rate=lr, num_train_epochs=epochs, save_strategy="no",
                              load_best_model_at_end=False, eval_strategy="no", disable_tqdm=True)
    set_seed(0)
    trainer = Trainer(model=load_model(kit.model_dir, task), args=args, train_dataset=enc["train"],
                      eval_dataset=enc["validation"], processing_class=tok, data_collator=make_data_collator(tok),
                      compute_metrics=make_compute_metrics(task))
    trainer.train()
    assert trainer.evaluate()[f"eval_{metric}"] > floor
