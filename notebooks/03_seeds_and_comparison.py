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
# [docs/executed/03_seeds_and_comparison.ipynb](../docs/executed/03_seeds_and_comparison.ipynb) is this notebook
# with the outputs of a real run.
#
# On Colab, the next cell installs `glue_helpers` (keeping Colab's PyTorch). Anywhere else it does nothing.

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
# `batch_a` and `batch_b` are two batch folders made with `--seeds` (the same tasks and seeds, two recipes):
# A is the baseline, B the challenger, and every difference is B − A. With `smoke = True` the notebook first makes
# two tiny batches itself with the offline kit (a tiny model and data, no network), which is how CI checks it.

# %% tags=["parameters"]
batch_a = None  # a batch folder made by `python -m glue_helpers batch --seeds ...`: the baseline
batch_b = None  # the challenger; differences are B - A
smoke = False  # True: make two tiny batches with the offline kit first (seconds, no network)
resamples = 1000  # bootstrap resamples for the intervals

# %% [markdown]
# ## 1. Several seeds per task
#
# `batch --seeds 42 43 44` runs notebook 01 once per task and seed, each in its own folder
# (`<out>/<task>/seed-<n>/`), and gathers them into `results.csv` (one row per run), `results_summary.csv` (one
# row per task) and a chart. Killed or failed runs are redone by running the same command again; adding a seed
# runs only that seed. A real pair of batches for this notebook looks like this (the B side changes one thing):
#
# ```bash
# python -m glue_helpers batch --out runs/lr2e-5 --tasks rte mrpc stsb --seeds 42 43 44 \
#     -p model_checkpoint distilbert-base-uncased -p num_train_epochs 3
# python -m glue_helpers batch --out runs/lr3e-5 --tasks rte mrpc stsb --seeds 42 43 44 \
#     -p model_checkpoint distilbert-base-uncased -p num_train_epochs 3 -p learning_rate 3e-5
# ```
#
# In smoke mode the next cell runs two such batches on the offline kit (SST-2, two seeds, learning rates 2e-5 and
# 1e-4), so the rest of the notebook has something to read.

# %%
from pathlib import Path

if smoke and batch_a is None and batch_b is None:
    batch_a, batch_b = "runs/nb03-smoke-a", "runs/nb03-smoke-b"
    for out, learning_rate in ((batch_a, "2e-5"), (batch_b, "1e-4")):
        subprocess.run([sys.executable, "-m", "glue_helpers", "batch", "--out", out, "--tasks", "sst2",
                        "--seeds", "1", "2", "--jobs", "2", "--no-progress", "-p", "smoke", "True",
                        "-p", "num_train_epochs", "1", "-p", "write_leaderboard", "False",
                        "-p", "learning_rate", learning_rate], check=True)
if batch_a is None or batch_b is None:
    raise ValueError("Set batch_a and batch_b to two batch folders made with --seeds, or smoke=True.")
batch_a, batch_b = Path(batch_a), Path(batch_b)
for folder in (batch_a, batch_b):
    if not (folder / "results.csv").is_file():
        raise FileNotFoundError(f"{folder / 'results.csv'} is missing: pass a folder made by `python -m glue_helpers "
                                f"batch --out {folder} --seeds ...` (or gather one with --report-only).")

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

summary_a = pd.read_csv(batch_a / "results_summary.csv")
summary_a[["task", "metric", "seeds", "degenerate", "median", "mean", "std", "min", "max", "ok_median",
           "model_ref"]].round(2)

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
runs_a[["run", "primary_metric", "primary_value", "ci_low", "ci_high", "majority_baseline", "degenerate"]].round(4)

# %% [markdown]
# ## 3. Is B better than A?
#
# `compare_runs` pairs the two batches task by task and seed by seed (the same seed on both sides), checks that
# every run scored the same validation rows, and for each task reports the medians, the difference B − A with a
# **paired bootstrap** 95% interval (the same resampled examples for A and B, so what both get right or wrong
# together cancels out), the spread of the per-seed differences, the degenerate runs of each side, and, for
# classification, **McNemar's test** on the examples where the two disagree. The same table comes from
# `python -m glue_helpers compare A B` ([how to read it](../docs/compare.md)).

# %%
from glue_helpers.batch.compare import compare_runs, notes

comparison = compare_runs(batch_a, batch_b, n_resamples=resamples)
for line in notes(comparison):
    print(line)
comparison[["task", "metric", "pairs", "score_a", "score_b", "diff", "ci_low", "ci_high", "verdict",
            "pair_diff_min", "pair_diff_max", "degenerate_a", "degenerate_b", "mcnemar_p",
            "mcnemar_significant"]].round(4)

# %% [markdown]
# The `verdict` follows the project's one rule for "better" (the same in notebook 02's re-check and `compare`):
# **B better** when B scored higher on every seed (`pair_diff_min` > 0) *and* the interval lies above zero; "A
# better" is the mirror image; anything else is "no clear difference": the interval contains 0, or some seeds
# favour A and others B. The picture puts both kinds of noise side by side: each seed's difference as a point, and
# the bootstrap interval of the median difference as a bar.

# %%
import matplotlib.pyplot as plt

runs_b = pd.read_csv(batch_b / "results.csv")
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
# * A collapsed run is a failure of the optimization, not a score: count it, and look at the figures without it.
# * A difference is worth reporting when its paired interval excludes 0 **and** the per-seed differences agree in
#   sign; otherwise it is within the noise of a validation set that size.
# * Everything here reads the files a batch leaves (`results*.csv`, `metrics.json`, `validation_predictions.jsonl`),
#   so it works the same on batches run on another machine or a cluster.
