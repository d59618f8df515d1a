"""The offline kit: GLUE's exact columns, splits and label names; a real model folder; a learnable signal."""

import pytest
from datasets import ClassLabel, load_dataset
from transformers import Trainer, set_seed

from glue_helpers.cli import main
from glue_helpers.data import load_glue
from glue_helpers.metrics import make_compute_metrics
from glue_helpers.modeling import load_model, load_tokenizer, make_data_collator, tokenize_dataset
from glue_helpers.offline_kit import SIZES, ensure_kit
from glue_helpers.recipe import Recipe
from glue_helpers.tasks import get_task
from glue_helpers.training import training_arguments

# Columns, splits and label names as published in the nyu-mll/glue dataset card.
SPLITS = ["train", "validation", "test"]
NLI = ["entailment", "neutral", "contradiction"]
GLUE_CARD = {
    "cola": (["sentence"], SPLITS, ["unacceptable", "acceptable"]),
    "sst2": (["sentence"], SPLITS, ["negative", "positive"]),
    "mrpc": (["sentence1", "sentence2"], SPLITS, ["not_equivalent", "equivalent"]),
    "qqp": (["question1", "question2"], SPLITS, ["not_duplicate", "duplicate"]),
    "stsb": (["sentence1", "sentence2"], SPLITS, None),
    "mnli": (["premise", "hypothesis"], ["train", "validation_matched", "validation_mismatched", "test_matched",
                                         "test_mismatched"], NLI),
    "qnli": (["question", "sentence"], SPLITS, ["entailment", "not_entailment"]),
    "rte": (["sentence1", "sentence2"], SPLITS, ["entailment", "not_entailment"]),
    "wnli": (["sentence1", "sentence2"], SPLITS, ["not_entailment", "entailment"]),
    "ax": (["premise", "hypothesis"], ["test"], NLI),
}


@pytest.mark.parametrize("config", sorted(GLUE_CARD))
def test_synthetic_config_matches_the_glue_card(kit, config):
    columns, splits, names = GLUE_CARD[config]
    ds = load_dataset(str(kit.data_dir), config)
    assert sorted(ds) == sorted(splits)
    for split, part in ds.items():
        assert part.column_names == [*columns, "label", "idx"]
        label = part.features["label"]
        assert label.dtype == "float32" if names is None else isinstance(label, ClassLabel) and label.names == names
        if split.startswith("test"):
            assert (set(part["label"]), len(part)) == ({-1}, SIZES["test"])


@pytest.mark.parametrize("task, metric, floor, lr, epochs", [("cola", "matthews_correlation", 0.5, 1e-3, 12),
                                                              ("mnli", "accuracy", 0.6, 1e-3, 12),
                                                              ("stsb", "pearson", 0.5, 3e-3, 20)])
@pytest.mark.slow
def test_short_training_beats_chance(kit, tmp_path, task, metric, floor, lr, epochs):
    task = get_task(task)
    tok = load_tokenizer(kit.model_dir)
    enc = tokenize_dataset(load_glue(task, kit.data_dir), task, tok)
    args = training_arguments(task, str(tmp_path), Recipe(learning_rate=lr, num_train_epochs=epochs),
                              save_strategy="no", load_best_model_at_end=False, eval_strategy="no", disable_tqdm=True)
    set_seed(0)
    trainer = Trainer(model=load_model(kit.model_dir, task), args=args, train_dataset=enc["train"],
                      eval_dataset=enc["validation"], processing_class=tok, data_collator=make_data_collator(tok),
                      compute_metrics=make_compute_metrics(task))
    trainer.train()
    assert trainer.evaluate()[f"eval_{metric}"] > floor


@pytest.mark.parametrize("flags", [["--force"], []], ids=["force", "no-force"])
def test_kit_never_replaces_or_builds_into_a_folder_of_someone_elses_files(tmp_path, capsys, flags):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "results.csv").write_text("a,b\n1,2\n")
    assert main(["kit", "--dir", str(folder), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(folder) in err and ("not an offline kit" in err or "not empty" in err)
    assert [(p.name, p.read_text()) for p in folder.iterdir()] == [("results.csv", "a,b\n1,2\n")]


def test_kit_force_rebuilds_a_kit(tmp_path, capsys):
    root = tmp_path / "kit"
    train, model = root / "glue" / "cola" / "train-00000-of-00001.parquet", root / "tiny-bert" / "config.json"
    assert main(["kit", "--dir", str(root)]) == 0
    before = model.stat().st_mtime_ns
    assert (ensure_kit(root).root, model.stat().st_mtime_ns) == (root, before)  # a kit is built once, then reused
    train.unlink()  # a damaged kit
    assert main(["kit", "--dir", str(root), "--force"]) == 0 and train.is_file()
    assert "Creating parquet" not in capsys.readouterr().err  # no progress bar for each of its 61 files
