"""The GLUE task registry: one frozen record per task config, holding every GLUE fact the package uses."""

# A leaf module (it imports only the error type); custom tasks are GlueTasks too, built by `custom_task.resolve_task`.

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import GlueHelpersError

HUB_DATASET = "nyu-mll/glue"


@dataclass(frozen=True)
class GlueTask:
    """Everything the recipe needs to know about one task: a GLUE config, or custom data (`data_files` set)."""

    name: str
    hub_config: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]
    metric_names: tuple[str, ...]
    primary_metric: str
    validation_split: str = "validation"
    test_split: str = "test"
    train_split: str = "train"
    description: str = ""
    label_column: str = "label"
    data_files: dict[str, str] = field(default_factory=dict, compare=False)
    regression: bool | None = None
    # GLUE facts (empty for a custom task):
    leaderboard_file: str = ""  # the file gluebenchmark.com wants for this task
    leaderboard_words: bool = False  # the leaderboard wants label words (entailment, ...) rather than class ids
    diagnostic: GlueTask | None = field(default=None, compare=False, repr=False)  # AX, predicted with MNLI's model
    glue_group: str = ""  # the GLUE task whose score this one shares (MNLI-mm's counts toward MNLI)
    distilbert_dev: float | None = None  # DistilBERT-base-uncased's published dev score, x100
    train_rows: int | None = None  # rows in the training split

    @property
    def is_custom(self) -> bool:
        """True for a task on the user's own files rather than a GLUE config."""
        return bool(self.data_files)

    @property
    def is_regression(self) -> bool:
        """True for a score label (STS-B's similarity in [0, 5], or a custom regression)."""
        return self.regression if self.regression is not None else not self.label_names

    @property
    def num_labels(self) -> int:
        """Model outputs: 1 for regression, else one per class."""
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """True when each example is a pair of texts."""
        return len(self.text_columns) == 2

    @property
    def id2label(self) -> dict[int, str]:
        """Label id to name, as stored in a model config."""
        return {i: n for i, n in enumerate(self.label_names)} or {0: "similarity"}

    @property
    def label2id(self) -> dict[str, int]:
        """Label name to id, as stored in a model config."""
        return {n: i for i, n in self.id2label.items()}

    @property
    def scored_as(self) -> str:
        """The GLUE task this task's score counts toward: MNLI for MNLI-mm, else the task itself."""
        return self.glue_group or self.name


_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")
_MNLI_TEXTS = ("premise", "hypothesis")

# The GLUE diagnostic set: test rows only, predicted with an MNLI model (same texts and labels as MNLI).
AX = GlueTask("ax", "ax", _MNLI_TEXTS, _NLI3, ("accuracy",), "accuracy", validation_split="test",
              train_split="test", description="GLUE diagnostic set, predicted with an MNLI model.",
              leaderboard_file="AX.tsv", leaderboard_words=True)

# DistilBERT scores: transformers' examples/research_projects/distillation README, GLUE dev sets, on each task's
# primary metric (STS-B: Pearson); it gives one MNLI figure (matched), none for MNLI-mm.
_REGISTRY = [
    GlueTask("cola", "cola", ("sentence",), ("unacceptable", "acceptable"), ("matthews_correlation",),
             "matthews_correlation", description="Is the sentence grammatical English?", leaderboard_file="CoLA.tsv",
             distilbert_dev=51.3, train_rows=8551),
    GlueTask("mnli", "mnli", _MNLI_TEXTS, _NLI3, ("accuracy",), "accuracy", validation_split="validation_matched",
             test_split="test_matched", leaderboard_file="MNLI-m.tsv", leaderboard_words=True, diagnostic=AX,
             description="Does the premise entail, contradict or neither the hypothesis? (matched genres)",
             distilbert_dev=82.1, train_rows=392702),
    GlueTask("mnli-mm", "mnli", _MNLI_TEXTS, _NLI3, ("accuracy",), "accuracy", validation_split="validation_mismatched",
             test_split="test_mismatched", description="MNLI evaluated on genres unseen in training (mismatched).",
             leaderboard_file="MNLI-mm.tsv", leaderboard_words=True, glue_group="mnli", train_rows=392702),
    GlueTask("mrpc", "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("accuracy", "f1"),
             "accuracy", description="Are the two sentences paraphrases?", leaderboard_file="MRPC.tsv",
             distilbert_dev=87.5, train_rows=3668),
    GlueTask("qnli", "qnli", ("question", "sentence"), _NLI2, ("accuracy",), "accuracy",
             description="Does the sentence answer the question?",
             leaderboard_file="QNLI.tsv", leaderboard_words=True, distilbert_dev=89.2, train_rows=104743),
    GlueTask("qqp", "qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("accuracy", "f1"),
             "accuracy", description="Are the two Quora questions duplicates?", leaderboard_file="QQP.tsv",
             distilbert_dev=88.5, train_rows=363846),
    GlueTask("rte", "rte", ("sentence1", "sentence2"), _NLI2, ("accuracy",), "accuracy",
             description="Does the first sentence entail the second?",
             leaderboard_file="RTE.tsv", leaderboard_words=True, distilbert_dev=59.9, train_rows=2490),
    GlueTask("sst2", "sst2", ("sentence",), ("negative", "positive"), ("accuracy",), "accuracy",
             description="Is the movie review positive or negative?",
             leaderboard_file="SST-2.tsv", distilbert_dev=91.3, train_rows=67349),
    GlueTask("stsb", "stsb", ("sentence1", "sentence2"), (), ("pearson", "spearmanr"), "pearson",
             description="How similar are the two sentences, from 0 to 5? (regression)",
             leaderboard_file="STS-B.tsv", distilbert_dev=86.9, train_rows=5749),
    GlueTask("wnli", "wnli", ("sentence1", "sentence2"), ("not_entailment", "entailment"), ("accuracy",), "accuracy",
             description="Does the sentence with the pronoun replaced follow from the original?",
             leaderboard_file="WNLI.tsv", distilbert_dev=56.3, train_rows=635),
]
GLUE_TASKS: dict[str, GlueTask] = {task.name: task for task in _REGISTRY}
TASK_NAMES: tuple[str, ...] = tuple(GLUE_TASKS)

