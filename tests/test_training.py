"""training_arguments: the recipe's visible defaults, the speed defaults, and device-dependent flags."""

import pytest
import torch
from transformers import TrainingArguments

from glue_helpers import training
from glue_helpers.errors import GlueHelpersError
from glue_helpers.recipe import Recipe
from glue_helpers.tasks import get_task
from glue_helpers.training import training_arguments


def fake_cuda(monkeypatch, *, bf16: bool, capability: tuple[int, int]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)


@pytest.mark.parametrize("task, metric", [("cola", "matthews_correlation"), ("mrpc", "accuracy"), ("stsb", "pearson")])
def test_recipe_defaults_stay_visible(task, metric, tmp_path):
    args = training_arguments(get_task(task), str(tmp_path))
    assert (args.learning_rate, args.per_device_train_batch_size, args.num_train_epochs, args.weight_decay) == (
        2e-5, 16, 5, 0.01)
    assert (args.warmup_steps, args.seed, args.report_to) == (0.0, 42, [])  # no warmup, the recipe's seed, no tracker
    assert (args.eval_strategy, args.save_strategy) == ("epoch", "epoch")
    assert args.load_best_model_at_end and args.metric_for_best_model == metric and args.greater_is_better
    # speed defaults: a plain Trainer keeps the recipe's order (GlueTrainer groups); eval batch 16 on CPU, 4x on GPUs
    assert isinstance(args, TrainingArguments) and args.train_sampling_strategy == "random"
    assert (args.per_device_eval_batch_size, args.save_only_model, args.save_total_limit) == (16, True, 2)


def test_the_recipe_and_overrides_win(tmp_path):
    recipe = Recipe(batch_size=8, learning_rate=1e-4, num_train_epochs=3, weight_decay=0.1, warmup_ratio=0.06, seed=7)
    args = training_arguments(get_task("mrpc"), str(tmp_path), recipe, per_device_eval_batch_size=10,
                              save_only_model=False, save_total_limit=1, logging_strategy="no")
    assert (args.per_device_train_batch_size, args.per_device_eval_batch_size, args.save_only_model,
            args.save_total_limit, args.logging_strategy) == (8, 10, False, 1, "no")
    assert (args.learning_rate, args.num_train_epochs, args.weight_decay, args.warmup_steps, args.seed) == (
        1e-4, 3, 0.1, 0.06, 7)
    assert training_arguments(get_task("mrpc"), str(tmp_path), Recipe(batch_size=8)).per_device_eval_batch_size == 8


BAD_PRECISION = "precision must be one of 'auto', 'fp32', 'bf16', 'fp16'; got 'half'"


@pytest.mark.parametrize("kwargs, needle", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"), ({"learning_rate": -1.0}, "learning_rate"),
    ({"seed": -1}, "seed"), ({"num_train_epochs": 0}, "num_train_epochs"), ({"weight_decay": 1.0}, "weight_decay"),
    ({"warmup_ratio": -0.1}, "warmup_ratio"), ({"precision": "half"}, BAD_PRECISION)])
def test_bad_knobs_are_named_when_the_recipe_is_built(kwargs, needle):
    with pytest.raises(GlueHelpersError, match=needle):
        Recipe(**kwargs)


def fake_cpu(monkeypatch, *, native_bf16: bool) -> None:
    """Pretend a CPU-only machine, with or without native bf16 (AVX512-BF16/AMX)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)


def test_cpu_without_native_bf16_keeps_fp32_and_unpinned_memory(monkeypatch, tmp_path):
    fake_cpu(monkeypatch, native_bf16=False)
    assert training.device_flags() == {"bf16": False, "fp16": False, "dataloader_pin_memory": False, "use_cpu": True}
    args = training_arguments(get_task("cola"), str(tmp_path))
    assert not args.bf16 and not args.fp16 and not args.dataloader_pin_memory and args.tf32 is None
    assert args.use_cpu  # what makes torchrun start gloo DDP on CPU-only machines
    assert training.precision_name(args) == "fp32"


def test_cpu_with_native_bf16_trains_in_bf16_unless_told_fp32_and_refuses_fp16(monkeypatch, tmp_path):
    fake_cpu(monkeypatch, native_bf16=True)
    assert training.precision_name(training_arguments(get_task("cola"), str(tmp_path))) == "bf16"
    args = training_arguments(get_task("cola"), str(tmp_path), Recipe(precision="fp32"))
    assert not args.bf16 and not args.fp16 and training.precision_name(args) == "fp32"
    with pytest.raises(GlueHelpersError, match="fp16.*CUDA GPU.*'bf16' or 'fp32'"):  # says what to use
        training.precision_flags("fp16")


@pytest.mark.parametrize("capability", [(8, 0), (9, 0)])
def test_ampere_or_newer_gets_tf32_not_bf16_pinned_memory_and_a_bigger_eval_batch(monkeypatch, capability):
    """fp32 + TF32 measured faster than bf16 autocast there (bench/README.md, GPU check); bf16 stays a choice."""
    fake_cuda(monkeypatch, bf16=True, capability=capability)
    assert training.device_flags() == {"bf16": False, "fp16": False, "tf32": True, "dataloader_pin_memory": True}
    assert training.precision_flags("bf16") == {"bf16": True, "fp16": False}
    assert training.default_eval_batch_size(16) == 64


def test_t4_gets_fp16_and_no_tf32_and_any_precision_can_be_chosen(monkeypatch):
    fake_cuda(monkeypatch, bf16=False, capability=(7, 5))
    assert training.precision_flags() == {"bf16": False, "fp16": True}
    assert "tf32" not in training.device_flags() and training.device_flags()["dataloader_pin_memory"] is True
    assert {p: tuple(training.precision_flags(p).values()) for p in ("fp32", "bf16", "fp16", "auto")} == {
        "fp32": (False, False), "bf16": (True, False), "fp16": (False, True), "auto": (False, True)}
    with pytest.raises(GlueHelpersError, match=BAD_PRECISION):  # named where notebook 01's check and `train` resolve it
        training.resolve_precision("half")


@pytest.mark.parametrize("avx512, amx, expected", [(True, False, True), (False, True, True), (False, False, False),
                                                    (None, True, False)])
def test_native_cpu_bf16_detection(monkeypatch, avx512, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    if avx512 is None:  # a torch that cannot tell
        monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    else:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512, raising=False)
    assert training.cpu_native_bf16() is expected
