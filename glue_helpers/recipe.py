"""The recipe's knobs and their defaults, each declared once: the helpers, `train`, `search` and `batch` read them
here.

The notebooks' parameter cells spell the same defaults out for the learner (a test checks that they agree). This
module imports nothing, so the command line can show the defaults without loading torch.
"""

# Notebook 01: the fine-tuning recipe.
TASK = "cola"
MODEL_CHECKPOINT = "distilbert-base-uncased"
LEARNING_RATE = 2e-5
BATCH_SIZE = 16  # per device
NUM_TRAIN_EPOCHS = 5
WEIGHT_DECAY = 0.01
SEED = 42
SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are 32-bit
PRECISION = "auto"  # the fastest measured for the machine (training.auto_precision)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Experiment tracking (`TrainingArguments.report_to`): "none", or one backend, writing offline into the run folder's
# tracking/ (rundir.start_tracking).
REPORT_TO = "none"
REPORT_TOS = ("none", "tensorboard", "trackio", "wandb", "mlflow")

# Parameter-efficient fine-tuning: None trains every weight (the recipe above); "lora" trains low-rank adapters on
# the attention projections plus the new head (modeling.apply_lora).
PEFT = None
PEFTS = (None, "lora")
LORA_R = 8  # the adapters' rank
LORA_ALPHA = 16  # the adapters' output is scaled by alpha / r
LORA_DROPOUT = 0.1
LORA_TARGET_MODULES = None  # None: the attention projections, found from the architecture
LORA_LEARNING_RATE = 5e-4  # LoRA's usual rate: few weights, started at zero, need larger steps than 2e-5

# Custom data without a validation file: the share of train carved off to validate on.
VALIDATION_FRACTION = 0.1

# Notebook 02: the hyperparameter search. Trial 0 is the recipe above; the others train on a subset of the training
# set (search_fraction of it, but at least search_min_rows rows, or all of a smaller set) until the trials have seen
# search_budget times the examples of one recipe run (or n_trials finished); ASHA stops the weak ones at epochs
# 1, 3, ... Then the recipe and the recheck_top best trials train on the full set with recheck_seeds seeds each.
N_TRIALS = 20  # at most this many finished trials; the budget usually stops the search first
SEARCH_FRACTION = 0.1
SEARCH_MIN_ROWS = 2500
SEARCH_BUDGET = 2.0  # in recipe runs: training examples of all trials <= 2 x (train rows x NUM_TRAIN_EPOCHS)
PRUNER = "asha"
PRUNERS = ("asha", "median", "hyperband", "none")
RECHECK_TOP = 2
RECHECK_SEEDS = 3  # seeds SEED, SEED + 1, ...

# Where runs go when no output_dir is given, and the notebook `batch` runs for each task (in the repository).
RUNS = "runs"
BATCH_NOTEBOOK = "notebooks/01_text_classification.ipynb"


def run_dir_for(task_name: str) -> str:
    """Notebook 01's and `train`'s default output_dir: runs/<task>."""
    return f"{RUNS}/{task_name}"


def search_dir_for(task_name: str) -> str:
    """Notebook 02's and `search`'s default output_dir: runs/<task>-search."""
    return f"{RUNS}/{task_name}-search"
