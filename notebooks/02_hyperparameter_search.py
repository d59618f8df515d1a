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
# # Hyperparameter search on a GLUE task, with Optuna
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/glue-notebooks/glue-notebooks/blob/main/notebooks/02_hyperparameter_search.ipynb)
#
# Notebook 01 trains with the classic recipe (learning rate 2e-5, batch 16, 5 epochs). Those values are a good
# start, not the best for every task and model. This notebook searches for better ones with
# [Optuna](https://optuna.org), and shows each piece of Optuna as it goes: a search space (`trial.suggest_*`),
# an objective that turns a trial's values into `TrainingArguments`, a model and a `Trainer`, reports every epoch
# and stops hopeless trials (`trial.report`, `trial.should_prune`), a stored study (`optuna.create_study`,
# `study.enqueue_trial`) and the search itself (`study.optimize`).
#
# A search is only worth its cost if what it returns beats the recipe it started from, so this one is built to:
#
# 1. **start from the recipe**: trial 0 runs notebook 01's hyperparameters, on the same footing as the others;
# 2. **rank on enough data**: each trial trains on a subset of the training set big enough to tell settings apart
#    (at least 2,500 rows, or all of a smaller set; a tenth of a large one);
# 3. **spend a fixed budget well**: trials run until together they have seen as many training examples as two runs
#    of the recipe, and successive halving (ASHA) stops the weak ones after epoch 1 or 3, so the budget buys more
#    settings rather than more epochs of bad ones;
# 4. **check the winner before trusting it**: the recipe and the two best trials run notebook 01 again on the whole
#    training set with three seeds each, and the winner is compared with the recipe seed by seed, with an interval;
# 5. **survive an interruption**: trials and re-check runs are stored, so running the notebook again continues.
#
# **What it costs:** about 11 runs of the recipe in all: 2 for the search, up to 9 (3 candidates x 3 seeds) for
# the re-check. `recheck_seeds = 2` or `recheck_top = 1` make it shorter, and a large task (MNLI, QQP) is a job for a
# bigger GPU or a smaller budget. Notebook 01's "What to expect" cell gives the rough time of one run on a T4.
#
# **See a real run first:**
# [docs/executed/02_hyperparameter_search.ipynb](https://github.com/glue-notebooks/glue-notebooks/blob/main/docs/executed/02_hyperparameter_search.ipynb)
# is this notebook with the outputs of a real run.
#
# On Colab, the next cell installs `glue_helpers` with pip, which adds only what Colab lacks (evaluate, optuna,
# papermill): every package Colab already has, its CUDA build of PyTorch included, meets this project's version
# bounds, so pip keeps it as it is (CI checks this on Colab's versions). Anywhere else the cell does nothing.

# %%
import importlib.util
import subprocess
import sys
from importlib.metadata import version

if "google.colab" in sys.modules and importlib.util.find_spec("glue_helpers") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "glue-helpers @ git+https://github.com/glue-notebooks/glue-notebooks"], check=True)
    # pip may have upgraded a library Python has already loaded; the old copy stays in use until a restart
    stale = [name for name in ("transformers", "accelerate", "datasets", "torch")
             if name in sys.modules and sys.modules[name].__version__ != version(name)]
    if stale:
        print(f"Restart the session now (Runtime > Restart session), then run all cells: pip upgraded {stale}.")

# %% [markdown]
# ## Parameters
#
# `task` and `model_checkpoint` as in notebook 01. `search_budget` is the search's cost in runs of the recipe:
# trials stop starting once together they have trained on `search_budget` x (training rows x 5 epochs) examples,
# or once the study holds `n_trials` finished trials (running again with the same study only runs what is missing).
# Each trial trains on `search_fraction` of the training set but at least `search_min_rows` rows (validation stays
# whole). `pruner` is `"asha"`, `"median"`, `"hyperband"` or `"none"`. The `recheck_top` best trials and the recipe are
# re-checked on the whole training set with `recheck_seeds` seeds each. The run settings are explained where they
# are used; `python -m glue_helpers search` runs this notebook with its flags as these parameters
# (`--n-trials 20` is `n_trials = 20`). With papermill: `-p task mrpc -p n_trials 20`.

