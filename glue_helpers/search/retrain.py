"""After the search: the best hyperparameters on a fresh model and the full training set, evaluated and saved."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna

from ..errors import GlueHelpersError
from ..modeling import peft_summary, save_trained_model
from ..reporting import metrics_record
from ..rundir import METRICS, write_json
from ..tasks import GlueTask
from ..training import GlueTrainer, training_arguments
from .objective import with_model_parameters
from .space import to_training_arguments

BEST_MODEL = "best-model"
BEST_ADAPTER = "best-adapter"  # a LoRA search's adapter; best-model then holds the merged model
STATE_WORDS = {"FAIL": "failed", "PRUNED": "pruned", "RUNNING": "running", "WAITING": "waiting"}


def best_params(study: optuna.Study) -> dict:
    """The best completed trial's parameters; if none completed, a clear error, not Optuna's "Record does not exist"."""
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        states = Counter(STATE_WORDS.get(trial.state.name, trial.state.name.lower())
                         for trial in study.get_trials(deepcopy=False))
        found = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no trials"
        raise GlueHelpersError(f"Study {study.study_name!r} has no completed trial yet ({found}): run more trials "
                               "(a failed trial's error is in the log above it), or use a milder pruner.")
    return dict(study.best_params)


def best_training_arguments(task: GlueTask, output_dir: str | Path, params: dict, **overrides):
    """The recipe's training arguments (evaluate and save each epoch, keep the best) with the best parameters."""
    return training_arguments(task, str(output_dir), **{"save_total_limit": 1, **overrides,
                                                         **to_training_arguments(params)})


def retrain_best(study: optuna.Study, task: GlueTask, *, model_init, compute_metrics, train_dataset,
                 eval_dataset, data_collator, tokenizer, output_dir: str | Path, model_name: str,
                 **overrides) -> tuple[GlueTrainer, dict]:
    """Train a fresh model with the best parameters, evaluate it and save it with metrics.json; return both."""
    params = best_params(study)
    args = best_training_arguments(task, Path(output_dir) / "retrain", params, **overrides)
    trainer = GlueTrainer(model_init=with_model_parameters(model_init, params), args=args,
                          train_dataset=train_dataset, eval_dataset=eval_dataset, data_collator=data_collator,
                          compute_metrics=compute_metrics, processing_class=tokenizer)
    train_result = trainer.train()
    eval_metrics = trainer.evaluate()
    record = metrics_record(
        task, model_name, eval_metrics, train_result.metrics, args=args, train_rows=len(train_dataset),
        eval_rows=len(eval_dataset), best_params=params, best_trial=study.best_trial.number,
        best_search_value=study.best_value, study_name=study.study_name, **peft_summary(trainer.model),
    )
    save_dir = Path(output_dir) / BEST_MODEL
    save_trained_model(trainer, save_dir, Path(output_dir) / BEST_ADAPTER)
    write_json(save_dir / METRICS, record)
    return trainer, record
