"""LoRA on the offline kit: the run folder holds the adapter and a merged model that both predict like the trained
model, bad LoRA settings fail before any training, target modules come from the architecture, and train, search,
batch and notebook 01 all take `peft="lora"`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForSequenceClassification, set_seed

from glue_helpers.cli import main
from glue_helpers.data import label_names_of
from glue_helpers.errors import GlueHelpersError
from glue_helpers.modeling import (
    LORA_TARGETS,
    apply_lora,
    is_peft_model,
    load_model,
    lora_modules_to_save,
    lora_target_modules,
    make_model_init,
    peft_summary,
    save_trained_model,
)
from glue_helpers.recipe import Recipe
from glue_helpers.rundir import RunDir
from glue_helpers.tasks import get_task
from glue_helpers.train import build_trainer, train
from glue_helpers.training import GlueTrainer, check_training_parameters

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_text_classification.ipynb"
TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "vocab_size": 100, "max_position_embeddings": 64}
# Tiny configs of the architectures LoRA knows, and the head (and pooler) each must train in full and save.
ARCHITECTURES = {
    "bert": ({}, ["classifier", "bert.pooler"]),
    "roberta": ({}, ["classifier"]),
    "xlm-roberta": ({}, ["classifier"]),
    "camembert": ({}, ["classifier"]),
    "electra": ({"embedding_size": 16}, ["classifier"]),
    "albert": ({"embedding_size": 16}, ["classifier", "albert.pooler"]),
    "distilbert": ({"dim": 16, "n_layers": 1, "n_heads": 2, "hidden_dim": 32}, ["pre_classifier", "classifier"]),
    "deberta": ({}, ["pooler", "classifier"]),
    "deberta-v2": ({}, ["pooler", "classifier"]),
    "mpnet": ({}, ["classifier"]),
}
FAST = Recipe(num_train_epochs=2, batch_size=8, learning_rate=5e-3, seed=3, precision="fp32", max_train_samples=48,
              max_eval_samples=24, peft="lora", lora_r=4, lora_alpha=8)


@pytest.fixture(scope="module")
def lora_run(kit, tmp_path_factory):
    """A LoRA model trained on MRPC (a pair task; BERT has a pooler), its validation logits in memory, and the
    run folder it was saved to the way `train` saves it."""
    run = RunDir(tmp_path_factory.mktemp("lora") / "mrpc")
    raw, trainer = build_trainer(get_task("mrpc"), str(kit.model_dir), str(kit.data_dir), run, FAST,
                                 overwrite=False)
    trainer.train()
    logits = trainer.predict(trainer.eval_dataset).predictions
    save_trained_model(trainer, run.model, run.adapter)
    return trainer, logits, run, raw


def predict(model, trainer) -> np.ndarray:
    """Validation logits of another model, with the same arguments and data as the trained one."""
    other = GlueTrainer(model=model, args=trainer.args, eval_dataset=trainer.eval_dataset,
                        data_collator=trainer.data_collator)
    return other.predict(trainer.eval_dataset).predictions


def test_the_run_folder_holds_the_adapter_and_a_plain_merged_model(lora_run):
    trainer, _, run, _ = lora_run
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in run.adapter.iterdir()}
    assert (run.model / "config.json").is_file() and (run.model / "model.safetensors").is_file()
    assert not (run.model / "adapter_config.json").exists()  # else transformers would go looking for peft
    with safe_open(str(run.adapter / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert any("lora_A" in k for k in keys)
    assert any("classifier" in k for k in keys) and any("pooler" in k for k in keys)  # the head is saved too
    with safe_open(str(run.model / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "lora_" in k or "modules_to_save" in k]
    assert is_peft_model(trainer.model)  # merging worked on a copy


def test_the_merged_model_predicts_like_the_trained_model(lora_run):
    trainer, logits, run, _ = lora_run
    merged = AutoModelForSequenceClassification.from_pretrained(run.model)
    assert not is_peft_model(merged)
    np.testing.assert_allclose(predict(merged, trainer), logits, atol=1e-5)
    np.testing.assert_allclose(trainer.predict(trainer.eval_dataset).predictions, logits, atol=1e-6)  # unharmed


def test_base_model_plus_adapter_predicts_like_the_trained_model(kit, lora_run):
    from peft import PeftModel

    trainer, logits, run, raw = lora_run
    set_seed(999)  # a different random head: the adapter must bring back the trained one
    base = load_model(kit.model_dir, get_task("mrpc"), label_names_of(raw["train"]))
    reloaded = PeftModel.from_pretrained(base, run.adapter)
    np.testing.assert_allclose(predict(reloaded, trainer), logits, atol=1e-5)


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
    assert (record["peft"], record["lora_r"], record["lora_alpha"], record["lora_dropout"]) == ("lora", 4, 8, 0.1)
    assert record["lora_target_modules"] == ["query", "value"]
    assert record["lora_modules_to_save"] == ["bert.pooler", "classifier"]
    assert 0 < record["trainable_parameters"] < record["total_parameters"]
    assert record["trainable_share"] == pytest.approx(record["trainable_parameters"] / record["total_parameters"],
                                                      abs=1e-6)
    card = (out / "model" / "README.md").read_text()
    assert "LoRA" in card and "r=4" in card and "alpha=8" in card and f"{record['trainable_share']:.2%}" in card
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / "checkpoints").exists()


def test_full_fine_tuning_records_no_peft(kit):
    model = load_model(kit.model_dir, get_task("cola"))
    summary = peft_summary(model)
    assert summary["peft"] is None and summary["trainable_parameters"] == summary["total_parameters"] > 0
    assert "lora_r" not in summary


@pytest.mark.parametrize("bad, needle", [
    ({"lora_r": 0}, "lora_r"), ({"lora_r": -1}, "lora_r"), ({"lora_r": 2.5}, "lora_r"), ({"lora_r": "8"}, "lora_r"),
    ({"lora_r": True}, "lora_r"), ({"lora_alpha": 0}, "lora_alpha"), ({"lora_dropout": 1.0}, "lora_dropout"),
    ({"peft": "qlora"}, "'lora'"), ({"lora_target_modules": []}, "lora_target_modules"),
])
def test_bad_lora_settings_fail_before_any_work(kit, tmp_path, bad, needle):
    with pytest.raises(GlueHelpersError, match=needle):
        train(get_task("cola"), output_dir=tmp_path / "out", smoke=True, **{"peft": "lora", **bad})
    assert not (tmp_path / "out").exists()


def test_a_module_the_model_lacks_fails_before_training(kit, tmp_path):
    with pytest.raises(GlueHelpersError, match="lora_target_modules"):
        train(get_task("cola"), output_dir=tmp_path / "out", smoke=True, peft="lora", lora_target_modules=["q_lin"])
    assert not (tmp_path / "out" / "metrics.json").exists() and not (tmp_path / "out" / "checkpoints").exists()


def test_a_low_learning_rate_for_lora_warns():
    with pytest.warns(UserWarning, match="low for LoRA"):
        check_training_parameters(learning_rate=2e-5, batch_size=16, num_train_epochs=1, peft="lora")


def test_an_unknown_architecture_says_to_pass_lora_target_modules(kit):
    model = load_model(kit.model_dir, get_task("cola"))
    model.config.model_type = "mystery"
    with pytest.raises(GlueHelpersError, match="lora_target_modules") as err:
        lora_target_modules(model)
    assert "'mystery'" in str(err.value)
    assert lora_target_modules(model, "query, key") == ["query", "key"]  # naming them is the fix


@pytest.mark.parametrize("model_type", sorted(LORA_TARGETS))
def test_every_known_architecture_gets_adapters_and_a_saved_head(model_type):
    extra, head = ARCHITECTURES[model_type]
    config = AutoConfig.for_model(model_type, **{**TINY, **extra}, num_labels=3)
    model = AutoModelForSequenceClassification.from_config(config)
    assert sorted(lora_modules_to_save(model)) == sorted(head)
    wrapped = apply_lora(model, lora_r=2)
    summary = peft_summary(wrapped)
    assert summary["lora_target_modules"] == sorted(LORA_TARGETS[model_type])
    assert sorted(summary["lora_modules_to_save"]) == sorted(head)
    ids = torch.tensor([[2, 5, 7, 3], [2, 9, 4, 3]])
    assert tuple(wrapped(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape) == (2, 3)


@pytest.mark.slow
def test_a_smoke_search_with_lora_searches_the_rank_and_retrains_it(kit, tmp_path, capsys):
    space = {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}, "num_train_epochs": 1, "batch_size": 8,
             "lora_r": [2, 4]}
    out = tmp_path / "search"
    assert main(["search", "--smoke", "--task", "cola", "--peft", "lora", "--n-trials", "2", "--search-fraction",
                 "0.5", "--max-train-samples", "32", "--max-eval-samples", "16", "--pruner", "none", "--space",
                 json.dumps(space), "--recheck-top", "1", "--recheck-seeds", "2", "--output-dir", str(out),
                 "--worker", "0", "--retrain"]) == 0
    record = json.loads((out / "best-model" / "metrics.json").read_text())
    ranks = (8,) if record["recheck_winner"] == "recipe" else (2, 4)  # the recipe's rank, or a searched one
    assert record["peft"] == "lora" and record["lora_r"] == record["best_params"]["lora_r"] in ranks
    assert (out / "best-adapter" / "adapter_config.json").is_file()
    assert not (out / "best-model" / "adapter_config.json").exists()
    assert AutoModelForSequenceClassification.from_pretrained(out / "best-model").config.num_labels == 2


def test_a_lora_model_init_works_as_the_trainers_model_init(kit, tmp_path):
    from transformers import TrainingArguments

    model_init = make_model_init(kit.model_dir, get_task("cola"), lora=dict(lora_r=4))
    trainer = GlueTrainer(model_init=model_init, args=TrainingArguments(str(tmp_path), report_to="none"))
    assert is_peft_model(trainer.model) and peft_summary(trainer.model)["lora_r"] == 4
    assert peft_summary(model_init.with_lora(lora_r=2)())["lora_r"] == 2  # a trial's rank
    with pytest.raises(GlueHelpersError, match="peft='lora'"):
        make_model_init(kit.model_dir, get_task("cola")).with_lora(lora_r=2)()


def test_searching_the_rank_needs_peft_lora(kit, tmp_path):
    from glue_helpers.search.pipeline import prepare_search

    with pytest.raises(GlueHelpersError, match="peft='lora'"):
        prepare_search(get_task("cola"), str(kit.model_dir), data_dir=kit.data_dir, output_dir=tmp_path,
                       search_space={"learning_rate": 1e-3, "lora_r": [4, 8]})
    with pytest.raises(GlueHelpersError, match="lora_r"):
        prepare_search(get_task("cola"), str(kit.model_dir), data_dir=kit.data_dir, output_dir=tmp_path, peft="lora",
                       search_space={"learning_rate": 1e-3, "lora_r": [0, 8]})


@pytest.fixture(scope="module")
def lora_batch(kit, tmp_path_factory):
    """Notebook 01 through the batch runner in smoke mode with peft=lora, on MRPC."""
    out = tmp_path_factory.mktemp("batch") / "out"
    code = main(["batch", "--notebook", str(NOTEBOOK), "--out", str(out), "--tasks", "mrpc", "-p", "smoke", "True",
                 "-p", "peft", "lora", "-p", "learning_rate", "0.005", "-p", "num_train_epochs", "2",
                 "-p", "precision", "fp32", "--jobs", "1", "--no-progress"])
    return code, out / "mrpc"


@pytest.mark.notebook
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
    _, folder = lora_batch
    out = tmp_path / "train"
    assert main(["train", "--smoke", "--task", "mrpc", "--peft", "lora", "--learning-rate", "0.005",
                 "--num-train-epochs", "2", "--precision", "fp32", "--output-dir", str(out)]) == 0
    notebook, cli = (json.loads((f / "metrics.json").read_text()) for f in (folder, out))
    assert notebook["metrics"] == cli["metrics"]
    keys = ("peft", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_modules_to_save",
            "trainable_parameters", "total_parameters", "trainable_share")
    assert {k: notebook[k] for k in keys} == {k: cli[k] for k in keys}


@pytest.mark.slow
def test_lora_trains_under_ddp_and_only_the_main_process_writes(kit, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "GLUE_HELPERS_KIT": str(kit.root), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "glue_helpers", "train", "--smoke", "--task", "mrpc", "--epochs", "1", "--batch-size", "4",
           "--max-eval-samples", "21", "--peft", "lora", "--lr", "5e-3", "--output-dir", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads((out / "metrics.json").read_text())
    assert record["world_size"] == 2 and record["peft"] == "lora" and record["eval_rows"] == 21
    assert len((out / "validation_predictions.jsonl").read_text().splitlines()) == 21
    outputs = sorted(p.name for p in out.iterdir() if not p.name.startswith(".run.lock"))  # the folder's lock
    assert outputs == ["adapter", "metrics.json", "model", "validation_predictions.jsonl"]
    assert AutoModelForSequenceClassification.from_pretrained(out / "model").config.num_labels == 2
