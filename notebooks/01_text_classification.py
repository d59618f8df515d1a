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
# # Fine-tuning a model on a GLUE task
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/glue-notebooks/glue-notebooks/blob/main/notebooks/01_text_classification.ipynb)
#
# This notebook fine-tunes a 🤗 Transformers model on one task of the
# [GLUE benchmark](https://gluebenchmark.com/): load the data, look at it, tokenize it, train with
# `Trainer`, evaluate, and use the result. The logic lives in the small, tested `glue_helpers` package;
# the cells here show the recipe step by step.
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
# Change these to pick a task and a model. With papermill, set them from the command line, e.g.
# `papermill notebooks/01_text_classification.ipynb out.ipynb -p task mrpc -p num_train_epochs 3`.
#
# * `task`: one of cola, mnli, mnli-mm, mrpc, qnli, qqp, rte, sst2, stsb, wnli; or the path of a custom task's
#   YAML file; or, with `train_file` set, the name of your own task (see "Your own data" in the README).
# * `model_checkpoint`: a Hub id or a local folder written by `save_pretrained`.
# * `data_dir`: `None` downloads `nyu-mll/glue` from the Hub; a folder in the same layout works offline.
# * `smoke`: `True` swaps in the offline kit (a tiny random model and tiny synthetic data for the task),
#   to check the whole notebook in seconds without the Hub. Its scores mean nothing.
# * `max_train_samples`, `max_eval_samples`: a deterministic random subset, for quick runs.
# * `precision`: `"auto"` (bf16 or fp16 where the hardware computes it natively, else fp32), `"fp32"`, `"bf16"`
#   or `"fp16"` (GPU only).
# * `example_sentence`: what to classify at the end (a list of two texts for pair tasks); `None` takes a
#   validation example.

# %% tags=["parameters"]
task = "cola"
model_checkpoint = "distilbert-base-uncased"
batch_size = 16
learning_rate = 2e-5
num_train_epochs = 5
max_train_samples = None
max_eval_samples = None
data_dir = None
output_dir = None
seed = 42
precision = "auto"
smoke = False
example_sentence = None
push_to_hub = False
hub_model_id = None
# Your own data instead of GLUE (CSV/TSV, JSON lines or parquet): set train_file (and task to a name for it).
train_file = None
validation_file = None
test_file = None
text_columns = "text"
label_column = "label"
label_names = None
regression = False

# %%
from pathlib import Path

import glue_helpers as gh

task_info = gh.resolve_task(task, train_file=train_file, validation_file=validation_file, test_file=test_file,
                            text_columns=text_columns, label_column=label_column, label_names=label_names,
                            regression=regression)
if smoke:
    kit = gh.ensure_kit()
    data_dir, model_checkpoint = kit.data_dir, kit.model_dir
precision = gh.resolve_precision(precision)
output_dir = Path(output_dir or f"runs/{task_info.name}")
output_dir.mkdir(parents=True, exist_ok=True)
print(f"{task_info.name}: {task_info.description}\nmodel: {model_checkpoint}\noutputs: {output_dir}\n"
      f"precision: {precision}")

# %% [markdown]
# ## Loading the data
#
# GLUE has nine datasets; MNLI is evaluated twice, on genres seen in training (`mnli`, the
# `validation_matched` split) and unseen ones (`mnli-mm`, `validation_mismatched`), hence ten task configs.
# `load_glue` returns the three splits we need under the names `train`, `validation` and `test`.

# %%
raw = gh.load_glue(task_info, data_dir, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                   seed=seed)
raw

# %% [markdown]
# Test labels are hidden (`-1`): GLUE scores the test set only on its leaderboard. So we train on `train`
# and measure on `validation`. Let's look at a few random training examples, with label names instead of ids:

# %%
gh.show_random_elements(raw["train"], num_examples=min(5, len(raw["train"])), seed=seed)

# %% [markdown]
# How balanced are the labels, and how long are the texts? A skewed label distribution is why CoLA is scored
# with the Matthews correlation rather than accuracy.

# %%
gh.summarize_split(raw["train"], task_info)

# %% [markdown]
# ## The metric
#
# Each task has its official metric: Matthews correlation for CoLA, Pearson and Spearman correlations for
# STS-B, accuracy and F1 for MRPC and QQP, accuracy for the rest (custom tasks: accuracy and macro F1, or
# Pearson/Spearman for a score). `glue_helpers` computes them locally, so no Hub download is needed; the same
# GLUE metric is also an `evaluate` module, `gh.load_glue_metric(task)`. Here it is on made-up predictions:

# %%
fake_refs = raw["validation"]["label"][:8]
gh.glue_metric(task_info, predictions=fake_refs[::-1], references=fake_refs)

# %% [markdown]
# ## Preprocessing the data
#
# The model reads token ids, not text. We load the tokenizer that matches the checkpoint, so words are
# split exactly as during pre-training. Pair tasks pass both texts: the tokenizer joins them with a
# separator token.

# %%
tokenizer = gh.load_tokenizer(model_checkpoint)
first = raw["train"][0]
tokenizer(*[first[c] for c in task_info.text_columns])

# %% [markdown]
# We tokenize every split once with `Dataset.map` (batched, fast, cached on disk), truncating to the
# model's maximum length. We don't pad here: the data collator pads each batch to its own longest example
# (dynamic padding), which wastes far less compute than padding everything to 512 tokens.

# %%
encoded = gh.tokenize_dataset(raw, task_info, tokenizer)
encoded

# %% [markdown]
# ## Fine-tuning the model
#
# The pre-trained body is reused; a new classification head with one output per label (one output for the
# STS-B regression) is initialised at random. We give the model the label names, so the saved model
# predicts "acceptable" rather than "LABEL_1".

