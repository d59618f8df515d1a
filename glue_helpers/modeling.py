"""The tokenizer and the sequence-classification model for a task, with readable label names."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from .errors import GlueHelpersError
from .hub import OFFLINE_FIX, hub_offline_mode, hub_reachable
from .tasks import GlueTask, get_task


def _looks_like_path(name: str) -> bool:
    """True for names that can only be a folder, never a Hub id such as 'org/model'."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def resolve_checkpoint(checkpoint: str | Path) -> str:
    """Check that a model is a local folder, or a Hub id that can be fetched now; return it as a string."""
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
    if hub_offline_mode() or not hub_reachable():
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return name
        raise GlueHelpersError(f"Model {name!r} is not a local folder, not in your cache, and the Hub is "
                               f"unreachable or HF_HUB_OFFLINE is set. {OFFLINE_FIX}")
    return name


def load_tokenizer(checkpoint: str | Path):
    """The model's tokenizer (remote code never trusted)."""
    return AutoTokenizer.from_pretrained(resolve_checkpoint(checkpoint), trust_remote_code=False)


def model_kwargs(task: str | GlueTask, label_names: list[str] | None = None) -> dict:
    """`from_pretrained` arguments that size the head and name the labels."""
    t = get_task(task)
    names = list(label_names) if label_names else list(t.label_names)
    if t.is_regression:
        return {"num_labels": 1, "problem_type": "regression", "id2label": {0: "similarity"},
                "label2id": {"similarity": 0}}
    return {"num_labels": len(names), "problem_type": "single_label_classification",
            "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def load_model(checkpoint: str | Path, task: str | GlueTask, label_names: list[str] | None = None):
    """A sequence-classification model with `num_labels` and label names taken from the task (or the dataset)."""
    return AutoModelForSequenceClassification.from_pretrained(
        resolve_checkpoint(checkpoint), trust_remote_code=False, **model_kwargs(task, label_names)
    )


def make_model_init(checkpoint: str | Path, task: str | GlueTask, label_names: list[str] | None = None):
    """A `model_init` function for `Trainer`: each call builds a fresh model (needed for hyperparameter search)."""
    resolved = resolve_checkpoint(checkpoint)

    def model_init(trial=None):
        return load_model(resolved, task, label_names)

    return model_init
