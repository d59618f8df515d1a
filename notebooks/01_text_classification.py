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
# This notebook fine-tunes a pretrained 🤗 Transformers model on one task of the
# [GLUE benchmark](https://gluebenchmark.com/), step by step: load the data with 🤗 Datasets, tokenize it,
# load a model with a fresh classification head, train it with `Trainer`, evaluate it, and use it with a
# `pipeline`. Every call of that recipe is written in the cells below. The small, tested `glue_helpers` package
# (imported as `gh`) does the rest: checking your inputs, plots, the files a run leaves behind.
#
# **See a real run first:** [docs/executed/01_text_classification.ipynb](https://github.com/glue-notebooks/glue-notebooks/blob/main/docs/executed/01_text_classification.ipynb)
# is this notebook with the outputs of a real run (real GLUE data, a real pretrained model, every cell executed).
#
# On Colab, the next cell installs `glue_helpers` and whatever else is missing (it keeps Colab's own CUDA build
# of PyTorch), and says so if you must restart the session. Anywhere else it does nothing: install with the
# README's command.

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
# The lesson's knobs come first: the task, the model, the batch size, the learning rate, the number of epochs and
# the seed. The GLUE tasks are cola, mnli, mnli-mm, mrpc, qnli, qqp, rte, sst2, stsb and wnli (the next section says
# what each asks); `model_checkpoint` is any model on the [Hub](https://huggingface.co/models) or a local folder
# written by `save_pretrained`. Below them are the settings you rarely change: the data source, subsets, precision,
# tracking, LoRA, your own data, leaderboard files and sharing, each explained in
# [docs/parameters.md](https://github.com/glue-notebooks/glue-notebooks/blob/main/docs/parameters.md).
# papermill sets any of them: `papermill ... -p task mrpc -p num_train_epochs 3 -p peft lora`.

# %% tags=["parameters"]
task = "cola"
model_checkpoint = "distilbert-base-uncased"
batch_size = 16
learning_rate = 2e-5
num_train_epochs = 5
seed = 42
max_train_samples = None  # a random subset of the training set, for a quick run
output_dir = None  # None: a new folder for each run, runs/<task>-<date>-<time>

# --- settings you rarely change (docs/parameters.md) ---
overwrite = False  # True: replace the run in an output_dir you named, once this one has finished
data_dir = None  # None: the Hub; or a local copy of nyu-mll/glue
max_eval_samples = None  # a random subset of the validation set
weight_decay = 0.01  # AdamW's weight decay, a mild regularizer
warmup_ratio = 0.0  # the share of training steps that warm the learning rate up from 0
precision = "auto"  # "auto", "fp32", "bf16" or "fp16"
report_to = "none"  # or "tensorboard", "trackio", "wandb", "mlflow": watch the run, offline, in its tracking/ folder
peft = None  # None: train every weight; "lora": LoRA adapters and the head only (see "LoRA" below)
lora_r = 8  # the adapters' rank
lora_alpha = 16  # the adapters' update is scaled by lora_alpha / lora_r
lora_dropout = 0.1
lora_target_modules = None  # None: the attention projections of the architecture
smoke = False  # True: the offline kit's tiny model and data (no Hub; the scores mean nothing)
example_sentence = None  # what to classify at the end (a list of two texts for pair tasks)
write_leaderboard = True  # GLUE test-set predictions for the leaderboard (long for QQP and MNLI on a CPU)
push_to_hub = False
hub_model_id = None
# your own data instead of GLUE (notebook 04 teaches it; docs/custom_data.md)
train_file = None
validation_file = None
test_file = None
text_columns = "text"
label_column = "label"
label_names = None
regression = False
drop_empty = False  # True skips rows with an empty text or label (else an error names them)

# %% [markdown]
# Before any download, one call checks every parameter above and everything the run reads (the model, the data and
# its splits, whether the Hub is reachable for what needs it), looks the task up in the task registry, and claims
# the output folder, so that a typo fails here and not after half an hour of training. Each run gets a new folder;
# a folder you name is refused if it holds another run, unless `overwrite=True`. The folder stays locked while this
# notebook's kernel runs, and the run writes into its `unfinished/` sub-folder until it has finished: only then do
# its files replace an earlier run's, so a run that fails or is interrupted leaves the earlier one as it was.

# %%
import numpy as np

import glue_helpers as gh

