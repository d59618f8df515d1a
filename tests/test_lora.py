"""LoRA: adapter and merged model predict alike; bad settings fail first; train, search, batch take it (DDP too)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForSequenceClassification, set_seed

from glue_helpers.batch.runner import _threads_per_job, task_environment
from glue_helpers.cli import main
from glue_helpers.data import label_names_of, load_glue
from glue_helpers.errors import GlueHelpersError
from glue_helpers.modeling import (
    apply_lora,
    is_peft_model,
    load_model,
    load_tokenizer,
    lora_modules_to_save,
    lora_target_modules,
    peft_summary,
    save_trained_model,
    tokenize_dataset,
)
from glue_helpers.offline_kit import write_example_csv
from glue_helpers.recipe import Recipe
from glue_helpers.rundir import RunDir
from glue_helpers.search.space import validate_search_space
from glue_helpers.search.study import open_storage
from glue_helpers.tasks import get_task
from glue_helpers.train import fit, train
from glue_helpers.training import GlueTrainer, training_arguments

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_text_classification.ipynb"
TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "vocab_size": 100, "max_position_embeddings": 64}
# Tiny configs LoRA knows (peft's or modeling.LORA_TARGETS): projections it adapts, head (and pooler) trained and saved
QUERY_VALUE = ["query", "value"]
ARCHITECTURES = {
    "bert": ({}, QUERY_VALUE, ["classifier", "bert.pooler"]), "mpnet": ({}, ["q", "v"], ["classifier"]),
    **dict.fromkeys(("roberta", "xlm-roberta", "camembert"), ({}, QUERY_VALUE, ["classifier"])),
    "electra": ({"embedding_size": 16}, QUERY_VALUE, ["classifier"]),
    "albert": ({"embedding_size": 16}, QUERY_VALUE, ["classifier", "albert.pooler"]),
    "distilbert": ({"dim": 16, "n_layers": 1, "n_heads": 2, "hidden_dim": 32}, ["q_lin", "v_lin"],
                   ["pre_classifier", "classifier"]),
    "deberta": ({}, ["in_proj"], ["pooler", "classifier"]),
    "deberta-v2": ({}, ["query_proj", "value_proj"], ["pooler", "classifier"]),
}
FAST = Recipe(num_train_epochs=2, batch_size=8, learning_rate=5e-3, seed=3, precision="fp32", max_train_samples=48,
              max_eval_samples=24, peft="lora", lora_r=4, lora_alpha=8)


@pytest.fixture(scope="module")
def lora_run(kit, tmp_path_factory):
    """A LoRA model trained on MRPC (a pair task; BERT has a pooler), its validation logits, and its run folder."""
    task, run = get_task("mrpc"), RunDir(tmp_path_factory.mktemp("lora") / "mrpc")
    args = training_arguments(task, run.checkpoints, FAST, run_name="mrpc-lora")
    raw = load_glue(task, str(kit.data_dir), max_train_samples=FAST.max_train_samples,
                    max_eval_samples=FAST.max_eval_samples, seed=FAST.seed, splits=("train", "validation"))
    tokenizer = load_tokenizer(kit.model_dir)
    encoded = tokenize_dataset(raw, task, tokenizer)
    trainer, _ = fit(task, FAST, str(kit.model_dir), args, encoded["train"], encoded["validation"], tokenizer,
                     label_names=label_names_of(raw["train"]), log=False)
    logits = trainer.predict(trainer.eval_dataset).predictions
    save_trained_model(trainer, run.model, run.adapter)
    return trainer, logits, run, raw


def predict(model, trainer) -> np.ndarray:
    """Validation logits of another model, with the same arguments and data as the trained one."""
    other = GlueTrainer(model=model, args=trainer.args, eval_dataset=trainer.eval_dataset,
                        data_collator=trainer.data_collator)
    return other.predict(trainer.eval_dataset).predictions


def test_the_run_folders_adapter_and_plain_merged_model_predict_like_the_trained_model(kit, lora_run):
    from peft import PeftModel

    trainer, logits, run, raw = lora_run
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in run.adapter.iterdir()}
    assert (run.model / "config.json").is_file() and (run.model / "model.safetensors").is_file()
    assert not (run.model / "adapter_config.json").exists()  # else transformers would go looking for peft
    with safe_open(str(run.adapter / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert all(any(part in k for k in keys) for part in ("lora_A", "classifier", "pooler"))  # the head is saved too
    with safe_open(str(run.model / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "lora_" in k or "modules_to_save" in k]
    merged = AutoModelForSequenceClassification.from_pretrained(run.model)
    assert not is_peft_model(merged)
    np.testing.assert_allclose(predict(merged, trainer), logits, atol=1e-5)
    assert is_peft_model(trainer.model)  # merging worked on a copy
    np.testing.assert_allclose(trainer.predict(trainer.eval_dataset).predictions, logits, atol=1e-6)  # unharmed
    set_seed(999)  # a different random head: the adapter must bring back the trained one
    base = load_model(kit.model_dir, get_task("mrpc"), label_names_of(raw["train"]))
    np.testing.assert_allclose(predict(PeftModel.from_pretrained(base, run.adapter), trainer), logits, atol=1e-5)


@pytest.mark.slow
def test_a_pipeline_loads_the_merged_model_without_peft(lora_run):
    _, _, run, _ = lora_run
    code = ("import sys; from transformers import pipeline; "
            f"out = pipeline('text-classification', model={str(run.model)!r})('a cat sees a dog'); "
            "print(out[0]['label'], 'peft' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    label, peft_loaded = result.stdout.split()[-2:]
    assert label in get_task("mrpc").label_names and peft_loaded == "False"


def test_train_records_lora_in_metrics_and_model_card(kit, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--smoke", "--task", "stsb", "--epochs", "1", "--batch-size", "8", "--max-train-samples",
                 "32", "--max-eval-samples", "16", "--output-dir", str(out), "--peft", "lora", "--lr", "5e-3",
                 "--lora-r", "4", "--lora-alpha", "8"]) == 0
    record = json.loads((out / "metrics.json").read_text())
    keys = ("peft", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_modules_to_save")
    assert [record[k] for k in keys] == ["lora", 4, 8, 0.1, QUERY_VALUE, ["bert.pooler", "classifier"]]
    trainable, total = record["trainable_parameters"], record["total_parameters"]
    assert 0 < trainable < total and record["trainable_share"] == pytest.approx(trainable / total, abs=1e-6)
    card = (out / "model" / "README.md").read_text()
    assert "LoRA" in card and "r=4" in card and "alpha=8" in card and f"{record['trainable_share']:.2%}" in card
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / "checkpoints").exists()


@pytest.mark.parametrize("bad, needle", [*[({"lora_r": r}, "lora_r") for r in (0, -1, 2.5, "8", True)],
    ({"lora_alpha": 0}, "lora_alpha"), ({"lora_dropout": 1.0}, "lora_dropout"), ({"peft": "qlora"}, "'lora'"),
    ({"lora_target_modules": []}, "lora_target_modules")])
def test_bad_lora_settings_fail_before_any_work(kit, tmp_path, bad, needle):
    with pytest.raises(GlueHelpersError, match=needle):
        train(get_task("cola"), output_dir=tmp_path / "out", smoke=True, **{"peft": "lora", **bad})
    assert not (tmp_path / "out").exists()


def test_a_low_learning_rate_for_lora_warns_and_a_searched_rank_is_checked():
    with pytest.warns(UserWarning, match="low for LoRA"):
        Recipe(learning_rate=2e-5, peft="lora").warn_if_odd()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same rate for full fine-tuning, or LoRA at its usual rate: no warning
        Recipe(learning_rate=2e-5).warn_if_odd()
        Recipe(learning_rate=5e-4, peft="lora").warn_if_odd()
    space = {"learning_rate": 1e-3, "lora_r": [4, 8]}  # refused without peft="lora": test_search.py's bad spaces
    assert validate_search_space(space, "lora") == space
    with pytest.raises(GlueHelpersError, match="lora_r"):
        validate_search_space({"learning_rate": 1e-3, "lora_r": [0, 8]}, "lora")


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_every_known_architecture_gets_adapters_and_a_saved_head(model_type):
    extra, targets, head = ARCHITECTURES[model_type]
    config = AutoConfig.for_model(model_type, **{**TINY, **extra}, num_labels=3)
    model = AutoModelForSequenceClassification.from_config(config)
    assert sorted(lora_modules_to_save(model)) == sorted(head)
    wrapped = apply_lora(model, Recipe(peft="lora", lora_r=2))
    summary = peft_summary(wrapped)
    assert summary["lora_r"] == 2 and summary["lora_target_modules"] == sorted(targets)
    assert sorted(summary["lora_modules_to_save"]) == sorted(head)
    ids = torch.tensor([[2, 5, 7, 3], [2, 9, 4, 3]])
    assert tuple(wrapped(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape) == (2, 3)


@pytest.mark.notebook
def test_a_smoke_lora_search_on_a_task_yaml_searches_the_rank_and_retrains_it(kit, tmp_path, capsys):
    """`search` on your own data (a task YAML, labels as words) with LoRA: the rank is searched, the best retrained."""
    write_example_csv(tmp_path / "reviews.csv", n=64)
    (tmp_path / "reviews.yaml").write_text("train_file: reviews.csv\ntext_columns: text\nlabel_column: label\n")
    space = {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}, "num_train_epochs": 1, "batch_size": 8,
             "lora_r": [2, 4]}
    out = tmp_path / "search"
    assert main(["search", "--smoke", "--task", str(tmp_path / "reviews.yaml"), "--peft", "lora", "--n-trials", "2",
                 "--search-fraction", "0.5", "--max-eval-samples", "16", "--pruner", "none", "--recheck-seeds", "0",
                 "--space", json.dumps(space), "--output-dir", str(out), "--worker", "0", "--retrain"]) == 0
    record = json.loads((out / "best-model" / "metrics.json").read_text())
    study = optuna.load_study(study_name="glue-reviews", storage=open_storage(None, out))
    assert study.user_attrs["task"] == "reviews" and record["task"] == "reviews" and "f1_macro" in record["metrics"]
    # --recheck-seeds 0: the best trial, retrained once by notebook 01 with its own rank, is the best model
    winner = f"trial-{study.best_trial.number}"
    assert record["recheck_winner"] == winner and not record["recheck_beats_recipe"]
    run = out / "recheck" / "glue-reviews" / winner / "reviews" / "seed-42"
    assert record["metrics"] == json.loads((run / "metrics.json").read_text())["metrics"]
    assert record["peft"] == "lora" and record["lora_r"] == record["best_params"]["lora_r"]
    assert record["best_params"]["lora_r"] == study.best_trial.params["lora_r"] in (2, 4)  # searched from --space
    assert json.loads((out / "best-adapter" / "adapter_config.json").read_text())["r"] == record["lora_r"]
    assert not (out / "best-model" / "adapter_config.json").exists()
    assert AutoConfig.from_pretrained(out / "best-model").id2label == {0: "negative", 1: "positive"}


def test_apply_lora_adds_the_recipes_adapters_and_checks_the_target_modules(kit, tmp_path):
    plain = load_model(kit.model_dir, get_task("cola"))
    summary = peft_summary(plain)  # full fine-tuning: no adapters, every weight trains
    assert summary["peft"] is None and summary["trainable_parameters"] == summary["total_parameters"] > 0
    assert "lora_r" not in summary
    model = apply_lora(plain, Recipe(peft="lora", lora_r=4, lora_alpha=8, lora_dropout=0.05))
    summary = peft_summary(model)
    assert is_peft_model(model)
    assert (summary["peft"], summary["lora_r"], summary["lora_alpha"], summary["lora_dropout"]) == ("lora", 4, 8, 0.05)
    assert summary["lora_target_modules"] == ["query", "value"]  # found from the architecture (BERT)
    assert 0 < summary["trainable_parameters"] < summary["total_parameters"]
    other = load_model(kit.model_dir, get_task("cola"))
    other.config.model_type = "mystery"  # an architecture LoRA does not know: its modules must be named
    with pytest.raises(GlueHelpersError, match="lora_target_modules") as err:
        lora_target_modules(other)
    assert "'mystery'" in str(err.value)
    assert lora_target_modules(other, "query, key") == ["query", "key"]  # naming them is the fix
    named = apply_lora(other, Recipe(peft="lora", lora_target_modules=["query", "key"]))
    assert peft_summary(named)["lora_target_modules"] == ["key", "query"]
    with pytest.raises(GlueHelpersError, match="lora_target_modules"):  # modules the model lacks: before training
        train(get_task("cola"), output_dir=tmp_path / "out", smoke=True, peft="lora", lora_target_modules=["q_lin"])
    assert not (tmp_path / "out" / "metrics.json").exists() and not (tmp_path / "out" / "checkpoints").exists()


def test_fit_adds_adapters_only_with_peft_lora(kit, lora_run, tmp_path):
    trainer = lora_run[0]
    assert is_peft_model(trainer.model) and peft_summary(trainer.model)["lora_r"] == FAST.lora_r == 4
    task, recipe = get_task("mrpc"), Recipe(num_train_epochs=1, batch_size=8, precision="fp32", lora_r=2)
    args = training_arguments(task, tmp_path, recipe, save_strategy="no", load_best_model_at_end=False)
    full, _ = fit(task, recipe, str(kit.model_dir), args, trainer.train_dataset, trainer.eval_dataset,  # the same data
                  trainer.processing_class, log=False)  # a rank, but no peft="lora": full fine-tuning
    summary = peft_summary(full.model)
    assert not is_peft_model(full.model) and summary["peft"] is None
    assert summary["trainable_parameters"] == summary["total_parameters"]


@pytest.fixture(scope="module")
def lora_batch(kit, tmp_path_factory):
    """Notebook 01 through the batch runner in smoke mode with peft=lora, on MRPC."""
    out = tmp_path_factory.mktemp("batch") / "out"
    code = main(["batch", "--notebook", str(NOTEBOOK), "--out", str(out), "--tasks", "mrpc", "-p", "smoke", "True",
                 "-p", "peft", "lora", "-p", "learning_rate", "0.005", "-p", "num_train_epochs", "2",
                 "-p", "precision", "fp32", "--jobs", "1", "--no-progress"])
    return code, out / "mrpc"


@pytest.mark.notebook  # .ci/compat runs this one by name
def test_a_smoke_batch_with_lora_runs_notebook_01(lora_batch):
    code, folder = lora_batch
    assert code == 0, (folder / "run.log").read_text()[-3000:]
    record = json.loads((folder / "metrics.json").read_text())
    assert record["peft"] == "lora" and record["lora_r"] == 8 and record["trainable_share"] < 1
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()
    assert (folder / "model" / "config.json").is_file() and not (folder / "model" / "adapter_config.json").exists()
    assert (folder / "leaderboard" / "MRPC.tsv").is_file()
    assert "trainable params:" in (folder / "01_text_classification.ipynb").read_text()  # the LoRA cell ran


@pytest.mark.notebook
def test_notebook_and_train_give_the_same_lora_metrics(kit, lora_batch, tmp_path):
    folder, out = lora_batch[1], tmp_path / "train"
    # A fresh process each, with the threads the batch gave notebook 01's kernel (its one job gets every core).
    env = task_environment(_threads_per_job(1))
    proc = subprocess.run([sys.executable, "-m", "glue_helpers", "train", "--smoke", "--task", "mrpc", "--peft", "lora",
                           "--learning-rate", "0.005", "--num-train-epochs", "2", "--precision", "fp32",
                           "--output-dir", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    notebook, cli = (json.loads((f / "metrics.json").read_text()) for f in (folder, out))
    keys = ("metrics", "peft", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_modules_to_save",
            "trainable_parameters", "total_parameters", "trainable_share")
    assert {k: notebook[k] for k in keys} == {k: cli[k] for k in keys}
