"""glue_helpers: the logic behind the glue-notebooks tutorial, small and unit-tested."""

from transformers import Trainer, set_seed

from .custom_task import custom_task, load_task_file, resolve_task
from .data import load_glue, random_elements, show_random_elements, summarize_split
from .errors import GlueHelpersError
from .inference import example_input, make_classifier, write_test_predictions
from .metrics import glue_metric, load_glue_metric, logits_to_predictions, make_compute_metrics
from .modeling import load_model, load_tokenizer, make_model_init
from .offline_kit import ensure_kit
from .plots import epoch_history, plot_predictions, plot_training_curve
from .preprocessing import make_data_collator, make_tokenize_function, tokenize_dataset
from .reporting import metrics_record, write_json, write_model_card
from .tasks import GLUE_TASKS, TASK_NAMES, GlueTask, get_task
from .training import device_name, precision_flags, training_arguments

__version__ = "0.1.0"

__all__ = [
    "custom_task", "load_task_file", "resolve_task", "write_test_predictions",
    "Trainer", "set_seed", "example_input", "make_classifier", "logits_to_predictions", "epoch_history",
    "plot_predictions", "plot_training_curve", "metrics_record", "write_json", "write_model_card", "device_name",
    "GLUE_TASKS", "TASK_NAMES", "GlueHelpersError", "GlueTask", "ensure_kit", "get_task", "glue_metric",
    "load_glue", "load_glue_metric", "load_model", "load_tokenizer", "make_compute_metrics", "make_data_collator",
    "make_model_init", "make_tokenize_function", "precision_flags", "random_elements", "show_random_elements",
    "summarize_split", "tokenize_dataset", "training_arguments",
]