task, model_checkpoint, data_dir, precision, report_to, run_dir = gh.check_inputs(globals())
print(f"{task.name}: {task.description}\nmodel: {model_checkpoint}\noutputs: {run_dir.root}")

# %% [markdown]
# From here on, `task` is the task's record. It holds what the original notebook spells out for each task in its
# own cells: the text columns to read (its `task_to_keys`), the labels (their number is `num_labels`, 1 for STS-B's
# score), the metric that picks the best epoch (`metric_name`) and the validation split (`validation_matched` for
# MNLI, `validation_mismatched` for MNLI-mm).

# %%
print(f"text columns (task_to_keys): {task.text_columns}")
print(f"labels: {list(task.label_names) or 'a similarity score from 0 to 5'} -> num_labels = {task.num_labels}")
print(f"metrics: {list(task.metric_names)}; the best epoch is chosen by (metric_name): {task.primary_metric}")
print(f"validation split: {task.validation_split}")

# %% [markdown]
# Training is much faster on a GPU, which the `Trainer` uses by itself when PyTorch sees one. On Colab, pick one
# with *Runtime > Change runtime type > T4 GPU* (this restarts the notebook). On a CPU, `max_train_samples`
# makes a quick run.

# %%
import torch

device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
print("device:", torch.cuda.get_device_name(0) if device == "cuda" else device)

# %% [markdown]
# ### What to expect
#
# The metric, the published dev score to aim for and whose it is (DistilBERT's, the default model's, unless the
# model running here has one of its own), and one measured training speed, to size the run: a GPU makes short work
# of the small tasks, while on a CPU the large ones (MNLI, QQP, QNLI, SST-2) take hours per epoch.

# %%
print(gh.what_to_expect(task, model_checkpoint))

# %% [markdown]
# ## Loading the data
#
# GLUE lives on the Hub as the dataset [`nyu-mll/glue`](https://huggingface.co/datasets/nyu-mll/glue), one
# configuration per task. `load_dataset` downloads and caches it. A local copy of the same repository reads the
# same parquet files without the Hub. (MNLI has one configuration for two tasks: `mnli` is scored on genres seen
# in training, `mnli-mm` on unseen ones.)

# %%
from datasets import load_dataset

if task.is_custom:  # your own files, read and checked by glue_helpers
    raw_datasets = gh.load_source(task, seed=seed)
elif data_dir is None:
    raw_datasets = load_dataset("nyu-mll/glue", task.hub_config)
else:
    raw_datasets = load_dataset("parquet", data_files=gh.local_split_files(task, data_dir))
raw_datasets

# %% [markdown]
# A `DatasetDict` of splits. Test labels are hidden (`-1`): GLUE scores the test set only on its leaderboard, so
# we train on `train` and measure on the validation split. We keep the three splits we need under the names
# `train`, `validation` and `test` (MNLI's is `validation_matched` or `validation_mismatched`), and draw a
# random subset if you asked for one:

# %%
raw = gh.glue_splits(raw_datasets, task, max_train_samples=max_train_samples,
                     max_eval_samples=max_eval_samples, seed=seed)
raw["train"][0]

# %% [markdown]
# One example is a dict: the text column(s), the label as an integer id, and `idx`. The `label` feature knows
# the class names (STS-B's label is a similarity score from 0 to 5 instead):

# %%
raw["train"].features["label"]

# %% [markdown]
# A few random training examples, with label names instead of ids:

# %%
gh.show_random_elements(raw["train"], num_examples=min(5, len(raw["train"])), seed=seed)

# %% [markdown]
# How balanced are the labels, and how long are the texts? A skewed label distribution is why CoLA is scored
# with the Matthews correlation rather than accuracy.

# %%
gh.summarize_split(raw["train"], task)

# %% [markdown]
# ## The metric
#
# Each GLUE task has an official metric: the Matthews correlation for CoLA, the Pearson and Spearman correlations
# for STS-B, accuracy and F1 for MRPC and QQP, accuracy for the rest. 🤗 Evaluate loads it as a module
# (`evaluate.load("glue", "cola")` fetches it from the Hub; `glue_helpers` ships the same module, so this works
# offline). Here it is on made-up predictions: the true labels in reverse order.

# %%
import evaluate

if task.is_custom:  # your own data: accuracy and macro F1 (or the correlations), same interface
    metric = gh.TaskMetric(task)
else:
    metric = evaluate.load(gh.GLUE_METRIC_PATH, task.hub_config)
