"""glue_helpers: the logic behind the glue-notebooks tutorial, small and unit-tested.

Names load from their module on first use, so `import glue_helpers` and the command line start fast.
"""

from importlib import import_module

__version__ = "0.1.0"

# The core modules, in the order of the lesson; the outer layers (search, batch, cli) are imported by their own names.
_EXPORTS = {
    "errors": ["GlueHelpersError"],
    "recipe": ["Recipe", "SearchSettings", "check_report_to"],
    "tasks": ["GLUE_TASKS", "TASK_NAMES", "GlueTask", "get_task"],
    "custom_task": ["custom_task", "load_task_file", "resolve_task"],
    "offline_kit": ["ensure_kit", "write_example_csv"],
    "data": ["check_data_source", "glue_splits", "load_glue", "load_source", "local_split_files", "random_elements",
             "show_random_elements", "summarize_split", "what_to_expect"],
    "metrics": ["GLUE_METRIC_PATH", "TaskMetric", "glue_metric", "load_glue_metric", "logits_to_predictions",
                "make_compute_metrics"],
    "modeling": ["apply_lora", "is_peft_model", "load_model", "load_tokenizer", "lora_config", "lora_modules_to_save",
                 "lora_target_modules", "make_data_collator", "make_model_init", "make_tokenize_function",
                 "max_length_for", "parameter_counts", "peft_summary", "resolve_checkpoint", "save_merged_model",
                 "save_trained_model", "tokenize_dataset"],
    "training": ["GlueTrainer", "check_training_parameters", "device_name", "precision_flags",
                 "precision_name", "resolve_precision", "speed_flags", "training_arguments"],
    "plots": ["epoch_history", "plot_predictions", "plot_training_curve"],
    "rundir": ["RunDir", "TEST_PREDICTIONS", "TRAINING_CURVE", "VALIDATION_PLOT", "read_metrics",
               "dashboard_command", "offline_defaults", "start_tracking", "write_json"],
    "reporting": ["metrics_record", "prediction_rows", "write_model_card", "write_run_files"],
    "train": ["check_inputs"],
    "inference": ["example_input", "make_classifier", "write_leaderboard_files", "write_test_predictions"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
_WHERE.update({"Trainer": "transformers", "set_seed": "transformers"})

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    """Import an exported name from its module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'glue_helpers' has no attribute {name!r}")
    module = _WHERE[name]
    value = getattr(import_module(module if module == "transformers" else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Exported names, for tab completion."""
    return sorted(set(globals()) | set(__all__))
