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
# an objective that reports every epoch and stops hopeless trials (`trial.report`, `trial.should_prune`), a
# stored study (`optuna.create_study`, `study.enqueue_trial`) and the search itself (`study.optimize`).
#
# A search is only worth its cost if what it returns beats the recipe it started from, so this one is built to:
#
# 1. **start from the recipe**: trial 0 runs notebook 01's hyperparameters, on the same footing as the others;
# 2. **rank on enough data**: each trial trains on a subset of the training set big enough to tell settings apart
#    (at least 2,500 rows, or all of a smaller set; a tenth of a large one);
# 3. **spend a fixed budget well**: trials run until together they have seen as many training examples as two runs
#    of the recipe, and successive halving (ASHA) stops the weak ones after epoch 1 or 3, so the budget buys more
#    settings rather than more epochs of bad ones;
# 4. **check the winner before trusting it**: the recipe and the two best trials train again on the *full* training
#    set with three seeds each, and the winner is compared with the recipe seed by seed, with an interval;
# 5. **survive an interruption**: trials and re-check runs are stored, so running the notebook again continues.
#
# **What it costs:** about 11 runs of the recipe in all: 2 for the search, up to 9 (3 candidates x 3 seeds) for
# the re-check. With DistilBERT on a Colab T4 that is roughly 20 minutes for RTE, 30 for MRPC or CoLA and 45 for
# STS-B (from the speed estimates notebook 01 prints; a session lasts hours); `recheck_seeds = 2` or
# `recheck_top = 1` make it shorter, and a large task (MNLI, QQP) is a job for a bigger GPU or a smaller budget.
#
# **See a real run first:**
# [docs/executed/02_hyperparameter_search.ipynb](../docs/executed/02_hyperparameter_search.ipynb) is this notebook
# with the outputs of a real run.
#
# On Colab, the next cell installs `glue_helpers` with pip, which adds only what Colab lacks (evaluate, optuna,
# papermill): every package Colab already has, its CUDA build of PyTorch included, meets this project's version
# bounds, so pip keeps it as it is (CI checks this on Colab's versions). Anywhere else the cell does nothing.

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
# `task` and `model_checkpoint` as in notebook 01. `search_budget` is the search's cost in runs of the recipe:
# trials stop starting once together they have trained on `search_budget` x (training rows x 5 epochs) examples,
# or when the study has `n_trials` finished trials (running again with the same study only runs what is missing).
# Each trial trains on `search_fraction` of the training set but at least `search_min_rows` rows (validation stays
# whole). `pruner` is `"asha"`, `"median"`, `"hyperband"` or `"none"`. `recheck_top` best trials and the recipe are
# re-checked on the full training set with `recheck_seeds` seeds each.
# `peft = "lora"` searches LoRA adapters instead of full fine-tuning (notebook 01 explains LoRA), and
# `backend = "ray"` runs the trials on a Ray cluster (see "Running the search"). With papermill:
# `-p task mrpc -p n_trials 20`.

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

# --- run settings (see the README) ---
seed = 42
output_dir = None  # default runs/<task>-search
storage = None  # None: a SQLite file in output_dir; a .log path: a journal file several workers can share
study_name = None  # the search to create or continue (default glue-<task>)
data_dir = None  # None: the Hub; or a local copy of nyu-mll/glue
max_train_samples = None
max_eval_samples = None
peft = None  # None: full fine-tuning; "lora": LoRA adapters and the head (the search then tries LoRA ranks too)
lora_r = 8  # LoRA's rank when it is not searched (the re-check uses each trial's)
lora_alpha = 16
lora_dropout = 0.1
lora_target_modules = None  # None: the architecture's attention projections
backend = "optuna"  # "optuna": trials in this process; "ray": Ray Tune trials on a Ray cluster (pip install .[ray])
ray_address = None  # for the Ray backend: None starts a local Ray; "auto" or "ray://HOST:10001" joins a cluster
smoke = False  # True: the offline kit's tiny model and data (checks the notebook in a minute)
report_to = "none"  # watch the trials live: "tensorboard", "trackio", "wandb" or "mlflow" (README: Watching runs)

