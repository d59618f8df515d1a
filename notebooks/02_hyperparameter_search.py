# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Hyperparameter search on a GLUE task, on a budget
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/glue-notebooks/glue-notebooks/blob/main/notebooks/02_hyperparameter_search.ipynb)
#
# Notebook 01 trains with the classic recipe (learning rate 2e-5, batch 16, ...). Those values are a good
# start, not the best for every task and model. This notebook searches for better ones with
# [Optuna](https://optuna.org), in a way you can afford:
#
# 1. **search on a subset** of the training data (a tenth by default): a trial costs a tenth as much, and the
#    *ranking* of hyperparameters is what we need from it, not the final score;
# 2. **stop hopeless trials early** (pruning): after each epoch a trial reports its score, and one that is
#    clearly below the others at the same epoch is stopped;
# 3. **survive an interruption**: trials are stored in a file, so running the notebook again continues the
#    same search instead of starting over;
# 4. **spread trials over workers**: several machines (or processes) can add trials to one search;
# 5. **retrain the best** hyperparameters on the full training set, evaluate, and save the model.
#
# On Colab, the next cell installs `glue_helpers` and whatever else is missing (it keeps Colab's own
# CUDA build of PyTorch). Anywhere else it does nothing: install with `pip install -r requirements.txt -e .`.

# %%
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("glue_helpers") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "glue-helpers @ git+https://github.com/glue-notebooks/glue-notebooks"], check=True)

# %% [markdown]
# ## Parameters
#
# With papermill, set them from the command line, e.g.
# `papermill notebooks/02_hyperparameter_search.ipynb out.ipynb -p task mrpc -p n_trials 20`.
#
# * `task`, `model_checkpoint`, `data_dir`, `max_train_samples`, `max_eval_samples`, `seed`: as in notebook 01.
# * `smoke`: `True` swaps in the offline kit (a tiny random model and tiny synthetic data) to check the
#   notebook in a minute without the Hub. Its scores mean nothing.
# * `n_trials`: how many finished trials the study should have. Running again with the same study only runs
#   the missing ones; raise it to search longer.
# * `search_fraction`: the share of the training set each trial trains on (validation stays whole).
# * `pruner`: `"median"`, `"hyperband"` or `"none"`.
# * `storage`: where trials are kept. `None` is a SQLite file in `output_dir`; a path ending in `.log` (or
#   `journal:///path.log`) is a journal file several workers can share; any Optuna database URL works too.
# * `study_name`: the search to create or continue (default `glue-<task>`).

# %% tags=["parameters"]
task = "cola"
model_checkpoint = "distilbert-base-uncased"
data_dir = None
smoke = False
n_trials = 10
search_fraction = 0.1
pruner = "median"
storage = None
study_name = None
output_dir = None
seed = 42
max_train_samples = None
max_eval_samples = None

# %%
from pathlib import Path

import optuna
import transformers

import glue_helpers as gh
from glue_helpers import search as hs
from glue_helpers.search_plots import search_figures
from glue_helpers.search_retrain import retrain_best
from glue_helpers.search_space import SMOKE_SEARCH_SPACE, make_hp_space
from glue_helpers.search_study import open_study, storage_url

task_info = gh.get_task(task)
hs.check_n_trials(n_trials)  # bad values fail here, not after the data and model are loaded
hs.check_fraction(search_fraction)
if smoke:
    kit = gh.ensure_kit()
    data_dir, model_checkpoint = kit.data_dir, kit.model_dir
output_dir = Path(output_dir or f"runs/{task_info.name}-search")
output_dir.mkdir(parents=True, exist_ok=True)
optuna.logging.set_verbosity(optuna.logging.INFO)  # one line per finished trial
transformers.logging.disable_progress_bar()  # no "Loading weights" bar for each trial's fresh model
print(f"{task_info.name}: {task_info.description}\nmodel: {model_checkpoint}\noutputs: {output_dir}")