# %% tags=["parameters"]
task = "cola"
model_checkpoint = "distilbert-base-uncased"
search_budget = 2.0  # in recipe runs (training examples); None: stop at n_trials only
n_trials = 20
search_fraction = 0.1
search_min_rows = 2500
pruner = "asha"
recheck_top = 2
recheck_seeds = 3

# --- run settings (docs/search.md) ---
seed = 42
output_dir = None  # default runs/<task>-search
storage = None  # None: a SQLite file in output_dir; a .log path: a journal file several workers can share
study_name = None  # the search to create or continue (default glue-<task>)
worker = 0  # several workers on one storage: give each its own number, so their samplers draw different points
retrain = True  # after the search: re-check the best trials with notebook 01 and save the winner
retrain_only = False  # True: run no new trial, only the re-check of the study's best
data_dir = None  # None: the Hub; or a local copy of nyu-mll/glue
max_train_samples = None
max_eval_samples = None
peft = None  # None: full fine-tuning; "lora": LoRA adapters and the head (the search then tries LoRA ranks too)
lora_r = 8  # LoRA's rank when it is not searched (the re-check uses each trial's)
lora_alpha = 16
lora_dropout = 0.1
lora_target_modules = None  # None: the architecture's attention projections
search_space = None  # None: hp_space below; or ranges of your own, e.g. {"learning_rate": {"low": 1e-5, "high": 1e-3}}
backend = "optuna"  # "optuna": trials in this process; "ray": Ray Tune trials on a Ray cluster (pip install .[ray])
ray_address = None  # for the Ray backend: None starts a local Ray; "auto" or "ray://HOST:10001" joins a cluster
cpus_per_trial = 1  # for the Ray backend
gpus_per_trial = None  # for the Ray backend: None is 1 when the cluster has GPUs
smoke = False  # True: the offline kit's tiny model and data (no Hub; the scores mean nothing)
report_to = "none"  # watch the trials live: "tensorboard", "trackio", "wandb" or "mlflow" (README: Watching runs)

# %% [markdown]
# ## The search space
#
# `hp_space` asks the trial for one value of each hyperparameter. `suggest_float(..., log=True)` spreads the
# tries evenly over orders of magnitude, which suits a learning rate; `suggest_int` and `suggest_categorical`
# pick whole numbers and choices. `warmup_ratio` is the share of training steps spent warming the learning rate
# up. We don't search the `seed`: a search over seeds finds a lucky seed, not a better recipe, and the importance
# plot would credit that noise to a "parameter". The ranges hold the recipe (2e-5, 5 epochs, batch 16, weight decay
# 0.01, no warmup), which is trial 0. With LoRA the learning rates are ten times higher (few weights that start at
# zero need larger steps) and the adapters' rank `lora_r` is searched too. A `search_space` of your own replaces
# these ranges: each entry a range (`{"low": a, "high": b}`, with `"log": True` or a `"step"`), a list of choices, or
# one fixed value.

# %%
# The offline kit's tiny random model (smoke=True) only learns with much larger steps.
lr_range, batch_sizes = ((1e-5, 1e-2), [8, 16]) if smoke else ((1e-5, 1e-4), [16, 32])
lora_ranks = [4, 8] if smoke else [4, 8, 16]
if peft == "lora" and not smoke:
    lr_range = (1e-4, 1e-3)


def suggest(trial, name, spec):
    """One value of a `search_space` entry: a range (integers when both ends are), a list of choices, or a value."""
    if isinstance(spec, dict):
        ints = isinstance(spec["low"], int) and isinstance(spec["high"], int)
        return (trial.suggest_int if ints else trial.suggest_float)(name, **spec)
    return trial.suggest_categorical(name, spec if isinstance(spec, list) else [spec])


def hp_space(trial):
    """One value of each hyperparameter for this trial."""
    if search_space is not None:
        return {name: suggest(trial, name, spec) for name, spec in search_space.items()}
    params = {
        "learning_rate": trial.suggest_float("learning_rate", *lr_range, log=True),
        "num_train_epochs": trial.suggest_int("num_train_epochs", 1, 5),
        "batch_size": trial.suggest_categorical("batch_size", batch_sizes),
        "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
        "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.2),
    }
    if peft == "lora":
        params["lora_r"] = trial.suggest_categorical("lora_r", lora_ranks)
    return params