# %%
import math
import warnings
from pathlib import Path

import optuna
import transformers
from optuna.visualization import matplotlib as plots  # Optuna's plots, drawn with matplotlib
from peft import LoraConfig, TaskType, get_peft_model
from transformers import AutoModelForSequenceClassification, PrinterCallback, TrainerCallback

import glue_helpers as gh
from glue_helpers import GlueTrainer
from glue_helpers import search as hs

task = gh.resolve_task(task)  # a GLUE name, or the path of a custom task's YAML: resolved once, here
gh.SearchSettings.from_params(globals())  # bad values fail here, not after the data and model are loaded
gh.Recipe.from_params(globals())  # the recipe knobs set above (seed, peft, LoRA's), checked as in notebook 01
if smoke:
    kit = gh.ensure_kit()
    data_dir, model_checkpoint = kit.data_dir, kit.model_dir
gh.check_data_source(task, data_dir)
model_checkpoint = gh.resolve_checkpoint(model_checkpoint)
output_dir = Path(output_dir or f"runs/{task.name}-search")
output_dir.mkdir(parents=True, exist_ok=True)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own short line per trial instead (print_trial, below)
transformers.logging.disable_progress_bar()  # no "Loading weights" bar for each trial's fresh model
# Notebook 01 showed the load report (the new head's weights are MISSING, as they should be); every trial's fresh
# model would print it twice more.
transformers.logging.set_verbosity_error()
print(f"{task.name}: {task.description}\nmodel: {model_checkpoint}\noutputs: {output_dir}")
if report_to != "none":
    print("watch the trials with:", gh.dashboard_command(report_to, output_dir))

# %% [markdown]
# ## The data, and the search subset
#
# We load and tokenize the task exactly as notebook 01 does (`gh.load_glue` is its two data cells,
# `gh.tokenize_dataset` its `preprocess_function` and `.map`). Then we draw the search subset: seeded random rows,
# keeping each class's share. Training cost grows with the number of rows, so a subset makes every trial cheaper,
# but a trial on too few rows learns too little to rank settings (on a tenth of STS-B, 575 rows, MiniLM reached a
# Pearson correlation of 0.22 whatever its learning rate). So the subset is a tenth of a large task (SST-2, QNLI,
# QQP, MNLI), at least 2,500 rows otherwise (MRPC, STS-B, CoLA), and the whole set of a small one (RTE, WNLI).

# %%
raw = gh.load_glue(task, data_dir, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                   seed=seed, splits=("train", "validation"))
tokenizer = gh.load_tokenizer(model_checkpoint)
encoded = gh.tokenize_dataset(raw, task, tokenizer)
search_train = hs.search_subset(encoded["train"], search_fraction, seed=seed, min_rows=search_min_rows)
data_collator = gh.make_data_collator(tokenizer)
compute_metrics = gh.make_compute_metrics(task)  # notebook 01's compute_metrics
print(f"search on {len(search_train)} of {len(encoded['train'])} training rows, "
      f"evaluate on {len(encoded['validation'])} validation rows")

# %% [markdown]
# ## The search space
#
# `hp_space` asks the trial for one value of each hyperparameter. `suggest_float(..., log=True)` spreads the
# tries evenly over orders of magnitude, which suits a learning rate; `suggest_int` and `suggest_categorical`
# pick whole numbers and choices. `warmup_ratio` is the share of training steps spent warming the learning rate
# up. We don't search the `seed`: a search over seeds finds a lucky seed, not a better recipe, and the importance
# plot would credit that noise to a "parameter". The ranges hold the recipe (2e-5, 5 epochs, batch 16, weight decay
# 0.01, no warmup), which is trial 0. With LoRA the learning rates are ten times higher (few weights that start at
# zero need larger steps) and the adapters' rank `lora_r` is searched too.