# %% [markdown]
# ## The data, and the search subset
#
# We load and tokenize the task as in notebook 01. Then we draw the search subset: a seeded random
# `search_fraction` of the training rows, keeping each class's share. Training cost grows with the number of
# rows, so a tenth of the data makes every trial about ten times cheaper. Good hyperparameters on a subset
# are usually good on the full set too, though the best number of epochs tends to be smaller with more
# data (we come back to this when we retrain).

# %%
raw = gh.load_glue(task, data_dir, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                   seed=seed, splits=("train", "validation"))
tokenizer = gh.load_tokenizer(model_checkpoint)
encoded = gh.tokenize_dataset(raw, task, tokenizer)
search_train = hs.search_subset(encoded["train"], search_fraction, seed=seed)
data_collator = gh.make_data_collator(tokenizer)
print(f"search on {len(search_train)} of {len(encoded['train'])} training rows, "
      f"evaluate on {len(encoded['validation'])} validation rows")

# %% [markdown]
# ## The search space
#
# A plain dict: edit it. A `{"low", "high"}` range is searched (integers when both ends are integers;
# `"log": True` spreads the tries evenly over orders of magnitude, which suits a learning rate); a list is a
# set of choices; a single value is fixed. `warmup_ratio` is the share of training steps spent warming up the
# learning rate. Unknown names are refused with the list of valid ones.

# %%
search_space = {
    "learning_rate": {"low": 1e-5, "high": 1e-4, "log": True},
    "num_train_epochs": {"low": 1, "high": 3},
    "batch_size": [16, 32],
    "weight_decay": {"low": 0.0, "high": 0.1},
    "warmup_ratio": {"low": 0.0, "high": 0.2},
    "seed": {"low": 1, "high": 100},
}
if smoke:  # the kit's tiny random model only learns with much larger learning rates
    search_space = SMOKE_SEARCH_SPACE
search_space

# %% [markdown]
# Three named functions, as in Optuna's own Transformers example: `model_init` builds a fresh model for each
# trial (so no trial starts from another's weights), `compute_metrics` scores an evaluation with the task's
# metric, and `hp_space` asks the trial for one value of each parameter.

# %%
model_init = gh.make_model_init(model_checkpoint, task)
compute_metrics = gh.make_compute_metrics(task)
hp_space = make_hp_space(search_space)

# %% [markdown]
# ## The study: stored, seeded, pruned
#
# A *study* is one search: its trials, their parameters and scores. We keep it in a database (a SQLite file
# in `output_dir` by default) under a name, so running this notebook again *continues* it. The direction is
# *maximize* the task's primary metric, and the task is stored with the study, so continuing it with
# another task is refused.
#
# The sampler is TPE, seeded: its first trials are random, later ones are drawn near the best so far. The
# pruner compares each trial's score at epoch *k* with the other trials' scores at epoch *k*: the median
# pruner stops a trial below their median; Hyperband runs brackets of trials and keeps the best third at
# each rung.

# %%
study = open_study(task, study_name=study_name, storage=storage, output_dir=output_dir, pruner=pruner,
                   seed=seed, model=str(model_checkpoint), search_fraction=search_fraction)
print(f"study {study.study_name!r} in {storage_url(storage, output_dir)}: {len(study.trials)} trials so far")

# %% [markdown]
# ## The objective
#
# Each trial trains a fresh model on the search subset with the trial's parameters, evaluates after every
# epoch, reports the score to Optuna and asks whether to stop. Its result is the score of its **best**
# epoch, not its last: a trial that peaked at epoch 2 and dipped at epoch 3 found a good setting, and the
# retrain keeps the best epoch too. Trials save no checkpoints (only scores matter here), and memory is freed
# after each one.
#
# Why not `Trainer.hyperparameter_search(backend="optuna")`? In transformers 5 it reports scores by
# *training step*, which differ between trials with different batch sizes (so the pruner has nothing to
# compare with), it scores a trial by its last evaluation, and it turns a searched warmup ratio into 0
# warmup steps. Driving Optuna directly, with the same three functions, takes a few lines.

