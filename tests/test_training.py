"""training_arguments: the recipe's visible defaults, the speed defaults, and device-dependent flags."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainingArguments

from glue_helpers.errors import GlueHelpersError
from glue_helpers.tasks import get_task
from glue_helpers.training import (
    cpu_native_bf16,
    default_eval_batch_size,
    device_flags,
    precision_flags,
    precision_name,
    training_arguments,
)


def fake_cuda(monkeypatch, *, bf16: bool, capability: tuple[int, int]) -> None:
    """Pretend a GPU with the given bf16 support and compute capability is present."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)


@pytest.mark.parametrize("task, metric", [("cola", "matthews_correlation"), ("mrpc", "accuracy"), ("stsb", "pearson")])
def test_recipe_defaults_stay_visible(task, metric, tmp_path):
    args = training_arguments(get_task(task), str(tmp_path))
    assert (args.learning_rate, args.per_device_train_batch_size, args.num_train_epochs, args.weight_decay) == (
        2e-5, 16, 5, 0.01)
    assert (args.eval_strategy, args.save_strategy) == ("epoch", "epoch")
    assert args.load_best_model_at_end and args.metric_for_best_model == metric and args.greater_is_better


def test_speed_defaults(tmp_path):
    args = training_arguments(get_task("cola"), str(tmp_path))
    assert isinstance(args, TrainingArguments)
    assert args.train_sampling_strategy == "random"  # a plain Trainer keeps the recipe's order; GlueTrainer groups
    assert args.per_device_eval_batch_size == 16  # on CPU; 4x on GPUs (below)
    assert args.save_only_model is True and args.save_total_limit == 2


def test_keywords_and_overrides_win(tmp_path):
    args = training_arguments(get_task("mrpc"), str(tmp_path), batch_size=8, per_device_eval_batch_size=10,
                              save_only_model=False, save_total_limit=1, logging_strategy="no")
    assert (args.per_device_train_batch_size, args.per_device_eval_batch_size) == (8, 10)
    assert not args.save_only_model and args.save_total_limit == 1
    assert args.logging_strategy == "no"
    assert training_arguments(get_task("mrpc"), str(tmp_path), batch_size=8).per_device_eval_batch_size == 8


@pytest.mark.parametrize("kwargs, needle", [({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
                                            ({"learning_rate": -1.0}, "learning_rate"),
                                            ({"per_device_eval_batch_size": 0}, "per_device_eval_batch_size"),
                                            ({"seed": -1}, "seed"), ({"num_train_epochs": 0}, "num_train_epochs"),
                                            ({"precision": "half"},
                                             "precision must be one of 'auto', 'fp32', 'bf16', 'fp16'; got 'half'")])
def test_bad_numbers_are_named(kwargs, needle, tmp_path):
    with pytest.raises(GlueHelpersError, match=needle):
        training_arguments(get_task("cola"), str(tmp_path), **kwargs)


def fake_cpu(monkeypatch, *, native_bf16: bool) -> None:
    """Pretend a CPU-only machine, with or without native bf16 (AVX512-BF16/AMX)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)


def test_cpu_without_native_bf16_keeps_fp32_and_unpinned_memory(monkeypatch, tmp_path):
    fake_cpu(monkeypatch, native_bf16=False)
    assert device_flags() == {"bf16": False, "fp16": False, "dataloader_pin_memory": False, "use_cpu": True}
    args = training_arguments(get_task("cola"), str(tmp_path))
    assert not args.bf16 and not args.fp16 and not args.dataloader_pin_memory and args.tf32 is None
    assert args.use_cpu  # what makes torchrun start gloo DDP on CPU-only machines
    assert precision_name(args) == "fp32"


def test_cpu_with_native_bf16_trains_in_bf16_unless_told_fp32(monkeypatch, tmp_path):
    fake_cpu(monkeypatch, native_bf16=True)
    assert precision_name(training_arguments(get_task("cola"), str(tmp_path))) == "bf16"
    args = training_arguments(get_task("cola"), str(tmp_path), precision="fp32")
    assert not args.bf16 and not args.fp16 and precision_name(args) == "fp32"


@pytest.mark.parametrize("precision, flags", [("fp32", (False, False)), ("bf16", (True, False)),
                                              ("fp16", (False, True)), ("auto", (False, True))])
def test_precision_can_be_chosen_on_a_gpu(monkeypatch, precision, flags):
    fake_cuda(monkeypatch, bf16=False, capability=(7, 5))
    assert tuple(precision_flags(precision).values()) == flags


def test_fp16_without_a_gpu_says_what_to_use(monkeypatch):
    fake_cpu(monkeypatch, native_bf16=True)
    with pytest.raises(GlueHelpersError, match="fp16.*CUDA GPU.*'bf16' or 'fp32'"):
        precision_flags("fp16")


@pytest.mark.parametrize("capability", [(8, 0), (9, 0)])
def test_ampere_or_newer_gets_tf32_not_bf16_pinned_memory_and_a_bigger_eval_batch(monkeypatch, capability):
    """fp32 + TF32 measured faster than bf16 autocast there (bench/README.md, GPU check); bf16 stays a choice."""
    fake_cuda(monkeypatch, bf16=True, capability=capability)
    assert device_flags() == {"bf16": False, "fp16": False, "tf32": True, "dataloader_pin_memory": True}
    assert precision_flags("bf16") == {"bf16": True, "fp16": False}
    assert default_eval_batch_size(16) == 64


def test_t4_gets_fp16_and_no_tf32(monkeypatch):
    fake_cuda(monkeypatch, bf16=False, capability=(7, 5))
    assert precision_flags() == {"bf16": False, "fp16": True}
    assert "tf32" not in device_flags() and device_flags()["dataloader_pin_memory"] is True


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(True, False, True), (False, True, True),
                                                         (False, False, False)])
def test_native_cpu_bf16_detection(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert cpu_native_bf16() is expected


def test_native_cpu_bf16_is_false_when_torch_cannot_tell(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert cpu_native_bf16() is False
