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
# # Several seeds, and an honest comparison of two recipes
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/glue-notebooks/glue-notebooks/blob/main/notebooks/03_seeds_and_comparison.ipynb)
#
# Notebook 01 trains once, with one seed. On GLUE's small tasks (RTE, MRPC, CoLA, STS-B) that one number is
# not to be trusted far: the same recipe with another seed moves by several points, and now and then a run
# collapses to predicting the majority class ([Dodge et al. 2020](https://arxiv.org/abs/2002.06305);
# [Mosbach et al. 2021](https://arxiv.org/abs/2006.04884)). And a validation set of a few hundred examples is
# itself noisy: one point on RTE is three examples. This notebook shows how to read results that account for both:
#
# 1. run every task with **several seeds** (`python -m glue_helpers batch --seeds ...`);
# 2. read the **per-task summary**: median, mean ± std, min–max, and the **degenerate** runs, flagged;
# 3. **compare two recipes** seed by seed, with a **paired bootstrap interval** of the difference and
#    **McNemar's test**, before saying one is better.
#
# **See a real run first:**
# [docs/executed/03_seeds_and_comparison.ipynb](https://github.com/glue-notebooks/glue-notebooks/blob/main/docs/executed/03_seeds_and_comparison.ipynb)
# is this notebook with the outputs of a real run.
#
# On Colab, the next cell installs `glue_helpers` (keeping Colab's PyTorch). Anywhere else it does nothing.

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
# `batch_a` and `batch_b` are two batch folders made with `--seeds` (the same tasks and seeds, two recipes): A is the
# baseline, B the challenger, and every difference is B − A. Point them at batches of your own; a folder without
# results yet is made here first, with the settings below: notebook 01 on `tasks` (CoLA and MRPC: two classification
# tasks, where McNemar's test applies), a random `max_train_samples` rows of each training set, `num_train_epochs`
# epochs, with the learning rates `learning_rate_a` and `learning_rate_b`, once per seed. That is 12 runs of notebook
# 01, each on 1,000 rows for 3 epochs: 25 minutes with `all-MiniLM-L6-v2` (22.7M parameters) on this project's 2-core
# AMD EPYC CPU, the executed copy (72 s a CoLA run, 160 s an MRPC run, whose texts are pairs). DistilBERT is 3x
# larger; on a GPU, such runs take a fraction of that (not measured here). `smoke = True` runs them on the offline
# kit instead (a tiny model and data, no network).

# %% tags=["parameters"]
batch_a = "runs/nb03-a"  # the baseline: a batch folder made by `batch --seeds ...`, or made here
batch_b = "runs/nb03-b"  # the challenger; differences are B - A
tasks = ["cola", "mrpc"]
seeds = [42, 43, 44]
learning_rate_a = 2e-5
learning_rate_b = 1e-4
max_train_samples = 1000
num_train_epochs = 3
model_checkpoint = "distilbert-base-uncased"
data_dir = None  # None: the Hub; or a local copy of nyu-mll/glue
jobs = 1  # runs at once: one per GPU (or per 2 CPU cores)
smoke = False  # True: the offline kit's tiny model and data (learning rates 1e-3 and 5e-3: it needs large steps)
resamples = 1000  # bootstrap resamples for the intervals

# %% [markdown]
# ## 1. Several seeds per task
#
# `batch --seeds 42 43 44` runs notebook 01 once per task and seed, each in its own folder
# (`<out>/<task>/seed-<n>/`), and gathers them into `results.csv` (one row per run), `results_summary.csv` (one
# row per task) and a chart. Killed or failed runs are redone by running the same command again, finished ones are
# kept, and adding a seed runs only that seed; a folder that holds a batch run with other parameters (a smoke run,
# say) is refused rather than read as this one. The next cell runs each command (the B side changes one thing, the
# learning rate) and prints it and its report: a line per run, then the median and spread per task.

# %%
from pathlib import Path

if smoke:  # the tiny model learns only with large steps
    learning_rate_a, learning_rate_b = 1e-3, 5e-3