# Every file a full leaderboard submission holds: one per task, and AX.
LEADERBOARD_FILES: tuple[str, ...] = (*(task.leaderboard_file for task in _REGISTRY), AX.leaderboard_file)

_ALIASES = {"sst": "sst2", "sts": "stsb", "mnlimm": "mnli-mm", "mnlimismatched": "mnli-mm",
            "mnlim": "mnli", "mnlimatched": "mnli"}


def get_task(name: str | GlueTask) -> GlueTask:
    """The task for a GLUE config name or an obvious alias ('SST-2', 'sts-b', 'MNLI_MM'); a task passes through."""
    if isinstance(name, GlueTask):
        return name
    key = "".join(c for c in str(name).lower() if c.isalnum())  # 'SST-2' and 'sst_2' compare equal
    found = key if key in GLUE_TASKS else _ALIASES.get(key)  # 'mnli-mm' is known by its alias 'mnlimm
    if found is None:
        hint = " A custom task's .yaml file is read by resolve_task(path), which the notebooks and commands call."
        raise GlueHelpersError(
            f"Unknown GLUE task {name!r}. Valid tasks: {', '.join(TASK_NAMES)} (aliases such as 'sst-2', 'sts-b', "
            f"'mnli_mm' work too), or the path of a custom task's .yaml file."
            f"{hint if str(name).endswith(('.yaml', '.yml')) else ''}")
    return GLUE_TASKS[found]


# bert-base-cased: transformers' examples/pytorch/text-classification README (run_glue.py, 3 epochs, 5 for MRPC and
# WNLI, one seeded run per task), dev sets, x100 on each task's primary metric (MRPC and QQP: accuracy; STS-B:
# Pearson). Unlike DistilBERT's, it has an MNLI-mm figure.
BERT_BASE_CASED_DEV = {"cola": 56.53, "sst2": 92.32, "mrpc": 84.07, "stsb": 88.64, "qqp": 90.71, "mnli": 83.91,
                       "mnli-mm": 84.10, "qnli": 90.66, "rte": 65.70, "wnli": 56.34}


def model_reference(model: str, task: GlueTask) -> float | None:
    """This model's published dev score (x100, primary metric) on the task, when known (by the model's folder name)."""
    name = str(model).rstrip("/").rsplit("/", 1)[-1].lower()
    if name == "distilbert-base-uncased":
        return task.distilbert_dev  # MNLI-mm has no figure of its own here
    if name == "bert-base-cased":
        return BERT_BASE_CASED_DEV.get(task.name) if not task.is_custom else None
    return None


def published_dev_score(task: GlueTask) -> float | None:
    """DistilBERT's published dev score (x100) for the task, or for the GLUE task it counts toward; None if custom."""
    if task.distilbert_dev is None and task.glue_group:
        return GLUE_TASKS[task.glue_group].distilbert_dev
    return task.distilbert_dev
