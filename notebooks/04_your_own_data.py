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
# # Fine-tuning on your own data: a CSV file, with 🤗 Datasets
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/glue-notebooks/glue-notebooks/blob/main/notebooks/04_your_own_data.ipynb)
#
# Notebook 01 trains on a GLUE task, whose data come from the Hub ready to use: a text column, and labels that are
# already class ids with names. Your own data usually come as a file, with labels written as words. This notebook
# teaches the two steps that make such a file trainable, with 🤗 Datasets: **loading the file**
# (`load_dataset("csv", ...)`) and **turning label words into class ids** (`class_encode_column`, a `ClassLabel`).
# Then it runs notebook 01's recipe in brief: tokenize, a model with a new head of the right size, `Trainer`,
# a `pipeline` that answers with your label names.
#
# It runs as it is: without a file of yours, it first writes one, a few thousand movie-review sentences of SST-2
# with their labels as words, the shape your own file would have.
#
# **See a real run first:** [docs/executed/04_your_own_data.ipynb](https://github.com/glue-notebooks/glue-notebooks/blob/main/docs/executed/04_your_own_data.ipynb)
# is this notebook with the outputs of a real run. For text pairs, regression scores, a test file, or every output
# notebook 01 writes (metrics.json, plots, a model card), give notebook 01 or `batch` your file instead
# ([docs/custom_data.md](https://github.com/glue-notebooks/glue-notebooks/blob/main/docs/custom_data.md)).
#
# On Colab, the next cell installs `glue_helpers` (it keeps Colab's own PyTorch); anywhere else it does nothing.

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
# `train_file` is your CSV: one row per example, a column of text and a column of labels (words or numbers). On
# Colab, upload it first (the folder icon on the left, then *Upload*) and give its name here. Without a
# `validation_file`, a tenth of the training file is held out to score the model. Each run writes into a new folder,
# `runs/own-data-<date>-<time>`; name an `output_dir` of your own to keep one place (a second run there is refused
# unless `overwrite=True`). `smoke=True` uses a tiny example CSV and the offline kit's tiny model, to check the
# notebook without the Hub (the scores mean nothing).

# %% tags=["parameters"]
train_file = None  # your CSV; None: this notebook writes an example file first (SST-2 sentences, labels as words)
validation_file = None  # None: hold out a tenth of train_file (seeded, each label keeps its share)
text_column = "text"
label_column = "label"
model_checkpoint = "distilbert-base-uncased"
batch_size = 16
learning_rate = 2e-5
num_train_epochs = 3
seed = 42
output_dir = None  # None: a new folder for each run, runs/own-data-<date>-<time>
overwrite = False  # True: replace the run in an output_dir you named, once this one has finished
example_rows = 3000  # the size of the example file (when train_file is None)
data_dir = None  # where the example file's sentences come from: None, the Hub; or a local copy of nyu-mll/glue
smoke = False

# %% [markdown]
# The run's folder is claimed first, as in notebook 01: it is locked while this notebook runs, a folder that holds
# another run is refused (unless `overwrite=True`), and the run writes into its `unfinished/` sub-folder until it has
# finished, so an interrupted run never replaces an earlier one.

# %%
from pathlib import Path

import numpy as np

import glue_helpers as gh

run_dir = gh.RunDir(output_dir or gh.run_dir_for("own-data", dated=True)).prepare(overwrite=overwrite)
if smoke:  # the offline kit's tiny model
    model_checkpoint = gh.ensure_kit().model_dir
print("outputs:", run_dir.root)

# %% [markdown]
# ## An example file, unless you gave yours
#
# This is what a file of your own looks like: a few thousand movie-review sentences from SST-2 (loaded with
# `load_dataset`, a random sample), their labels turned into words, written with pandas' `to_csv`.

# %%
from datasets import load_dataset

if train_file is None and smoke:  # a tiny CSV of the same shape, drawn like the offline kit's synthetic SST-2
    train_file = gh.write_example_csv(run_dir.root / "reviews.csv")
elif train_file is None:
    if data_dir is None:
        sst2 = load_dataset("nyu-mll/glue", "sst2", split="train")
    else:  # a local copy of the same repository
        sst2 = load_dataset("parquet", data_files=gh.local_split_files(gh.get_task("sst2"), data_dir), split="train")
    sample = sst2.shuffle(seed=seed).select(range(min(example_rows, len(sst2))))
    words = sample.features["label"].names  # ['negative', 'positive']
    frame = sample.to_pandas()
    frame = frame.assign(text=frame["sentence"].str.strip(), label=[words[i] for i in frame["label"]])
    train_file = run_dir.root / "reviews.csv"
    frame[["text", "label"]].to_csv(train_file, index=False)
print(Path(train_file).read_text().splitlines()[:4])

# %% [markdown]
# Before loading, one call reads the files and checks what would make them impossible or meaningless to learn,
# naming the file, the line and the fix: a missing or empty file, text that is not UTF-8, a repeated column name, a
# missing column, empty cells, a single class, a validation label that training never has. Notebook 01 and
# `python -m glue_helpers train` make the same checks on your data.

# %%
for name, path in (("train_file", train_file), ("validation_file", validation_file)):
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{name}: no file at {Path(path).resolve()}. Give the path of your CSV (on Colab, "
                                "upload it first), or train_file=None for the example file (smoke=True: a tiny one).")
