"""The model side of the recipe: tokenizer, tokenization, dynamic padding, the classification model with label
names, and LoRA (peft) adapters, saved as an adapter and a merged model."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from datasets import DatasetDict
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
)

from .errors import GlueHelpersError
from .recipe import Recipe
from .tasks import GlueTask

AUTO = "auto"
GPU_PAD_MULTIPLE = 8
# BERT-family models have 512 positions. A tokenizer saved without `model_max_length` reports a huge placeholder,
# and `truncation=True` would then let a long text through to crash the model: cap it here instead.
MAX_LENGTH_CAP = 512
UNSET_MAX_LENGTH = 1_000_000


def _looks_like_path(name: str) -> bool:
    """True for names that can only be a folder, never a Hub id such as 'org/model'."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def resolve_checkpoint(checkpoint: str | Path) -> str:
    """Check that a model is a local folder with config.json, or could be a Hub id; return it as a string."""
    name = str(checkpoint)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise GlueHelpersError(f"Model folder {name!r} has no config.json; point model_checkpoint at a folder "
                                   "written by `save_pretrained` (or a Hub id).")
        return str(path)
    if _looks_like_path(name) or path.exists():
        raise GlueHelpersError(f"Model path {name!r} does not exist. Check the path, or give a Hub id such as "
                               "'distilbert-base-uncased'.")
    return name  # a Hub id: the programs check the Hub for everything a run needs from it at once (check_hub)


def load_tokenizer(checkpoint: str | Path):
    """The model's tokenizer (remote code never trusted)."""
    return AutoTokenizer.from_pretrained(resolve_checkpoint(checkpoint), trust_remote_code=False)


def max_length_for(tokenizer: PreTrainedTokenizerBase) -> int:
    """The longest input to keep: the tokenizer's `model_max_length`, or 512 when it has none."""
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < UNSET_MAX_LENGTH else MAX_LENGTH_CAP


def make_tokenize_function(
    task: GlueTask, tokenizer: PreTrainedTokenizerBase, max_length: int | None = None
) -> Callable[[dict], dict]:
    """A batched `map` function tokenizing the task's text column(s), truncated to the model's limit."""
    columns = task.text_columns
    max_length = max_length or max_length_for(tokenizer)

    def tokenize(batch: dict) -> dict:
        return tokenizer(*[batch[c] for c in columns], truncation=True, max_length=max_length)

    return tokenize


def tokenize_dataset(
    dataset: DatasetDict,
    task: GlueTask,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int | None = None,
) -> DatasetDict:
    """Tokenize every split, dropping the raw text and `idx` so only model inputs and `label` remain."""
    # datasets caches the result (keyed by rows, tokenizer and function): reruns and DDP ranks reuse it
    if not isinstance(dataset, DatasetDict) or not dataset:
        raise GlueHelpersError(f"tokenize_dataset needs a non-empty DatasetDict (e.g. from load_glue), got "
                               f"{type(dataset).__name__}.")
    columns = next(iter(dataset.values())).column_names
    missing = [c for c in task.text_columns if c not in columns]
    if missing:
        raise GlueHelpersError(f"Task {task.name!r} reads column(s) {missing}, which the dataset lacks (it has "
                               f"{columns}). Load the data of task {task.name!r}, or pass the task this data "
                               "belongs to.")
    drop = [c for c in (*task.text_columns, "idx") if c in columns]
    return dataset.map(make_tokenize_function(task, tokenizer, max_length), batched=True, remove_columns=drop,
                       desc="Tokenizing")


def make_data_collator(tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | str | None = AUTO):
    """Dynamic padding to each batch's longest example; "auto" rounds up to a multiple of 8 on GPUs only."""
    if pad_to_multiple_of == AUTO:  # tensor cores work on multiples of 8; on a CPU padding only costs time
        pad_to_multiple_of = GPU_PAD_MULTIPLE if torch.cuda.is_available() else None
    elif pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
        raise GlueHelpersError(
            f"pad_to_multiple_of must be a positive int, None or 'auto', got {pad_to_multiple_of!r}."
        )
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


