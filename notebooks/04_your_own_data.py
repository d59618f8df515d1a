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
# **See a real run first:** [docs/executed/04_your_own_data.ipynb](../docs/executed/04_your_own_data.ipynb) is
# this notebook with the outputs of a real run. For text pairs, regression scores, a test file, or every output
# notebook 01 writes (metrics.json, plots, a model card), give notebook 01 or `batch` your file instead
# ([docs/custom_data.md](../docs/custom_data.md)).
#
# On Colab, the next cell installs `glue_helpers` (it keeps Colab's own PyTorch); anywhere else it does nothing.

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
# `train_file` is your CSV: one row per example, a column of text and a column of labels (words or numbers).
# Without a `validation_file`, a tenth of the training file is held out to score the model. `smoke=True` writes a
# tiny example CSV and uses the offline kit's tiny model, to check the notebook in a minute.

# %% tags=["parameters"]
train_file = "reviews.csv"
validation_file = None  # None: hold out a tenth of train_file (seeded, each label keeps its share)
text_column = "text"
label_column = "label"
model_checkpoint = "distilbert-base-uncased"
batch_size = 16
learning_rate = 2e-5
num_train_epochs = 3
seed = 42
output_dir = "runs/own-data"
smoke = False

# %%
from pathlib import Path

import numpy as np

import glue_helpers as gh

if smoke:  # a CSV like yours, drawn like the synthetic SST-2 of the offline kit, and its tiny model
    train_file = gh.write_example_csv(Path(output_dir) / "reviews.csv")
    model_checkpoint = gh.ensure_kit().model_dir
for name, path in (("train_file", train_file), ("validation_file", validation_file)):
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{name}: no file at {Path(path).resolve()}. Give the path of your CSV file.")

# %% [markdown]
# ## Loading the file
#
# `load_dataset("csv", data_files=...)` reads a CSV (also `"json"` for JSON lines, `"parquet"`, or `"text"`) into a
# `DatasetDict`; `data_files` maps split names to files. Each column's type is inferred: a column of words is a
# `string`.

# %%
from datasets import load_dataset

data_files = {"train": str(train_file)} | ({"validation": str(validation_file)} if validation_file else {})
raw = load_dataset("csv", data_files=data_files)
missing = {text_column, label_column} - set(raw["train"].column_names)
if missing:
    raise ValueError(f"{train_file} has no column {', '.join(sorted(missing))}; its columns are "
                     f"{raw['train'].column_names}. Set text_column and label_column to two of them.")
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
# keeping its share.

# %%
raw["train"] = raw["train"].class_encode_column(label_column)
labels = raw["train"].features[label_column]
if "validation" in raw:
    raw["validation"] = raw["validation"].cast_column(label_column, labels)  # an unknown label word fails here
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
    output_dir=str(Path(output_dir) / "checkpoints"),
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

# %%
from transformers import pipeline

trainer.save_model(str(Path(output_dir) / "model"))
classifier = pipeline("text-classification", model=str(Path(output_dir) / "model"))
example = raw["validation"][0]
print(f"{example[text_column]!r} (labelled {id2label[example[label_column]]!r}):")
classifier(example[text_column])