# %% [markdown]
# ## Checking the inputs
#
# Before any download, one call checks every parameter above and the search space, looks the task up (from here on
# `task` is its record), opens the study's storage, and makes sure that a study continued under this name is the
# same search: the same task, model, data, rows, seed and ranges. Trials of another search would not compare with
# these, so a study that differs is refused with what differs. `search` holds what the check resolved: the storage,
# the study's name, those facts (`search.tags`, which the study keeps), notebook 01's recipe in the search's names
# (`search.recipe`), and the part of it the space can produce (`search.trial_0`, the study's first trial).

# %%
import optuna
import transformers

import glue_helpers as gh

search = gh.check_search_inputs(globals())
task, model_checkpoint, data_dir, output_dir = search.task, search.model_checkpoint, search.data_dir, search.output_dir
optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own short line per trial instead (print_trial, below)
# Notebook 01 showed the load report (the new head's weights are MISSING, as they should be) and the progress bars;
# every trial's fresh model would print them again.
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
print(f"{task.name}: {task.description}\nmodel: {model_checkpoint}\noutputs: {output_dir}")

# %% [markdown]
# ## The data, and the search subset
#
# We load and tokenize the task as notebook 01 does (`gh.load_glue` is its two data cells, `gh.tokenize_dataset`
# its `preprocess_function` and `.map`). Then we draw the search subset: seeded random rows, keeping each class's
# share. Training cost grows with the number of rows, so a subset makes every trial cheaper, but a trial on too few
# rows learns too little to rank settings (on a tenth of STS-B, 575 rows, MiniLM reached a Pearson correlation of
# 0.22 whatever its learning rate). So the subset is a tenth of a large task (SST-2, QNLI, QQP, MNLI), at least 2,500
# rows otherwise (MRPC, STS-B, CoLA), and the whole set of a small one (RTE, WNLI).

# %%
from transformers import AutoTokenizer, DataCollatorWithPadding

raw = gh.load_glue(task, data_dir, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                   seed=seed, splits=("train", "validation"))
tokenizer = AutoTokenizer.from_pretrained(model_checkpoint)
encoded = gh.tokenize_dataset(raw, task, tokenizer)
search_train = gh.search_subset(encoded["train"], search_fraction, seed=seed, min_rows=search_min_rows)
data_collator = DataCollatorWithPadding(tokenizer)
compute_metrics = gh.make_compute_metrics(task)  # notebook 01's compute_metrics
print(f"search on {len(search_train)} of {len(encoded['train'])} training rows, "
      f"evaluate on {len(encoded['validation'])} validation rows")

# %% [markdown]
# ## The objective: a trial becomes a Trainer
#
# Optuna calls `objective(trial)` once per trial and maximizes what it returns. Ours turns the trial's values into
# notebook 01's recipe: `TrainingArguments` with the trial's learning rate, epochs, batch size, weight decay and
# warmup (the recipe's value for anything the space leaves out), evaluating every epoch and saving nothing (a trial
# keeps its scores, not its model); a fresh model, with LoRA adapters of the trial's rank when `peft="lora"`
# (`model_init`: the `Trainer` builds it after seeding, so no trial starts from another's weights); and the
# `Trainer` on the search subset. A `TrainerCallback` reports each epoch's score with `trial.report(score, step)`
# and asks `trial.should_prune()`: the pruner compares this trial's score at epoch *k* with the other trials' at
# epoch *k*, and stops one that is clearly behind (a trial at its last epoch has nothing left to save, so it
# finishes). The trial's result is its **best** epoch's score, not its last: a setting that peaked at epoch 2 is a
# good setting (the re-check keeps the best epoch too). A learning rate that is too high can make the model collapse
# to one constant prediction, whose correlation (STS-B's Pearson) is not a number; we score such an epoch 0, "no
# correlation", as scikit-learn scores a constant predictor's MCC, so the trial ranks low and the pruner can stop it
# (Optuna would mark a NaN result failed, after the last epoch). `trial.set_user_attr` stores what the budget
# counts (training examples seen) and the best epoch with the trial.
#
# Why not `Trainer.hyperparameter_search(backend="optuna")`? In transformers 5 it reports scores by training
# *step*, which differs between trials with different batch sizes (so the pruner compares unlike things), it
# scores a trial by its last evaluation, and it turns a searched warmup ratio into 0 warmup steps.

