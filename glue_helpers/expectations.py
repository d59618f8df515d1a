"""What a learner should expect before training: the published score of the default model, and rough epoch times."""

from __future__ import annotations

import pandas as pd

from .tasks import GlueTask, get_task

# DistilBERT-base-uncased, GLUE dev sets (transformers' examples/research_projects/distillation README); one MNLI
# figure (matched), none for mnli-mm. In percent, on each task's primary metric (STS-B: Pearson).
DISTILBERT_DEV = {"cola": 51.3, "mnli": 82.1, "mrpc": 87.5, "qnli": 89.2, "qqp": 88.5, "rte": 59.9, "sst2": 91.3,
                  "stsb": 86.9, "wnli": 56.3}
TRAIN_ROWS = {"cola": 8551, "mnli": 392702, "mnli-mm": 392702, "mrpc": 3668, "qnli": 104743, "qqp": 363846,
              "rte": 2490, "sst2": 67349, "stsb": 5749, "wnli": 635}
# Rough DistilBERT training speeds (examples per second, batch 16). Estimates, not measurements of this project:
# a T4 in fp16 and a 4-core laptop CPU in fp32. Pair tasks have longer inputs, hence about half the speed.
SPEED = {"Colab T4 (fp16)": 250, "laptop CPU (fp32)": 12}
PAIR_SLOWDOWN = 2
METRIC_MEANING = {
    "matthews_correlation": "Matthews correlation: from -1 (always wrong) through 0 (no better than a constant "
                            "guess, whatever the label balance) to 1 (perfect)",
    "accuracy": "accuracy: the share of validation examples labelled right",
    "f1": "F1: the harmonic mean of precision and recall of the positive class",
    "f1_macro": "macro F1: F1 averaged over the classes",
    "pearson": "Pearson correlation between predicted and gold similarity: 0 = unrelated, 1 = perfectly linear",
    "spearmanr": "Spearman correlation: Pearson's on ranks",
}


def what_to_expect(task: str | GlueTask) -> pd.DataFrame:
    """The task's metric and what it means, DistilBERT's published dev score, and rough minutes per epoch."""
    t = get_task(task)
    rows = [("metric", METRIC_MEANING.get(t.primary_metric, t.primary_metric))]
    if t.name in DISTILBERT_DEV or t.name == "mnli-mm":
        score = DISTILBERT_DEV.get(t.name, DISTILBERT_DEV["mnli"])
        rows.append(("DistilBERT-base-uncased, published dev score", f"{score:.1f} (x 0.01 on the scale above)"))
    n = TRAIN_ROWS.get(t.name)
    if n:
        rows.append(("training rows", f"{n:,}"))
        for where, speed in SPEED.items():
            minutes = n / (speed / (PAIR_SLOWDOWN if t.is_pair else 1)) / 60
            rows.append((f"one epoch on a {where}, roughly", f"{minutes:,.0f} min" if minutes >= 1 else "< 1 min"))
    return pd.DataFrame(rows, columns=["", "what to expect"]).set_index("")
