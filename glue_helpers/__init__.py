"""glue_helpers: what the glue-notebooks tutorial needs besides the lesson, small and unit-tested.

Names load from their module on first use, so `import glue_helpers` and the command line start fast.
"""

from importlib import import_module

__version__ = "0.1.0"

# The names the notebooks and docs/library.md use, by module, in the order data flows.
_EXPORTS = {
    "errors": ["GlueHelpersError"],
    "recipe": ["Recipe", "SearchSettings", "run_dir_for"],
    "tasks": ["GLUE_TASKS", "TASK_NAMES", "GlueTask", "get_task"],
    "custom_task": ["resolve_task"],
    "offline_kit": ["ensure_kit", "write_example_csv"],
    "data": ["data_source", "glue_splits", "load_glue", "load_source", "local_split_files", "search_subset",
             "show_random_elements", "summarize_split", "what_to_expect"],
    "metrics": ["GLUE_METRIC_PATH", "TaskMetric", "logits_to_predictions", "make_compute_metrics"],
    "modeling": ["load_model", "load_tokenizer", "lora_modules_to_save", "lora_target_modules", "make_data_collator",
                 "max_length_for", "peft_summary", "tokenize_dataset"],
    "training": ["GlueTrainer", "speed_flags", "training_arguments"],
    "inputs": ["check_inputs"],
    "plots": ["epoch_history", "plot_predictions", "plot_training_curve"],
    "rundir": ["TEST_PREDICTIONS", "TRAINING_CURVE", "VALIDATION_PLOT", "RunDir", "dashboard_command", "read_metrics",
               "save_best_model", "start_tracking"],
    "reporting": ["metrics_record", "prediction_rows", "write_run_files"],
    "inference": ["example_input", "write_leaderboard_files", "write_test_predictions"],
    "search.inputs": ["check_search_inputs"],
    "search.study": ["StopAtBudget"],
    "search.ray_backend": ["run_ray_trials"],
    "batch.runner": ["run_notebook_01"],
    "batch.compare": ["compare_runs"],
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