# %%
import gc
import math
from pathlib import Path

import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import AutoModelForSequenceClassification, PrinterCallback, TrainerCallback, TrainingArguments

from glue_helpers import GlueTrainer


def make_model(values):
    """A fresh pretrained model with a new, randomly initialised head; with peft="lora", frozen, with fresh LoRA
    adapters of the trial's rank (the head trains in full, as in notebook 01)."""
    model = AutoModelForSequenceClassification.from_pretrained(
        model_checkpoint, num_labels=task.num_labels, id2label=task.id2label, label2id=task.label2id)
    if peft == "lora":
        model = get_peft_model(model, LoraConfig(
            task_type=TaskType.SEQ_CLS, r=values.get("lora_r", lora_r), lora_alpha=values.get("lora_alpha", lora_alpha),
            lora_dropout=values.get("lora_dropout", lora_dropout),
            target_modules=gh.lora_target_modules(model, lora_target_modules),  # the attention projections
            modules_to_save=gh.lora_modules_to_save(model)))  # the new head (and pooler): trained in full, saved
    return model


class ReportEachEpoch(TrainerCallback):
    """After each epoch's evaluation: report the score to the trial, and stop training if the pruner says so."""

    def __init__(self, trial):
        self.trial, self.scores, self.pruned = trial, {}, False

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        score = metrics[f"eval_{task.primary_metric}"]
        if not math.isfinite(score):  # constant predictions have no correlation (NaN): score them 0, see above
            score = 0.0
        epoch = max(1, round(state.epoch))
        self.scores[epoch] = score
        self.trial.report(score, step=epoch)
        if epoch < args.num_train_epochs and self.trial.should_prune():  # after the last epoch, nothing to save
            self.pruned = control.should_training_stop = True


def objective(trial):
    """Train one trial's model on the search subset; return its best epoch's score."""
    values = {**search.recipe, **hp_space(trial)}  # the trial's values; the recipe's for what the space leaves out
    run_name = f"{task.name}-{Path(model_checkpoint).name}-trial-{trial.number}"  # as a dashboard shows it
    gh.start_tracking(report_to, output_dir, run_name)  # report_to's offline folder: output_dir/tracking/
    args = TrainingArguments(
        output_dir=str(output_dir / "trials" / f"trial-{trial.number}"),
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="epoch",
        learning_rate=values["learning_rate"],
        per_device_train_batch_size=values["batch_size"],
        num_train_epochs=values["num_train_epochs"],
        weight_decay=values["weight_decay"],
        warmup_steps=values["warmup_ratio"],  # transformers 5: a float below 1 is a share of the training steps
        seed=values.get("seed", seed),
        report_to=report_to,
        run_name=run_name,
        disable_tqdm=True,
        **gh.speed_flags("auto", values["batch_size"]),  # notebook 01's speed settings
    )
    report = ReportEachEpoch(trial)
    trainer = GlueTrainer(model_init=lambda: make_model(values), args=args, train_dataset=search_train,
                          eval_dataset=encoded["validation"], data_collator=data_collator,
                          compute_metrics=compute_metrics, callbacks=[report])
    trainer.remove_callback(PrinterCallback)  # no raw log dict per epoch: print_trial sums the trial up
    trainer.train()
    trial.set_user_attr("examples", round(trainer.state.epoch * len(search_train)))  # what the budget counts
    trial.set_user_attr("best_epoch", max(report.scores, key=report.scores.get, default=None))
    trial.set_user_attr("worker", worker)
    del trainer  # free the model before the next trial builds one
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if report.pruned:
        raise optuna.TrialPruned(f"pruned after epoch {max(report.scores)}")
    return max(report.scores.values(), default=float("nan"))