# %%
# The offline kit's tiny random model (smoke=True) only learns with much larger steps.
lr_range, epoch_range, batch_sizes = ((1e-3, 1e-2), (2, 4), [8, 16]) if smoke else ((1e-5, 1e-4), (1, 5), [16, 32])
lora_ranks = [4, 8] if smoke else [4, 8, 16]
if peft == "lora" and not smoke:
    lr_range = (1e-4, 1e-3)


def hp_space(trial):
    """One value of each hyperparameter for this trial."""
    params = {
        "learning_rate": trial.suggest_float("learning_rate", *lr_range, log=True),
        "num_train_epochs": trial.suggest_int("num_train_epochs", *epoch_range),
        "batch_size": trial.suggest_categorical("batch_size", batch_sizes),
        "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
        "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.2),
    }
    if peft == "lora":
        params["lora_r"] = trial.suggest_categorical("lora_r", lora_ranks)
    return params


# %% [markdown]
# ## The objective
#
# Optuna calls `objective(trial)` once per trial and maximizes what it returns. Ours trains a fresh model
# (`model_init`, so no trial starts from another's weights) on the search subset with the trial's values, and
# evaluates after every epoch. A `TrainerCallback` reports each epoch's score with `trial.report(score, step)` and
# asks `trial.should_prune()`: the pruner compares this trial's score at epoch *k* with the other trials' scores at
# epoch *k*, and stops one that is clearly behind (a trial at its last epoch has nothing left to save, so it
# finishes). The trial's result is its **best** epoch's score, not its last: a setting that peaked at epoch 2 is a
# good setting (the re-check keeps the best epoch too). A learning rate that is too high can make the model collapse
# to one constant prediction, whose correlation (STS-B's Pearson) is not a number; we score such an epoch 0, "no
# correlation", as scikit-learn scores a constant predictor's MCC, so the trial ranks low and the pruner can stop it
# (Optuna would mark a NaN result failed, after the last epoch).
#
# Why not `Trainer.hyperparameter_search(backend="optuna")`? In transformers 5 it reports scores by training
# *step*, which differs between trials with different batch sizes (so the pruner compares unlike things), it
# scores a trial by its last evaluation, and it turns a searched warmup ratio into 0 warmup steps.