fake_references = raw["validation"]["label"][:8]
metric.compute(predictions=fake_references[::-1], references=fake_references)

# %% [markdown]
# Reversed labels are mostly wrong, so the score is low (for the Matthews correlation, 0 means no better than a
# constant guess and negative means worse).
#
# ## Preprocessing the data
#
# The model reads token ids, not text. `AutoTokenizer.from_pretrained` loads the tokenizer that was used to
# pretrain the checkpoint, so words are split into the same vocabulary pieces the model knows.

# %%
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(model_checkpoint)
tokenizer("Hello, this one sentence!")

# %% [markdown]
# `input_ids` are the token ids; `attention_mask` marks real tokens (1) against padding (0), which will matter
# once we batch texts of different lengths. Pair tasks (MRPC, STS-B, RTE, ...) pass two texts: the tokenizer
# joins them with a separator token, and BERT-style tokenizers also return `token_type_ids` (0 for the first
# text, 1 for the second).

# %%
pair = tokenizer("Hello, this one sentence!", "Tokenizers split rare words into pieces.")
print(pair)
tokenizer.convert_ids_to_tokens(pair["input_ids"])

# %% [markdown]
# The tokens show the special tokens the model expects (`[CLS]` first, `[SEP]` between and after the texts, for
# BERT-style models) and words split into sub-word pieces (`##...`).
#
# This task reads these text columns:

# %%
sentence1_key, sentence2_key = (*task.text_columns, None)[:2]
print(f"first text: {sentence1_key!r}, second text: {sentence2_key!r}")

# %% [markdown]
# `preprocess_function` tokenizes a batch of examples. `truncation=True` cuts texts longer than the model can
# read (512 tokens for BERT-style models; `gh.max_length_for` reads it from the tokenizer, with 512 when the
# tokenizer doesn't say). We don't pad here: the data collator will pad each batch to its own longest example
# (dynamic padding), which wastes far less compute than padding everything to 512.

# %%
max_length = gh.max_length_for(tokenizer)


def preprocess_function(examples):
    """Token ids (and attention mask) for a batch of examples: one text, or a pair."""
    if sentence2_key is None:
        return tokenizer(examples[sentence1_key], truncation=True, max_length=max_length)
    return tokenizer(examples[sentence1_key], examples[sentence2_key], truncation=True, max_length=max_length)


preprocess_function(raw["train"][:2])

# %% [markdown]
# `Dataset.map` applies it to every split, a batch of rows at a time (`batched=True` lets the fast tokenizer
# work on many texts at once). The result is cached on disk, so running the cell again is instant.

# %%
encoded_dataset = raw.map(preprocess_function, batched=True)
encoded_dataset

# %% [markdown]
# ## Fine-tuning the model
#
# `AutoModelForSequenceClassification` loads the pretrained body and puts a new classification head on top,
# with one output per label (a single output for STS-B's regression). We give it the label names so the saved
# model predicts "acceptable" rather than "LABEL_1". `set_seed` first makes the head's random start reproducible.

# %%
from transformers import AutoModelForSequenceClassification, set_seed

set_seed(seed)
model = AutoModelForSequenceClassification.from_pretrained(
    model_checkpoint, num_labels=task.num_labels, id2label=task.id2label, label2id=task.label2id
)

# %% [markdown]
# Transformers prints a load report: the classifier's weights are MISSING from the checkpoint, so they are newly
# initialised (a checkpoint saved with a pretraining head, like `distilbert-base-uncased`, also lists that head's
# weights as unused). That is expected: the new head starts at random, and training is what teaches it the task.
#
# ### LoRA: training a small part of the model (optional)
#
# With `peft="lora"` the pretrained weights stay frozen. [LoRA](https://arxiv.org/abs/2106.09685) adds to some
# weight matrices (here the attention's query and value projections) a trainable low-rank update: two thin
# matrices of rank `lora_r` whose product, scaled by `lora_alpha / lora_r`, is added to the frozen weight. One of
# them starts at zero, so training starts exactly from the pretrained model. The new classification head (and
# BERT's pooler) has nothing pretrained to keep, so it trains in full; `modules_to_save` also saves it with the
# adapter, else a reloaded model would get a new random head.
#
# Only a small share of the weights trains (often about 1% of a base-sized model), so the optimizer state is
# tiny, the adapter takes a few MB on disk, and a larger model fits on a small GPU. The forward and backward
# passes still run through the whole model, so it is faster only by the weight gradients it skips. Few weights
# that start at zero need larger steps: use a learning rate around `5e-4` instead of full fine-tuning's `2e-5`
# (`-p peft lora -p learning_rate 5e-4`). Use it when memory is short (a large model on a free Colab T4), when
# you keep many fine-tuned versions of one model, or to compare: on GLUE it comes within about a point of full
# fine-tuning on most tasks (the LoRA paper, RoBERTa-base), with enough epochs.
#
# The 🤗 `peft` library does it: `LoraConfig` describes the adapters and `get_peft_model` freezes the model and
# adds them. `gh.lora_target_modules` picks the attention projections by architecture (BERT, DistilBERT,
# RoBERTa, DeBERTa, ELECTRA, MPNet, ALBERT, ...; set `lora_target_modules` for another), and
# `gh.lora_modules_to_save` names the head.