def print_trial(study, trial):
    """After each trial (an Optuna callback): one line with its state, score, epochs and parameters."""
    epochs = trial.intermediate_values  # {epoch: score}, as reported
    if trial.state == optuna.trial.TrialState.COMPLETE:  # its result: the best epoch's score
        score, when = trial.value, f"best of {len(epochs)} epochs"
    else:  # pruned (or failed): the last epoch it reached
        score, when = (epochs[max(epochs)], f"at epoch {max(epochs)}") if epochs else (float("nan"), "no epoch")
    params = ", ".join(f"{key}={value:.3g}" for key, value in trial.params.items())
    print(f"trial {trial.number:>2} {trial.state.name:<8} {task.primary_metric} {score:.4f} ({when}): {params}")


# %% [markdown]
# `print_trial` is an Optuna callback: `study.optimize` calls it after every trial, and it prints one line where
# Optuna's own log would print the parameters at full precision. With `report_to` set, each trial is its own run,
# `<task>-<model>-trial-<n>`, logged offline under `output_dir/tracking/` (the README's "Watching runs" has the
# command that opens the dashboard).
#
# ## The study: stored, seeded, pruned
#
# A *study* is one search: its trials, their parameters and scores. `optuna.create_study` keeps it in a
# *storage* (a SQLite file in `output_dir` by default) under a name, and `load_if_exists=True` continues it when
# it is already there: run this notebook again and the search picks up where it stopped. The direction is
# *maximize* the task's metric, and `study.set_user_attr` stores the facts the input check compares.
#
# The sampler is TPE, seeded: its first `n_startup_trials` trials are random, later ones are drawn near the best
# so far (`constant_liar` keeps parallel workers from proposing the same point). Its seed moves on with the
# trials already done (`optuna.get_all_study_summaries` counts them) and the worker, so a continued search or a
# second worker doesn't replay the same random starts.
#
# The pruner is where a fixed budget is won or lost. ASHA (successive halving) sets rungs at epochs 1, 3, 9, ...:
# a trial goes past a rung only if it is in the best third of the trials that reached it, so most settings cost one
# epoch and only promising ones train longer. (The median pruner stops a trial below the median of the others at
# the same epoch; Hyperband runs several successive-halving brackets with different first rungs.)

# %%
pruners = {"asha": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
           "median": optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
           "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3),
           "none": optuna.pruners.NopPruner()}
previous = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(search.storage)}.get(search.study_name, 0)
study = optuna.create_study(
    study_name=search.study_name,
    storage=search.storage,
    load_if_exists=True,
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=seed + previous + 1000 * worker, n_startup_trials=4, constant_liar=True),
    pruner=pruners[pruner.lower()],
)
sampler, pruner_ = study.sampler, study.pruner
for key, value in search.tags.items():
    study.set_user_attr(key, value)
print(f"study {study.study_name!r}: {len(study.trials)} trials so far")

# %% [markdown]
# ## Running the search
#
# `study.enqueue_trial` fixes the next trial's parameters: we queue the recipe's, so trial 0 of a new study is
# notebook 01's run on the search subset, and the search can only add to it (a continued study has it already).
# `study.optimize` then calls the objective; Optuna's `MaxTrialsCallback` stops it once the study holds `n_trials`
# finished (complete or pruned) trials, whichever worker or run finished them. The budget is counted in training
# examples, not seconds, so it means the same on a T4 and on a laptop: `gh.StopAtBudget`, another callback, calls
# `study.stop()` once the trials have seen `search_budget` recipe runs' worth. This first run stops at half the
# trials or half the budget, with a callback written here (`stop_halfway`), to show below how a study is taken up
# again. If you interrupt this cell, run the notebook again: finished trials are kept, the interrupted one is marked
# failed, and only the missing trials run. If the machine dies mid-trial, that trial's heartbeat stops, and the next
# run (after three minutes) marks it failed and tries its parameters again.
#
# **Which backend?** `backend="optuna"` (the default) runs the trials here, one after the other; more machines
# join by sharing the storage (see "Scaling out" below): the right choice on one machine, or where a shared disk
# or database is at hand. `backend="ray"` hands the same search to [Ray Tune](https://docs.ray.io/en/latest/tune/):
# this `hp_space` through Optuna's TPE, an ASHA scheduler that stops the hopeless trials at epochs 1, 2, 4, ..., and
# one trial per GPU (or CPU slot) of a Ray cluster: the right choice when a Ray cluster is already there. Each Ray
# trial runs the package's trainer loop with the trial's values (`glue_helpers.train.fit`, the steps of notebook 01)
# and is written into this study, so the table, the plots and the re-check below work the same. Stopped, it
# continues from `output_dir/ray/` next time.