gh.resolve_task("own-data", train_file=str(train_file), validation_file=validation_file, text_columns=text_column,
                label_column=label_column)

# %% [markdown]
# ## Loading the file
#
# `load_dataset("csv", data_files=...)` reads a CSV (also `"json"` for JSON lines, `"parquet"`, or `"text"`) into a
# `DatasetDict`; `data_files` maps split names to files. Each column's type is inferred: a column of words is a
# `string`.

# %%
data_files = {"train": str(train_file)} | ({"validation": str(validation_file)} if validation_file else {})
raw = load_dataset("csv", data_files=data_files)
raw

# %%
raw["train"][0], raw["train"].features

# %% [markdown]
# ## From label words to class ids
#
# A model predicts class *numbers*. `class_encode_column` turns a column of words into a `ClassLabel`: it lists
# the distinct labels (sorted), and stores each row's label as its index in that list, so the names stay attached
# to the numbers. A validation file is mapped with the same list (`cast_column`), so "positive" is the same id in
# both. Without one, `train_test_split(..., stratify_by_column=...)` holds out a tenth of the rows, each label
# keeping its share. Label words are stripped of surrounding spaces first, as the check above reads them.

# %%
if raw["train"].features[label_column].dtype == "string":  # `pos` and `pos `: one class, as the check reads them
    raw = raw.map(lambda row: {label_column: row[label_column].strip()})
raw["train"] = raw["train"].class_encode_column(label_column)
labels = raw["train"].features[label_column]
if "validation" in raw:
    raw["validation"] = raw["validation"].cast_column(label_column, labels)
else:
    raw = raw["train"].train_test_split(test_size=0.1, seed=seed, stratify_by_column=label_column)
    raw["validation"] = raw.pop("test")
print(labels)
print({split: np.bincount(data[label_column], minlength=labels.num_classes).tolist() for split, data in raw.items()})

# %% [markdown]
# `id2label` and `label2id` give the model the names, so its config (and every `pipeline` built from it) answers
# "positive" rather than "LABEL_1".

# %%
id2label = dict(enumerate(labels.names))
label2id = {name: i for i, name in id2label.items()}
id2label

# %% [markdown]
# ## Tokenizing, as in notebook 01
#
# The tokenizer turns each text into token ids; `.map(batched=True)` runs it over the whole dataset. The `Trainer`
# looks for the labels in a column called `label` (or `labels`), so ours is renamed if it has another name.

# %%
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(model_checkpoint)


def preprocess_function(examples):
    """Token ids (and attention mask) for a batch of texts."""
    return tokenizer(examples[text_column], truncation=True)


encoded = raw.map(preprocess_function, batched=True)
if label_column != "label":
    encoded = encoded.rename_column(label_column, "label")
encoded

# %% [markdown]
# ## Training and evaluating
#
# The model gets a new classification head with one output per label. `compute_metrics` scores the validation set
# after each epoch: accuracy, and macro F1 (the mean of each label's F1), which a rare label can't hide behind.

# %%
import torch
from sklearn.metrics import f1_score
from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments, set_seed

set_seed(seed)
model = AutoModelForSequenceClassification.from_pretrained(
    model_checkpoint, num_labels=labels.num_classes, id2label=id2label, label2id=label2id)


def compute_metrics(eval_pred):
    """Accuracy and macro F1 of the argmax class."""
    logits, references = eval_pred
    predictions = np.argmax(logits, axis=1)
    return {"accuracy": float((predictions == references).mean()),
            "f1_macro": float(f1_score(references, predictions, average="macro"))}


args = TrainingArguments(
    output_dir=str(run_dir.checkpoints),
    eval_strategy="epoch",
    save_strategy="epoch",
    logging_strategy="epoch",
    learning_rate=learning_rate,
    per_device_train_batch_size=batch_size,
    num_train_epochs=num_train_epochs,
    weight_decay=0.01,
    load_best_model_at_end=True,
    metric_for_best_model="f1_macro",
    save_total_limit=1,
    seed=seed,
    report_to="none",
    dataloader_pin_memory=torch.cuda.is_available(),  # pinned memory only speeds up copies to a GPU
)
trainer = Trainer(model=model, args=args, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                  processing_class=tokenizer, compute_metrics=compute_metrics)
trainer.train()
trainer.evaluate()

# %% [markdown]
# The confusion matrix shows where the errors are: each row is a true label, each column a predicted one.

# %%
from sklearn.metrics import ConfusionMatrixDisplay

output = trainer.predict(encoded["validation"])
ConfusionMatrixDisplay.from_predictions(output.label_ids, output.predictions.argmax(axis=1),
                                        display_labels=labels.names, cmap="Blues", colorbar=False);

# %% [markdown]
# ## Using the model
#
# Saved with its tokenizer, the model loads into a `pipeline`, which answers with your label names.
# `run_dir.finish()` ends the run: its files move from `unfinished/` into the run's folder (replacing an earlier
# run's, with `overwrite=True`).

# %%
from transformers import pipeline

trainer.save_model(str(run_dir.model))
run_dir.finish()
classifier = pipeline("text-classification", model=str(run_dir.model))
example = raw["validation"][0]
print(f"{example[text_column]!r} (labelled {id2label[example[label_column]]!r}):")
classifier(example[text_column])