# %%
def make_model(lora_r=lora_r):
    """A fresh pretrained model with a new, randomly initialised classification head; with peft="lora", frozen, with
    fresh LoRA adapters of rank `lora_r` (the head trains in full, as in notebook 01)."""
    model = AutoModelForSequenceClassification.from_pretrained(
        model_checkpoint, num_labels=task.num_labels, id2label=task.id2label, label2id=task.label2id)
    if peft == "lora":
        model = get_peft_model(model, LoraConfig(
            task_type=TaskType.SEQ_CLS, r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
            target_modules=gh.lora_target_modules(model, lora_target_modules),
            modules_to_save=gh.lora_modules_to_save(model)))
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
    params = hp_space(trial)
    run_name = f"{task.name}-{Path(model_checkpoint).name}-trial-{trial.number}"  # as the dashboard shows it
    tracking = hs.trial_tracking(report_to, output_dir, run_name)  # TrainingArguments' report_to and run_name
    args = hs.search_training_arguments(task, output_dir / "trials" / f"trial-{trial.number}", params, **tracking)
    report = ReportEachEpoch(trial)
    model_init = lambda: make_model(**hs.model_parameters(params))  # noqa: E731 - a fresh model (its lora_r) per run
    trainer = GlueTrainer(model_init=model_init, args=args, train_dataset=search_train,
                          eval_dataset=encoded["validation"], data_collator=data_collator,
                          compute_metrics=compute_metrics, callbacks=[report])
    trainer.remove_callback(PrinterCallback)  # no raw log dict per epoch: print_trial sums the trial up
    result = trainer.train()
    hs.record_trial(trial, report.scores, trainer, result)  # per-epoch scores, steps, time: for the table
    del trainer
    hs.free_memory()
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
# `search_training_arguments` is notebook 01's `TrainingArguments` with the trial's values, evaluating every
# epoch and saving nothing (a trial keeps its scores, not its model). With `report_to` set, `hs.trial_tracking`
# gives each trial its own run, `<task>-<model>-trial-<n>`, logged offline under `output_dir/tracking/` (the
# README's "Watching runs" has the command that opens the dashboard). `print_trial` is an Optuna callback:
# `study.optimize` calls it after every trial, and it prints one line where Optuna's own log would print the
# parameters at full precision.
#
# ## The study: stored, seeded, pruned
#
# A *study* is one search: its trials, their parameters and scores. `optuna.create_study` keeps it in a
# *storage* (a SQLite file in `output_dir` by default) under a name, and `load_if_exists=True` continues it when
# it is already there: run this notebook again and the search picks up where it stopped. (A study that searched
# another task is refused.) The direction is *maximize* the task's metric.
#
# The sampler is TPE, seeded: its first `n_startup_trials` trials are random, later ones are drawn near the best
# so far (`constant_liar` keeps parallel workers from proposing the same point). Its seed moves on with the
# trials already done, so a continued search doesn't replay the same random starts.
#
# The pruner is where a fixed budget is won or lost. ASHA (successive halving) sets rungs at epochs 1, 3, 9, ...:
# a trial goes past a rung only if it is in the best third of the trials that reached it, so most settings cost one
# epoch and only promising ones train longer. (The median pruner stops a trial below the median of the others at
# the same epoch; Hyperband runs several successive-halving brackets with different first rungs.)

# %%
name = study_name or f"glue-{task.name}"
store = hs.open_storage(storage, output_dir)
previous = hs.previous_trials(store, name, task)  # 0 for a new study
study = optuna.create_study(
    study_name=name,
    storage=store,
    load_if_exists=True,
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=seed + previous, n_startup_trials=4, constant_liar=True),
    pruner=hs.make_pruner(pruner),
)
sampler, pruner_ = study.sampler, study.pruner
hs.tag_study(study, task, model=str(model_checkpoint), search_fraction=search_fraction, peft=peft)
print(f"study {study.study_name!r} in {hs.storage_url(storage, output_dir)}: {len(study.trials)} trials so far")

# %% [markdown]
# ## Running the search
#
# `study.optimize` calls the objective until the study has `n_trials` finished (complete or pruned) trials. If
# you interrupt this cell, run the notebook again: finished trials are kept, the interrupted one is marked
# failed, and only the missing trials run. If the machine dies mid-trial, that trial's heartbeat stops, and the
# next run (after three minutes) marks it failed and tries its parameters again.
#
# **Which backend?** `backend="optuna"` (the default) runs the trials here, one after the other; more machines
# join by sharing the storage (see "Scaling out" below): the right choice on one machine, or where a shared disk
# or database is at hand. `backend="ray"` hands the same search to [Ray Tune](https://docs.ray.io/en/latest/tune/):
# Optuna's TPE proposes the trials, an ASHA scheduler stops the hopeless ones at epochs 1, 2, 4, ..., and Ray
# places one trial per GPU (or CPU slot) of a Ray cluster: the right choice when a Ray cluster is already there.
# It runs the package's copy of this search (`glue_helpers.search`: the same space, as a test checks, and the same
# best-epoch score) and writes every trial into this study, so the table, the plots and the re-check below work the
# same. Stopped, it continues from `output_dir/ray/` next time.

# %% [markdown]
# `study.enqueue_trial` fixes the next trial's parameters: we queue the recipe's, so trial 0 of a new study is
# notebook 01's run on the search subset, and the search can only add to it. A continued study has it already.
# The budget is counted in training examples, not seconds, so it means the same on a T4 and on a laptop: the
# `StopAtBudget` callback calls `study.stop()` once the trials have seen `search_budget` recipe runs' worth.