# %%
objective = hs.make_objective(task, model_init=model_init, compute_metrics=compute_metrics, hp_space=hp_space,
                              train_dataset=search_train, eval_dataset=encoded["validation"],
                              data_collator=data_collator, output_dir=output_dir)

# %% [markdown]
# ## Running the search
#
# We run as many trials as the study still needs to reach `n_trials` finished (complete or pruned) trials.
# If you interrupt this cell, run the notebook again: finished trials are kept, the interrupted one is marked
# failed, and only the missing trials run. If the machine dies mid-trial, that trial's heartbeat stops and
# the next run (after three minutes) marks it failed and queues its parameters again.

# %%
todo = hs.trials_to_run(study, n_trials)
print(f"{len(hs.finished_trials(study))} finished trials, running {todo} more")
if todo:
    hs.run_trials(study, objective, todo)

# %% [markdown]
# ## What the search found
#
# One row per trial: its state (COMPLETE, or PRUNED when stopped early), its score, its parameters, its best
# epoch, how many training steps it ran, and which machine and process ran it.

# %%
table = hs.trials_table(study)
table

# %%
print(f"best trial #{study.best_trial.number}: {task_info.primary_metric} = {study.best_value:.4f}")
study.best_params

# %% [markdown]
# The optimization history shows the best score so far after each trial. The intermediate values show each
# trial's score per epoch: pruned trials are the lines that stop early. The importances estimate which
# parameters explained most of the differences in score (the learning rate, usually); they need a few
# completed trials with different scores.

# %%
figures = search_figures(study)
for name, figure in figures.items():
    figure.savefig(output_dir / f"{name}.png", bbox_inches="tight")

# %% [markdown]
# ## Retraining the best on the full data
#
# The best parameters now train a fresh model on the **whole** training set, with notebook 01's recipe:
# evaluate and save every epoch, keep the best epoch. We save the model with `metrics.json` (task, model,
# scores, the best parameters, training speed, library versions) and a model card. An epoch on the full set
# has ten times the steps of an epoch on a tenth, so the searched epoch count may be more than needed; keeping
# the best epoch guards against that.
#
# The validation set chose the hyperparameters, so its score is slightly optimistic; for a clean estimate,
# search on part of the training set and keep the rest for scoring, or submit to the GLUE leaderboard.

# %%
trainer, record = retrain_best(study, task, model_init=model_init, compute_metrics=compute_metrics,
                               train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                               data_collator=data_collator, tokenizer=tokenizer, output_dir=output_dir,
                               model_name=str(model_checkpoint))
gh.write_model_card(output_dir / "best-model", record, task_info)
record["metrics"]

# %% [markdown]
# ## Scaling out
#
# A trial only needs to read and write the shared study, so more machines mean more trials per hour. Give
# every worker the same storage and study name: each asks the study for new parameters (TPE's "constant
# liar" keeps workers from trying the same point) and writes its results back.
#
# ```bash
# # on each of N machines (or N times on one machine with several GPUs: CUDA_VISIBLE_DEVICES=i)
# python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased \
#     --storage /shared/cola-search.log --study-name cola --n-trials 5 --worker $i
# # then, once, on the full training set:
# python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased \
#     --storage /shared/cola-search.log --study-name cola --retrain-only
# ```
#
# A `.log` path is an Optuna *journal file*: an append-only log that many processes on a shared disk can
# write safely. SQLite is fine for one process but locks under many writers; for many machines without a
# shared disk, use a database URL (`postgresql://...` or `mysql://...`). Each worker runs its own
# `--n-trials`, so N workers add N times as many trials to the one study. Then open this notebook with
# `storage` and `study_name` set to the same values to see the table and the plots of the whole search.