# %%
if peft == "lora":
    from peft import LoraConfig, TaskType, get_peft_model

    lora_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=gh.lora_target_modules(model, lora_target_modules),  # e.g. ["query", "value"] for BERT
        modules_to_save=gh.lora_modules_to_save(model),  # the new head (and pooler): trained in full, saved
    )
    model = get_peft_model(model, lora_config)
    model.print_trainable_parameters()
else:
    print(f"trainable params: {model.num_parameters(only_trainable=True):,} (all of them)")

# %% [markdown]
# `TrainingArguments` holds the recipe. We evaluate and save after every epoch and, at the end, load the
# epoch that scored best on the task's metric (`load_best_model_at_end`, `metric_for_best_model`). Weight decay
# is a mild regularizer. `gh.speed_flags` adds settings that make training faster without changing the recipe,
# printed below: the fastest precision measured for this machine (`bf16`/`fp16`: TF32 on recent GPUs, fp16 on a T4,
# bf16 on CPUs that compute it natively), a larger evaluation batch on GPUs (`per_device_eval_batch_size`), at most
# two checkpoints without optimizer state (`save_total_limit`, `save_only_model`: we keep the best model; we don't
# resume), pinned memory only with a GPU to copy to, `use_cpu` on a machine without one (so that several processes
# under torchrun train together), and the loss averaged per example across processes
# (`average_tokens_across_devices=False`).
#
# `report_to` sends the losses, metrics and hyperparameters to a dashboard as the run goes (`"none"` by default).
# `gh.start_tracking` points the backend at this run's `tracking/` folder, offline, and the run is named after its
# task, model and seed, so runs side by side in one dashboard say what they are.

# %%
from pathlib import Path

from transformers import TrainingArguments

run_name = f"{task.name}-{Path(model_checkpoint).name}-seed{seed}"
if gh.start_tracking(report_to, run_dir.here, run_name):
    print("watch it with:", gh.dashboard_command(report_to, run_dir.root))
speed = gh.speed_flags(precision, batch_size)
args = TrainingArguments(
    output_dir=str(run_dir.checkpoints),
    eval_strategy="epoch",
    save_strategy="epoch",
    logging_strategy="epoch",
    learning_rate=learning_rate,
    per_device_train_batch_size=batch_size,
    num_train_epochs=num_train_epochs,
    weight_decay=weight_decay,
    warmup_steps=warmup_ratio,  # transformers 5: a float below 1 is a share of the training steps
    load_best_model_at_end=True,
    metric_for_best_model=task.primary_metric,
    seed=seed,
    report_to=report_to,
    run_name=run_name,
    **speed,
)
print({key: getattr(args, key) for key in speed})

# %% [markdown]
# Before the `Trainer` takes over, one step by hand: what the model does with a batch. `DataCollatorWithPadding`
# pads a few tokenized validation rows to one length and stacks them into tensors (the label becomes `labels`).
# `model(**batch)` runs the forward pass: with labels in the batch it returns the loss that training will lower,
# and the logits, the model's raw scores. The head is still untrained, so the scores mean nothing yet.

# %%
from transformers import DataCollatorWithPadding

data_collator = DataCollatorWithPadding(tokenizer)
validation = encoded_dataset["validation"]
sample = validation.select(range(min(8, len(validation))))  # a few rows, fewer in a tiny split
columns = [c for c in (*tokenizer.model_input_names, "label") if c in sample.column_names]
batch = data_collator(sample.select_columns(columns).to_list())
print({name: tuple(tensor.shape) for name, tensor in batch.items()})
model.eval()  # no dropout for this look; the Trainer switches to training mode itself
with torch.no_grad():
    outputs = model(**batch)