# %%
recipe = hs.recipe_params(hs.default_search_space(peft, smoke), peft)  # what hp_space can produce of the recipe
budget = hs.budget_examples(len(encoded["train"]), search_budget)
todo = hs.trials_to_run(study, n_trials, budget)
print(f"{len(hs.finished_trials(study))} finished trials, {hs.examples_seen(study)} of {budget:.0f} training "
      f"examples spent; running up to {todo} more")
if todo and backend == "optuna":
    if not hs.has_recipe_trial(study):
        study.enqueue_trial(recipe, user_attrs={"recipe": True})  # trial 0: notebook 01's hyperparameters
    # half the trials and half the budget here; the rest after "Stopped halfway", below
    study.optimize(objective, n_trials=(todo + 1) // 2, callbacks=[hs.StopAtBudget(budget / 2), print_trial])
elif todo:  # Ray runs the recipe first too (its points_to_evaluate), and stops at the budget as well
    search = hs.prepare_search(task, model_checkpoint, data_dir=data_dir, n_trials=n_trials, storage=storage,
                               study_name=name, search_fraction=search_fraction, search_min_rows=search_min_rows,
                               search_budget=search_budget, pruner=pruner,
                               output_dir=output_dir, seed=seed, max_train_samples=max_train_samples,
                               max_eval_samples=max_eval_samples, peft=peft, lora_r=lora_r, lora_alpha=lora_alpha,
                               lora_dropout=lora_dropout, lora_target_modules=lora_target_modules,
                               search_space=hs.default_search_space(peft, smoke), report_to=report_to)
    hs.run_ray_trials(search, todo, seed=seed, address=ray_address)

# %% [markdown]
# ## Stopped halfway: loading the study back
#
# The cell above stopped halfway on purpose: after half the trials, or half the budget. A long search gets
# interrupted (a Colab session ends, a laptop sleeps), and nothing it finished is lost: every trial is in the
# study's storage. `optuna.load_study` reads the study back from its storage by name, as a new session would, and
# `study.optimize` goes on with the trials that are missing. (A new session makes a new sampler and pruner in the
# cell above; we hand over the ones we have, so this run draws the same trials as an uninterrupted one.)

# %%
del study  # what a restarted kernel has lost; the storage still has every finished trial
study = optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner_)
todo = hs.trials_to_run(study, n_trials, budget)
print(f"loaded {len(study.trials)} trials of {study.study_name!r}; running up to {todo} more")
if todo and backend == "optuna":
    study.optimize(objective, n_trials=todo, callbacks=[hs.StopAtBudget(budget), print_trial])

# %% [markdown]
# ## What the search found
#
# `study.trials_dataframe()` is Optuna's table of the study: one row per trial with its state (COMPLETE, or PRUNED
# when stopped early), its score (`value`: the best epoch's, or a pruned trial's last) and its parameters.

# %%
trials = study.trials_dataframe(attrs=("number", "state", "value", "params")).set_index("number")
trials.rename(columns=lambda column: column.removeprefix("params_"))  # not rounded: 4 decimals show 2e-5 as 0.0000

# %%
hs.best_params(study)  # a clear error if no trial completed (Optuna's own says "Record does not exist")
print(f"best trial #{study.best_trial.number}: {task.primary_metric} = {study.best_value:.4f}")
study.best_params

# %% [markdown]
# The optimization history shows the best score so far after each trial. The intermediate values show each
# trial's score per epoch: pruned trials are the lines that stop early. The importances estimate which
# parameters explained most of the differences in score. With ten trials they are a rough guide, not a finding:
# a parameter ranked first here may only have varied with the learning rate by chance. They need a few completed
# trials with different scores.

# %%
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # these plots are "experimental"
figures = {"optimization_history": plots.plot_optimization_history(study, target_name=task.primary_metric),
           "intermediate_values": plots.plot_intermediate_values(study)}