def model_kwargs(task: GlueTask, label_names: list[str] | None = None) -> dict:
    """`from_pretrained` arguments that size the head and name the labels."""
    names = list(label_names) if label_names else list(task.label_names)
    if task.is_regression:
        return {"num_labels": 1, "problem_type": "regression", "id2label": {0: "similarity"},
                "label2id": {"similarity": 0}}
    return {"num_labels": len(names), "problem_type": "single_label_classification",
            "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def load_model(checkpoint: str | Path, task: GlueTask, label_names: list[str] | None = None):
    """A sequence-classification model with `num_labels` and label names taken from the task (or the dataset)."""
    return AutoModelForSequenceClassification.from_pretrained(
        resolve_checkpoint(checkpoint), trust_remote_code=False, **model_kwargs(task, label_names)
    )


# LoRA ------------------------------------------------------------------------------------------------------------

# The attention projections LoRA adapts (the LoRA paper's choice: query and value), by the config's model_type: peft's
# own table (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING), and these architectures, which it lacks.
LORA_TARGETS: dict[str, list[str]] = {
    "distilbert": ["q_lin", "v_lin"],
    "camembert": ["query", "value"],
    "albert": ["query", "value"],
    "mpnet": ["q", "v"],
}


def _architecture_targets(model) -> list[str] | None:
    """The attention projections of the model's architecture, from peft's table or ours; None when unknown."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    found = PEFT_TARGETS.get(model_type) or LORA_TARGETS.get(model_type)
    return list(found) if found else None


def lora_target_modules(model, names: str | list[str] | None = None) -> list[str]:
    """The modules LoRA adapts: `names` (list or comma-separated), else the architecture's attention projections."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    targets = list(names) if names else _architecture_targets(model)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if not targets:
        raise GlueHelpersError(
            f"LoRA doesn't know which modules to adapt in a {model_type!r} model ({type(model).__name__}). Pass "
            "lora_target_modules: the names of its attention projections, e.g. ['query', 'value'] "
            "(`-p lora_target_modules query,value`, `--lora-target-modules query value`); "
            "`[name for name, _ in model.named_modules()]` lists them.")
    modules = [name for name, _ in model.named_modules()]
    missing = [t for t in targets if not any(m == t or m.endswith("." + t) for m in modules)]
    if missing:
        raise GlueHelpersError(f"lora_target_modules {missing} are not modules of this {model_type!r} model. Use "
                               "names from `[name for name, _ in model.named_modules()]`, e.g. its attention "
                               "projections, or None to find them from the architecture.")
    return targets


def _has_parameters(module) -> bool:
    """True when the module holds at least one parameter."""
    return any(True for _ in module.parameters())


def lora_modules_to_save(model) -> list[str]:
    """The new classification head and the body's pooler, if any: trained in full and saved with the adapter."""
    # not saved with the adapter, they would come back random on reload
    body = model.base_model_prefix
    head = [name for name, child in model.named_children() if name != body and _has_parameters(child)]
    pooler = getattr(getattr(model, body, None), "pooler", None)
    return head + ([f"{body}.pooler"] if pooler is not None and _has_parameters(pooler) else [])


def apply_lora(model, recipe: Recipe):
    """Freeze the model and add the recipe's LoRA adapters (`get_peft_model`): only the adapters and the head train."""
    from peft import LoraConfig, TaskType, get_peft_model

    return get_peft_model(model, LoraConfig(
        task_type=TaskType.SEQ_CLS, r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=lora_target_modules(model, recipe.lora_target_modules),
        modules_to_save=lora_modules_to_save(model)))


def is_peft_model(model) -> bool:
    """True for a model wrapped by peft (peft not even imported means it can't be one)."""
    if "peft" not in sys.modules:
        return False
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _wrapped_modules(model) -> list[str]:
    """The modules peft trains in full and saves with the adapter (the head, the pooler), by their plain names."""
    from peft.utils import ModulesToSaveWrapper

    prefix = "base_model.model."
    return [name.removeprefix(prefix) for name, module in model.named_modules()
            if isinstance(module, ModulesToSaveWrapper)]


def peft_summary(model) -> dict:
    """metrics.json's summary of the trained weights: peft method, trainable parameters and share, LoRA settings."""
    trainable, total = model.num_parameters(only_trainable=True), model.num_parameters()
    summary = {"peft": None, "trainable_parameters": trainable, "total_parameters": total,
               "trainable_share": round(trainable / total, 6) if total else None}
    if not is_peft_model(model):
        return summary
    config = model.peft_config[model.active_adapter]
    return {**summary, "peft": "lora", "lora_r": config.r, "lora_alpha": config.lora_alpha,
            "lora_dropout": config.lora_dropout, "lora_target_modules": sorted(config.target_modules),
            "lora_modules_to_save": _wrapped_modules(model)}


def save_trained_model(trainer, model_dir: str | Path, adapter_dir: str | Path) -> None:
    """Save the (best) model to model_dir; for LoRA, the adapter to adapter_dir and the merged model to model_dir."""
    # every DDP rank calls this; only the main process writes
    if not is_peft_model(trainer.model):
        trainer.save_model(str(model_dir))
        return
    trainer.save_model(str(adapter_dir))
    if trainer.is_world_process_zero():  # a merged copy loads without peft; trainer.model stays trainable
        merged = copy.deepcopy(trainer.model).merge_and_unload()
        merged.save_pretrained(str(model_dir))
        trainer.processing_class.save_pretrained(str(model_dir))