print("loss:", round(outputs.loss.item(), 4))
outputs.logits

# %% [markdown]
# One row per example and one column per class: the predicted class is the column with the largest logit. For
# STS-B there is one column, the predicted score itself. The `Trainer` calls `compute_metrics` after each
# evaluation with exactly these: the logits and the labels, as numpy arrays.

# %%
def compute_metrics(eval_pred):
    """The task's metric from the model's outputs: the argmax class, or the single score for STS-B."""
    logits, labels = eval_pred
    predictions = logits[:, 0] if task.is_regression else np.argmax(logits, axis=1)
    return metric.compute(predictions=predictions, references=labels)


compute_metrics((outputs.logits.numpy(), batch["labels"].numpy()))

# %% [markdown]
# Now the `Trainer`. `GlueTrainer` is 🤗's `Trainer` with four changes, all for speed or correctness:
#
# * **training batches of similar length**: its sampler shuffles the rows, sorts them by length within groups of
#   about 50 batches, cuts those into batches and shuffles the batches (the longest first, so a memory error shows
#   at once), seeded by `seed`; dynamic padding then adds few pad tokens. The stock `Trainer` samples rows at random.
# * **evaluation longest rows first**, a fixed order with little padding (the stock `Trainer` evaluates in dataset
#   order);
# * **`predict` returns predictions in the dataset's order** whatever order evaluation ran in, so row *k* of the
#   predictions is row *k* of the validation set;
# * **the loss is a per-batch mean** (`model_accepts_loss_kwargs = False`): otherwise the `Trainer` treats a
#   classification head's loss as token-normalized, and multiplies it by the number of processes under DDP.
#
# [bench/README.md](https://github.com/glue-notebooks/glue-notebooks/blob/main/bench/README.md)
# measures the speed-up. `transformers.Trainer` works here too, just slower. `DataCollatorWithPadding` pads each
# batch.

# %%
from glue_helpers import GlueTrainer