# %%
gh.set_seed(seed)
model = gh.load_model(model_checkpoint, task_info)
model.config.id2label

# %% [markdown]
# The training arguments follow the classic recipe: learning rate 2e-5, batch size 16, 5 epochs, weight
# decay 0.01, evaluate and save every epoch, and keep the best epoch by the task's metric at the end.
# `precision="auto"` picks mixed precision for your hardware: bf16 on recent GPUs and on CPUs that compute it
# natively (AVX512-BF16 or AMX), fp16 on older GPUs such as Colab's T4, fp32 elsewhere. It speeds training up
# without changing the dev metric measurably (`bench/README.md`); `-p precision fp32` gives the same numbers on
# every machine. Only a couple of checkpoints are kept on disk, without optimizer state (we keep the best model,
# we don't resume). On a GPU, evaluation uses 4x larger batches: no gradients, so memory allows it.

# %% [markdown]
# `GlueTrainer` is 🤗's `Trainer` with one speed-up that costs no measurable accuracy: each training batch holds
# examples of similar length, so dynamic padding adds few pad tokens (GLUE sentences vary from 3 to 100+ tokens),
# and the batches still come in random order. Evaluation runs longest-first and predictions come back in dataset
# order. `bench/` measures the gain.

# %%
args = gh.training_arguments(task_info, str(output_dir / "checkpoints"), learning_rate=learning_rate,
                             batch_size=batch_size, num_train_epochs=num_train_epochs, seed=seed,
                             precision=precision)
print(f"best model by: {args.metric_for_best_model}; precision: {gh.precision_name(args)}")

# %%
trainer = gh.GlueTrainer(
    model=model,
    args=args,
    train_dataset=encoded["train"],
    eval_dataset=encoded["validation"],
    processing_class=tokenizer,
    data_collator=gh.make_data_collator(tokenizer),
    compute_metrics=gh.make_compute_metrics(task_info),
)
train_result = trainer.train()

# %% [markdown]
# ## Evaluating
#
# Because of `load_best_model_at_end`, the trainer now holds the best epoch's weights, not the last.

# %%
eval_metrics = trainer.evaluate()
eval_metrics

# %% [markdown]
# The training curve shows whether more epochs would help (metric still rising) or hurt (validation loss
# going up while training loss falls: over-fitting).

# %%
history = gh.epoch_history(trainer.state.log_history)
gh.plot_training_curve(history, task_info.primary_metric).savefig(output_dir / "training_curve.png")
history

# %% [markdown]
# Where does the model go wrong? For classification, the confusion matrix; for STS-B, predicted against
# gold scores.

# %%
val = trainer.predict(encoded["validation"])
val_pred = gh.logits_to_predictions(task_info, val.predictions)
gh.plot_predictions(task_info, val.label_ids, val_pred).savefig(output_dir / "validation_predictions.png")

# %% [markdown]
# ## Saving the results
#
# We save the best model with its tokenizer, a model card, and `metrics.json`: the numbers, how fast
# training ran, and the library versions, so the run can be compared and reproduced.

# %%
record = gh.metrics_record(task_info, model_checkpoint, eval_metrics, train_result.metrics,
                           num_train_epochs=num_train_epochs, seed=seed, device=gh.device_name(),
                           precision=gh.precision_name(args),
                           learning_rate=learning_rate, batch_size=batch_size, data_dir=data_dir, smoke=smoke,
                           max_train_samples=max_train_samples, max_eval_samples=max_eval_samples)
trainer.save_model(str(output_dir / "model"))
gh.write_model_card(output_dir / "model", record, task_info)
gh.write_json(output_dir / "metrics.json", record)
record["metrics"]

# %% [markdown]
# ## Using the fine-tuned model
#
# The saved folder loads like any model on the Hub. A `pipeline` tokenizes, runs the model and turns the
# output into a label name and a probability (a raw similarity score for STS-B).

# %%
classifier = gh.make_classifier(output_dir / "model", task_info)
classifier(gh.example_input(task_info, example_sentence, raw["validation"][0]))

# %% [markdown]
# ## GLUE leaderboard files
#
# Test labels are hidden, so test scores come only from the [GLUE leaderboard](https://gluebenchmark.com/).
# This writes the file it expects for this task into `output_dir/leaderboard/` (e.g. `CoLA.tsv`; for `mnli`
# also `AX.tsv`, the diagnostic set): one `index<TAB>prediction` row per test example. Zip the 11 files of all
# tasks together to submit; `python -m glue_helpers batch` does that for you (`glue_submission.zip`).
# For your own data, the test file's predictions (label names, or scores) go to `test_predictions.csv`.

# %%
from glue_helpers.submission import write_leaderboard_files

if task_info.is_custom:
    gh.write_test_predictions(trainer, encoded, task_info, raw, output_dir / "test_predictions.csv")
else:
    write_leaderboard_files(trainer, tokenizer, task, data_dir, output_dir, test_dataset=raw["test"])

# %% [markdown]
# ## Sharing
#
# To put the model on the Hub, log in (`huggingface-cli login` or `notebook_login()`), then run with
# `push_to_hub=True` and `hub_model_id="your-name/your-model"`. The model card written above goes with it.

# %%
if push_to_hub:
    if not hub_model_id:
        raise gh.GlueHelpersError("push_to_hub=True needs hub_model_id, e.g. 'your-name/distilbert-cola'.")
    trainer.model.push_to_hub(hub_model_id)
    tokenizer.push_to_hub(hub_model_id)