# %%
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

finished = (TrialState.COMPLETE, TrialState.PRUNED)
stop_at_budget = gh.StopAtBudget(search_budget, len(encoded["train"]))
max_trials = MaxTrialsCallback(n_trials, states=finished)


def trials_to_run(study):
    """How many more trials this run starts: up to `n_trials` finished ones, none once the budget is spent."""
    if retrain_only or stop_at_budget.reached(study):  # (it says so when it is)
        return 0
    return max(0, n_trials - len(study.get_trials(states=finished)))


todo = trials_to_run(study)
print(f"{len(study.get_trials(states=finished))} finished trials, {stop_at_budget.spent(study):,} training examples "
      f"spent; running up to {todo} more")
if todo and backend == "optuna":
    queued_or_done = study.get_trials(states=(TrialState.WAITING, *finished))  # a failed recipe trial runs again
    if search.trial_0 and not any(t.user_attrs.get("recipe") for t in queued_or_done):
        study.enqueue_trial(search.trial_0, user_attrs={"recipe": True})  # trial 0: notebook 01's hyperparameters

    def stop_halfway(study, trial):
        """A callback of our own: stop once half the budget is spent (the rest after "Stopped halfway", below)."""
        if stop_at_budget.spent(study) >= stop_at_budget.limit / 2:
            study.stop()

    study.optimize(objective, n_trials=(todo + 1) // 2, callbacks=[stop_halfway, max_trials, print_trial])
elif todo:  # Ray runs the recipe first too (its points_to_evaluate), and stops at the budget as well
    gh.run_ray_trials(study, hp_space, globals(), train_dataset=search_train, eval_dataset=encoded["validation"],
                      tokenizer=tokenizer, stop_at_budget=stop_at_budget, n_trials=todo)

# %% [markdown]
# ## Stopped halfway: loading the study back
#
# The cell above stopped after half the trials or half the budget, on purpose. A long search gets interrupted (a
# Colab session ends, a laptop sleeps), and nothing it finished is lost: every trial is in the study's storage.
# `optuna.load_study` reads the study back from its storage by name, as a new session would, and `study.optimize`
# goes on with the trials that are missing. (A new session makes a new sampler and pruner in the study cell above; we
# hand over the ones we have, so this run draws the same trials as an uninterrupted one.)

# %%
del study  # what a restarted kernel has lost; the storage still has every finished trial
study = optuna.load_study(study_name=search.study_name, storage=search.storage, sampler=sampler, pruner=pruner_)
todo = trials_to_run(study)
print(f"loaded {len(study.trials)} trials of {study.study_name!r}; running up to {todo} more")
if todo and backend == "optuna":
    study.optimize(objective, n_trials=todo, callbacks=[stop_at_budget, max_trials, print_trial])

# %% [markdown]
# ## What the search found
#
# `study.trials_dataframe()` is Optuna's table of the study: one row per trial with its state (COMPLETE, or PRUNED
# when stopped early), its score (`value`: the best epoch's, or a pruned trial's last) and its parameters.

# %%
trials = study.trials_dataframe(attrs=("number", "state", "value", "params")).set_index("number")
trials.rename(columns=lambda column: column.removeprefix("params_"))  # not rounded: 4 decimals show 2e-5 as 0.0000

# %% [markdown]
# The optimization history shows the best score so far after each trial. The intermediate values show each
# trial's score per epoch: pruned trials are the lines that stop early. The importances estimate which
# parameters explained most of the differences in score; from a handful of trials they are noise, so they are drawn
# only once ten trials have completed with different scores.

# %%
import warnings

from optuna.visualization import matplotlib as plots  # Optuna's plots, drawn with matplotlib

complete = study.get_trials(states=(TrialState.COMPLETE,))
if complete:
    print(f"best trial #{study.best_trial.number}: {task.primary_metric} = {study.best_value:.4f}, {study.best_params}")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # these plots are "experimental"
figures = {"optimization_history": plots.plot_optimization_history(study, target_name=task.primary_metric),
           "intermediate_values": plots.plot_intermediate_values(study)}
figures["intermediate_values"].set_xlabel("epoch")  # what our objective reports as the step
if len(complete) >= 10 and len({t.value for t in complete}) > 1:
    figures["param_importances"] = plots.plot_param_importances(study, target_name=task.primary_metric)
else:
    print(f"no importances: {len(complete)} completed trials are too few to rank the parameters")
for figure_name, ax in figures.items():
    ax.figure.savefig(output_dir / f"{figure_name}.png", bbox_inches="tight")

# %% [markdown]
# ## Re-checking the best: runs of notebook 01
#
# The best trial won on a subset, with one seed, against many others: part of its lead is luck. So before we trust
# it, the recipe and the `recheck_top` best trials run **notebook 01** again, on the whole training set (or its
# `max_train_samples` rows), each with `recheck_seeds` seeds. `gh.run_notebook_01` is `python -m glue_helpers batch`
# for one task: every run is a run folder of notebook 01 with its executed copy
# (`output_dir/recheck/<study>/<candidate>/<task>/seed-<n>/`, with `metrics.json` and the validation predictions),
# finished runs are kept when the cell runs again, and `python -m glue_helpers compare` and notebook 03 read them
# too. (With `recheck_seeds = 0`, the best trial runs once, with `seed`, and is saved without a comparison.)

# %%
seeds = [seed + i for i in range(recheck_seeds)] or [seed]
ranked = sorted(complete, key=lambda t: t.value, reverse=True)
if recheck_seeds:  # the recipe, then the best trials that are not the recipe's
    candidates = {"recipe": search.recipe}
    for trial in ranked:
        if len(candidates) <= recheck_top and not trial.user_attrs.get("recipe"):
            candidates[f"trial-{trial.number}"] = {**search.recipe, **trial.params}
else:  # the best trial, once
    candidates = {f"trial-{trial.number}": {**search.recipe, **trial.params} for trial in ranked[:1]}
if retrain and not ranked:
    raise optuna.exceptions.OptunaError(f"Study {study.study_name!r} has no completed trial yet: run more trials (a "
                                        "failed trial's error is in the log above it), or use a milder pruner.")
recheck_dir = output_dir / "recheck" / study.study_name
notebook_01 = {"model_checkpoint": model_checkpoint, "data_dir": data_dir, "max_train_samples": max_train_samples,
               "max_eval_samples": max_eval_samples, "peft": peft, "lora_r": lora_r, "lora_alpha": lora_alpha,
               "lora_dropout": lora_dropout, "lora_target_modules": lora_target_modules, "report_to": report_to,
               "write_leaderboard": False}  # notebook 01's parameters; the seeds are the re-check's
for name, values in (candidates if retrain else {}).items():
    print(f"{name}: {', '.join(f'{key}={value:.3g}' for key, value in values.items())}")
    without_seed = {key: value for key, value in values.items() if key != "seed"}
    gh.run_notebook_01(recheck_dir / name, task, seeds, {**notebook_01, **without_seed}, progress=False)

# %% [markdown]
# Each candidate is compared with the recipe by `gh.compare_runs`, the comparison of `python -m glue_helpers
# compare` and notebook 03: the difference of the medians over the seeds, its 95% interval from a *paired* bootstrap
# (the same resampled validation rows for both, seed by seed) and the range of per-seed differences. The winner is
# the best median. It *beats* the recipe by the project's one rule for "better": it scored higher on **every**
# seed, and the interval lies **above zero**. Otherwise the honest reading is "a tie".

# %%
import pandas as pd

WORDS = {"B better": "beats the recipe", "A better": "worse than the recipe", "no clear difference": "a tie",
         "n/a": "not comparable"}
rows = "the whole training set" if max_train_samples is None else f"{len(encoded['train'])} training rows"
winner, beats = next(iter(candidates), None), False
if retrain and len(candidates) > 1:
    comparison = pd.DataFrame({name: gh.compare_runs(recheck_dir / "recipe", recheck_dir / name).iloc[0]
                               for name in candidates if name != "recipe"}).T
    medians = {"recipe": comparison["score_a"].iloc[0], **comparison["score_b"]}
    winner = max(medians, key=medians.get)  # the recipe, listed first, wins a tie
    beats = winner != "recipe" and comparison.loc[winner, "verdict"] == "B better"
    comparison.to_csv(recheck_dir / "comparison.csv")
    print(f"{task.primary_metric} over seeds {seeds}, trained on {rows}: recipe median {medians['recipe']:.4f}")
    for name, row in comparison.iterrows():
        print(f"  {name}: median {row.score_b:.4f}, {row['diff']:+.4f} [95% paired CI {row.ci_low:+.4f}, "
              f"{row.ci_high:+.4f}], per-seed differences {row.pair_diff_min:+.4f} to {row.pair_diff_max:+.4f}: "
              f"{WORDS[row.verdict]}")
    print(f"winner: {winner}" + (" (it beats the recipe)" if beats else " (nothing beat the recipe: it is kept)"
                                 if winner == "recipe" else " (better median, but a tie by the rule)"))

# %% [markdown]
# Every seed's score, per candidate, with each candidate's median as a line:

# %%
import matplotlib.pyplot as plt

if retrain and recheck_seeds:
    fig, ax = plt.subplots(figsize=(1.6 * len(candidates) + 2, 3.4))
    for i, name in enumerate(candidates):
        scores = pd.read_csv(recheck_dir / name / "results.csv")["primary_value"]
        ax.scatter([i] * len(scores), scores, color="tab:green" if name == winner else "tab:gray", zorder=3)
        ax.hlines(scores.median(), i - 0.25, i + 0.25, color="black")
    ax.set_xticks(range(len(candidates)), list(candidates))
    ax.set_ylabel(f"{task.primary_metric}, {len(seeds)} seeds")
    ax.set_title(f"{task.name}: re-check on {rows}, winner {winner}")
    fig.savefig(output_dir / "recheck.png", bbox_inches="tight")

# %% [markdown]
# ## The result
#
# The winner's first-seed run of notebook 01 (the recipe's, when nothing beat it) is the best model: its `model/`
# folder, with its model card, is copied to `output_dir/best-model` with its `metrics.json` and the verdict (with
# LoRA: the merged model, and the adapter with its head in `best-adapter/`). An earlier best model is replaced only
# once the copy is whole.
#
# The validation set chose the hyperparameters, so its score is slightly optimistic; for a clean estimate, search
# on part of the training set and keep the rest for scoring, or submit to the GLUE leaderboard.

# %%
if retrain:
    record = gh.save_best_model(recheck_dir / winner / task.name / f"seed-{seeds[0]}", output_dir,
                                best_params=candidates[winner], recheck_winner=winner, recheck_beats_recipe=beats,
                                study_name=study.study_name)
    print(f"best-model: {winner}'s run with seed {seeds[0]}, {task.primary_metric} = "
          f"{record['primary_metric_value']:.4f}, in {output_dir / 'best-model'}")

# %% [markdown]
# ## Scaling out
#
# A trial only needs to read and write the shared study, so more machines mean more trials per hour. Give every
# worker the same storage and study name and its own `worker` number: each asks the study for new parameters and
# writes its results back, and the study stops at `n_trials` finished trials (or the budget) whoever ran them.
#
# ```bash
# # on each of N machines (or N times on one machine with several GPUs: CUDA_VISIBLE_DEVICES=i)
# python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased \
#     --storage /shared/cola-search.log --study-name cola --n-trials 20 --worker $i
# # then, once: the re-check on the full training set, and the winner saved
# python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased \
#     --storage /shared/cola-search.log --study-name cola --retrain-only
# ```
#
# `python -m glue_helpers search` runs this notebook with papermill, its flags as the parameters above, and leaves
# the executed copy in `--output-dir`. A `.log` path is an Optuna *journal file*: an append-only log that many
# processes on a shared disk can write safely (`glue_helpers` adds a heartbeat to it, so a killed worker's trial is
# retried). SQLite is fine for one process but locks under many writers; for many machines without a shared disk,
# use a database URL (`postgresql://...`). Open this notebook with `storage` and `study_name` set to the same values
# to see the table and the plots of the whole search.