batch_a, batch_b = Path(batch_a), Path(batch_b)
for out, learning_rate in ((batch_a, learning_rate_a), (batch_b, learning_rate_b)):
    command = ["batch", "--out", str(out), "--tasks", *tasks, "--seeds", *map(str, seeds), "--jobs", str(jobs),
               "--no-progress",
               "-p", "learning_rate", str(learning_rate), "-p", "num_train_epochs", str(num_train_epochs),
               "-p", "max_train_samples", str(max_train_samples), "-p", "write_leaderboard", "False",
               *(["-p", "smoke", "True"] if smoke else ["-p", "model_checkpoint", model_checkpoint]),
               *(["-p", "data_dir", str(data_dir)] if data_dir and not smoke else [])]
    print("$ python -m glue_helpers", " ".join(command))
    with subprocess.Popen([sys.executable, "-m", "glue_helpers", *command], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as p:
        for line in p.stdout:  # the batch's report (and errors), as it comes
            print(line, end="")
    if p.returncode:
        raise RuntimeError(f"the batch for {out} failed (exit {p.returncode}): its output above, and each run's "
                           "run.log, say why. (A folder of another batch run: choose another batch_a / batch_b.)")

# %% [markdown]
# ## 2. One batch, task by task
#
# `results_summary.csv` has one row per task, on its primary metric × 100: how many seeds finished, how many of
# them are **degenerate** (no better than always answering the majority class, Mosbach et al.'s definition of a
# failed run; for STS-B, Pearson ≤ 0.1), the median, mean ± std and min–max over seeds, and the same without the
# degenerate runs (`ok_*`). Report the median with its spread, and say how many runs failed: a mean that hides a
# collapsed seed is neither the recipe's typical score nor its best.

# %%
import pandas as pd


def in_points(frame, columns):
    """The scores among `columns` x 100 (the summary's unit: points of the metric), so named."""
    return frame.assign(**{c: 100 * frame[c] for c in columns}).rename(columns={c: f"{c} (x100)" for c in columns})


summary_a = pd.read_csv(batch_a / "results_summary.csv")  # already x 100
summary_a[["task", "metric", "seeds", "degenerate", "median", "mean", "std", "min", "max", "ok_median",
           "model_ref"]].round(2).rename(columns=lambda c: f"{c} (x100)" if c in (
               "median", "mean", "std", "min", "max", "ok_median", "model_ref") else c)

# %% [markdown]
# The chart shows every seed as a point (a degenerate one as a red cross) over the median's bar, with DistilBERT's
# published dev score as a yardstick (and the model's own published score where one is known, `model_ref`):

# %%
from IPython.display import Image, display

display(Image(filename=str(batch_a / "results.png")))

# %% [markdown]
# Each run also carries its own **bootstrap interval**: the validation examples resampled with replacement 1000
# times, the metric recomputed each time, the middle 95% kept. It says how far the score could move on another
# validation set of the same size; the spread over seeds is a second, separate source of noise.

# %%
runs_a = pd.read_csv(batch_a / "results.csv")
in_points(runs_a[["run", "primary_metric", "primary_value", "ci_low", "ci_high", "majority_baseline", "degenerate"]],
          ["primary_value", "ci_low", "ci_high", "majority_baseline"]).round(2)

# %% [markdown]
# ## 3. Is B better than A?
#
# Seed by seed, B's score minus A's: is that difference more than the noise of a validation set this size? A
# **paired bootstrap** answers it. Resample the validation rows with replacement, score every run of A and of B on
# *the same* resampled rows (so what both get right or wrong together cancels out), and take the difference of the
# medians over seeds; repeat `resamples` times, and the middle 95% of those differences is the interval. Here it is
# in numpy, for the first task, from the predictions each run saved (`validation_predictions.jsonl`):

# %%
import numpy as np
from sklearn.metrics import accuracy_score, matthews_corrcoef

runs_b = pd.read_csv(batch_b / "results.csv")
task = runs_a["task"].iloc[0]
metric = runs_a.loc[runs_a["task"] == task, "primary_metric"].iloc[0]
score = {"matthews_correlation": matthews_corrcoef, "accuracy": accuracy_score,
         "pearson": lambda y, p: np.corrcoef(y, p)[0, 1]}[metric]  # GLUE's primary metrics
pairs = sorted(set(runs_a.loc[runs_a["task"] == task, "seed"]) & set(runs_b.loc[runs_b["task"] == task, "seed"]))


def predictions(batch):
    """The task's validation labels, and each paired seed's predictions (a row per seed)."""
    runs = [pd.read_json(batch / task / f"seed-{s}" / "validation_predictions.jsonl", lines=True) for s in pairs]
    return runs[0]["label"].to_numpy(), np.stack([run["prediction"].to_numpy() for run in runs])


labels, predictions_a = predictions(batch_a)
_, predictions_b = predictions(batch_b)
rng = np.random.default_rng(0)
differences = []
for _ in range(resamples):
    rows = rng.integers(0, len(labels), len(labels))  # one resample of the validation rows, for A and B alike
    median_a = np.median([score(labels[rows], p[rows]) for p in predictions_a])
    median_b = np.median([score(labels[rows], p[rows]) for p in predictions_b])
    differences.append(median_b - median_a)
low, high = np.percentile(differences, [2.5, 97.5])
observed = np.median([score(labels, p) for p in predictions_b]) - np.median([score(labels, p) for p in predictions_a])
print(f"{task}, {metric}, seeds {pairs}: B - A = {observed:+.4f}, 95% paired bootstrap interval "
      f"[{low:+.4f}, {high:+.4f}]")

# %% [markdown]
# `compare_runs` does the same for every task both batches ran (with its own random draws, so the interval's last
# digit can differ), after checking that every run scored the same validation rows. For each task it reports the
# medians, the difference B − A with that interval, the spread of the per-seed differences, the degenerate runs of
# each side, and, for classification, **McNemar's test**: on the examples where A and B disagree, is one right
# more often than chance allows (`mcnemar_p`: the median of the seeds' p-values; `mcnemar_significant` counts the
# seeds with p < 0.05). The
# same table comes from `python -m glue_helpers compare A B` ([how to read it](https://github.com/glue-notebooks/glue-notebooks/blob/main/docs/compare.md)).

# %%
from glue_helpers.batch.compare import compare_runs, notes

comparison = compare_runs(batch_a, batch_b, n_resamples=resamples)
for line in notes(comparison):
    print(line)
in_points(comparison[["task", "metric", "pairs", "score_a", "score_b", "diff", "ci_low", "ci_high", "verdict",
                      "pair_diff_min", "pair_diff_max", "degenerate_a", "degenerate_b", "mcnemar_p",
                      "mcnemar_significant"]],
          ["score_a", "score_b", "diff", "ci_low", "ci_high", "pair_diff_min", "pair_diff_max"]).round(3)

# %% [markdown]
# The `verdict` follows the project's one rule for "better" (the same in notebook 02's re-check and `compare`):
# **B better** when B scored higher on every seed (`pair_diff_min` > 0) *and* the interval lies above zero; "A
# better" is the mirror image; anything else is "no clear difference": the interval contains 0, or some seeds
# favour A and others B. A side whose runs all collapsed (`degenerate_a` or `degenerate_b` equal to `pairs`) makes
# any verdict about the other side's *learning*, not about a better recipe: the notes above say so for such a task.
# The picture puts both kinds of noise side by side: each seed's difference as a point, and the bootstrap interval
# of the median difference as a bar.

# %%
import matplotlib.pyplot as plt

paired = runs_a.merge(runs_b, on=["task", "seed"], suffixes=("_a", "_b"))
paired = paired[(paired["status_a"] == "succeeded") & (paired["status_b"] == "succeeded")]
fig, ax = plt.subplots(figsize=(max(4, 1.5 * len(comparison)), 3.5))
for i, row in enumerate(comparison.itertuples()):
    seeds = paired[paired["task"] == row.task]
    ax.scatter([i] * len(seeds), 100 * (seeds["primary_value_b"] - seeds["primary_value_a"]), color="#08519c",
               zorder=3, label="one seed: B - A" if i == 0 else None)
    ax.errorbar(i + 0.15, 100 * row.diff, yerr=[[100 * (row.diff - row.ci_low)], [100 * (row.ci_high - row.diff)]],
                fmt="s", color="#cb181d", capsize=4, label="median diff, 95% bootstrap" if i == 0 else None)
ax.axhline(0, color="grey", lw=0.8)
ax.set_xticks(range(len(comparison)), comparison["task"])
ax.set_ylabel("B - A (primary metric x100)")
ax.legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What to take away
#
# * One seed is an anecdote on the small GLUE tasks: run three or more and report the median and the spread.
# * A collapsed run is a failure of the optimization, not a score: count it, and look at the figures without it. When
#   one side collapsed on every seed, "B better" only says that B learned the task at all.
# * A difference is worth reporting when its paired interval excludes 0 **and** the per-seed differences agree in
#   sign; otherwise it is within the noise of a validation set that size.
# * Everything here reads the files a batch leaves (`results*.csv`, `metrics.json`, `validation_predictions.jsonl`),
#   so it works the same on batches run on another machine or a cluster.