figures["intermediate_values"].set_xlabel("epoch")  # what our objective reports as the step
if hs.importances_possible(study) is None:  # needs two completed trials with different scores
    figures["param_importances"] = plots.plot_param_importances(study, target_name=task.primary_metric)
for figure_name, ax in figures.items():
    ax.figure.savefig(output_dir / f"{figure_name}.png", bbox_inches="tight")

# %% [markdown]
# ## Re-checking the best on the full data, with several seeds
#
# The best trial won on a subset, with one seed, against many others: part of its lead is luck. So before we trust
# it, the recipe and the `recheck_top` best trials train again on the **whole** training set with notebook 01's
# recipe (evaluate every epoch, keep the best epoch), each with `recheck_seeds` seeds. Every run is a run folder
# like notebook 01's (`output_dir/recheck/<candidate>/seed-<n>/`, with `metrics.json` and the validation
# predictions), so `python -m glue_helpers compare` and notebook 03 read them too. The table gives each candidate's
# score over the seeds and, against the recipe, the difference of medians with its 95% interval from a *paired*
# bootstrap (the same resampled validation rows for both, seed by seed) and the range of per-seed differences.
# The winner is the best median. It *beats* the recipe by the project's one rule for "better" (the same in
# notebook 03 and `compare`): it scored higher on **every** seed, and the interval lies **above zero**. Otherwise
# the honest reading is "a tie".
#
# Stopped midway, this cell picks up where it was: finished runs are kept.

# %%
recheck = hs.recheck(study, task, recipe=hs.recipe_values(peft), output_dir=output_dir, top_k=recheck_top,
                     n_seeds=recheck_seeds, seed=seed, model_init=make_model, compute_metrics=compute_metrics,
                     train_dataset=encoded["train"], eval_dataset=encoded["validation"], data_collator=data_collator,
                     tokenizer=tokenizer, model_name=str(model_checkpoint))
print(hs.verdict(recheck))
recheck

# %%
hs.recheck_figure(recheck).savefig(output_dir / "recheck.png", bbox_inches="tight")

# %% [markdown]
# ## The result
#
# The winner's first-seed model (the recipe's, when nothing beat it) is copied to `output_dir/best-model` with its
# `metrics.json` and a model card (with LoRA: the merged model, and the adapter with its head in `best-adapter/`).
#
# The validation set chose the hyperparameters, so its score is slightly optimistic; for a clean estimate, search
# on part of the training set and keep the rest for scoring, or submit to the GLUE leaderboard.

# %%
record = hs.save_winner(recheck, task, output_dir, study_name=study.study_name)
print(f"best-model: {record['recheck_winner']}'s model from seed {seed}, {task.primary_metric} = "
      f"{record['primary_metric_value']:.4f} (the median over the seeds is in the re-check table above)")
record["metrics"]

# %% [markdown]
# ## Scaling out
#
# A trial only needs to read and write the shared study, so more machines mean more trials per hour. Give every
# worker the same storage and study name: each asks the study for new parameters and writes its results back.
#
# ```bash
# # on each of N machines (or N times on one machine with several GPUs: CUDA_VISIBLE_DEVICES=i)
# python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased \
#     --storage /shared/cola-search.log --study-name cola --n-trials 5 --worker $i
# # then, once: the re-check on the full training set, and the winner saved
# python -m glue_helpers search --task cola --model-checkpoint distilbert-base-uncased \
#     --storage /shared/cola-search.log --study-name cola --retrain-only
# ```
#
# A `.log` path is an Optuna *journal file*: an append-only log that many processes on a shared disk can write
# safely (`glue_helpers` adds a heartbeat to it, so a killed worker's trial is retried). SQLite is fine for one
# process but locks under many writers; for many machines without a shared disk, use a database URL
# (`postgresql://...`). Open this notebook with `storage` and `study_name` set to the same values to see the
# table and the plots of the whole search.