trainer = GlueTrainer(
    model=model,
    args=args,
    train_dataset=encoded_dataset["train"],
    eval_dataset=encoded_dataset["validation"],
    processing_class=tokenizer,
    data_collator=data_collator,
    compute_metrics=compute_metrics,
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
# The training curve shows whether more epochs would help (the metric still rising at the last epoch) or hurt (the
# validation loss going up while the training loss falls: over-fitting). Each epoch's row is that epoch's own
# evaluation (the `evaluate()` above scored the best epoch's model again); the line under the table says which of
# the two this run shows.

# %%
history = gh.epoch_history(trainer.state.log_history)
gh.plot_training_curve(history, task.primary_metric).savefig(run_dir / gh.TRAINING_CURVE)
best, lowest = history[task.primary_metric].idxmax(), history["loss"].idxmin()
print(f"best {task.primary_metric} at epoch {best:g} of {history.index.max():g}; validation loss lowest at epoch "
      f"{lowest:g}" + (" and higher after it: over-fitting from there" if lowest < history.index.max() else ""))
history

# %% [markdown]
# Where does the model go wrong? `trainer.predict` returns the logits and labels of every validation example;
# for classification we draw the confusion matrix, for STS-B the predicted against the gold scores.

# %%
validation_output = trainer.predict(encoded_dataset["validation"])
validation_predictions = gh.logits_to_predictions(task, validation_output.predictions)
gh.plot_predictions(task, validation_output.label_ids, validation_predictions).savefig(
    run_dir / gh.VALIDATION_PLOT)

# %% [markdown]
# ## Saving the results
#
# `trainer.save_model` writes the best model and its tokenizer; `from_pretrained` loads that folder like any
# model on the Hub. With LoRA it writes the adapter (with the trained head: a few MB) to `adapter/`, which
# `PeftModel.from_pretrained(base_model, "adapter")` puts back on the base model, and `merge_and_unload` folds
# the adapters into the weights of a copy: a plain model, saved to `model/`, which loads without peft.
#
# `glue_helpers` adds a model card, the validation predictions (one line per example, to compare runs example by
# example) and `metrics.json`: the scores, a bootstrap 95% interval of the main score (how much it could move on
# another validation set of the same size), the score of always predicting the majority class (a run at or below
# it learned nothing), what the run actually used (rows, hyperparameters, precision, LoRA's settings and the
# trainable parameters), how fast it trained, and the library versions. `metrics.json` is written last, so its
# presence means the run finished.

# %%
import copy

if peft == "lora":
    trainer.save_model(str(run_dir.adapter))
    merged = copy.deepcopy(trainer.model).merge_and_unload()  # a copy: trainer.model still predicts below
    merged.save_pretrained(str(run_dir.model))
    tokenizer.save_pretrained(str(run_dir.model))
else:
    trainer.save_model(str(run_dir.model))
record = gh.metrics_record(task, model_checkpoint, eval_metrics, train_result.metrics, args=trainer.args,
                           train_rows=len(raw["train"]), eval_rows=len(raw["validation"]), data_dir=data_dir,
                           smoke=smoke, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                           recipe=gh.Recipe.from_params(globals()).as_record(),  # every knob, as set above
                           **gh.peft_summary(trainer.model))  # peft, LoRA's settings, trainable parameters
rows = gh.prediction_rows(task, raw["validation"], validation_predictions, validation_output.label_ids)
record = gh.write_run_files(run_dir, record, rows, task)
{k: record[k] for k in ("metrics", "primary_metric_ci95", "majority_baseline", "degenerate")}

# %% [markdown]
# ## Using the fine-tuned model
#
# A `pipeline` bundles tokenizer, model and post-processing: it turns the output into a label name and a
# probability. For STS-B we ask for the raw score (`function_to_apply="none"`) instead of a probability.

# %%
from transformers import pipeline

classifier = pipeline("text-classification", model=str(run_dir.model),
                      **({"function_to_apply": "none"} if task.is_regression else {}))
example = gh.example_input(task, example_sentence, raw["validation"][0])
print("classifying:", example)
classifier(example)

# %% [markdown]
# ## GLUE leaderboard files
#
# Test labels are hidden, so test scores come only from the [GLUE leaderboard](https://gluebenchmark.com/).
# This predicts the test split and writes the file the leaderboard expects for this task into
# `leaderboard/` (e.g. `CoLA.tsv`; for `mnli` also `AX.tsv`, the diagnostic set). Zip the files of all tasks to
# submit: `python -m glue_helpers batch` does that for you. For your own data, the test predictions go to
# `test_predictions.csv`. Set `write_leaderboard=False` to skip it: QQP and MNLI have hundreds of thousands of
# test rows, hours on a CPU.

# %%
if write_leaderboard and task.is_custom:
    gh.write_test_predictions(trainer, encoded_dataset, task, raw, run_dir / gh.TEST_PREDICTIONS)
elif write_leaderboard:
    gh.write_leaderboard_files(trainer, tokenizer, task, data_dir, run_dir.here, test_dataset=raw["test"])

# %% [markdown]
# ## Sharing on the Hub
#
# With `push_to_hub=True` and `hub_model_id="your-name/your-model"`, log in (a token with write access), then
# upload the saved folder: model, tokenizer and the model card written above.

# %%
if push_to_hub:
    from huggingface_hub import HfApi, notebook_login

    if not hub_model_id:
        raise gh.GlueHelpersError("push_to_hub=True needs hub_model_id, e.g. 'your-name/distilbert-cola'.")
    notebook_login()
    HfApi().create_repo(hub_model_id, exist_ok=True)
    HfApi().upload_folder(repo_id=hub_model_id, folder_path=str(run_dir.model))

# %% [markdown]
# ## Notes
#
# * **Without the Hub** (offline, or a cluster without internet): download `nyu-mll/glue` once with
#   `huggingface_hub.snapshot_download("nyu-mll/glue", repo_type="dataset", local_dir="glue")` and a model with
#   `snapshot_download("distilbert-base-uncased", local_dir="distilbert")`, then run with `data_dir="glue"` and
#   `model_checkpoint="distilbert"`. `smoke=True` runs the whole notebook on a tiny random model and synthetic
#   data instead: a check that everything works, whose scores mean nothing.
# * **Precision.** `precision="auto"` picks what measured fastest: fp32 with TF32 matmuls on recent GPUs, fp16
#   on older GPUs such as the T4, bf16 on CPUs that compute it natively (AVX512-BF16 or AMX), else fp32;
#   `"fp32"` gives the same numbers on every machine. The dev metric does not change measurably
#   (`bench/README.md`).
# * **All tasks, several seeds, a search:** `python -m glue_helpers batch` runs this notebook for every task,
#   and notebook 02 searches for better hyperparameters. See the README.
