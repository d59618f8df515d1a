"""The GLUE task registry: one frozen record per task config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")

GLUE_TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in [
        GlueTask("cola", "cola", ("sentence",), ("unacceptable", "acceptable"),
                 ("matthews_correlation",), "matthews_correlation",
                 description="Is the sentence grammatical English?"),
        GlueTask("mnli", "mnli", ("premise", "hypothesis"), _NLI3, ("accuracy",), "accuracy",
                 validation_split="validation_matched", test_split="test_matched",
                 description="Does the premise entail, contradict or neither the hypothesis? (matched genres)"),
        GlueTask("mnli-mm", "mnli", ("premise", "hypothesis"), _NLI3, ("accuracy",), "accuracy",
                 validation_split="validation_mismatched", test_split="test_mismatched",
                 description="MNLI evaluated on genres unseen in training (mismatched)."),
        GlueTask("mrpc", "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"),
                 ("accuracy", "f1"), "accuracy",
                 description="Are the two sentences paraphrases?"),
        GlueTask("qnli", "qnli", ("question", "sentence"), _NLI2, ("accuracy",), "accuracy",
                 description="Does the sentence answer the question?"),
        GlueTask("qqp", "qqp", ("question1", "question2"), ("not_duplicate", "duplicate"),
                 ("accuracy", "f1"), "accuracy",
                 description="Are the two Quora questions duplicates?"),
        GlueTask("rte", "rte", ("sentence1", "sentence2"), _NLI2, ("accuracy",), "accuracy",
                 description="Does the first sentence entail the second?"),
        GlueTask("sst2", "sst2", ("sentence",), ("negative", "positive"), ("accuracy",), "accuracy",
                 description="Is the movie review positive or negative?"),
        GlueTask("stsb", "stsb", ("sentence1", "sentence2"), (), ("pearson", "spearmanr"), "pearson",
                 description="How similar are the two sentences, from 0 to 5? (regression)"),
        GlueTask("wnli", "wnli", ("sentence1", "sentence2"), ("not_entailment", "entailment"),
                 ("accuracy",), "accuracy",
                 description="Does the sentence with the pronoun replaced follow from the original?"),
    ]
}

TASK_NAMES: tuple[str, ...] = tuple(GLUE_TASKS)

_ALIASES = {"sst": "sst2", "sts": "stsb", "mnlimm": "mnli-mm", "mnlimismatched": "mnli-mm",
            "mnlim": "mnli", "mnlimatched": "mnli"}


def _normalize(name: str) -> str:
    """Lower-case and drop separators, so 'SST-2' and 'sst_2' compare equal."""
    return "".join(c for c in str(name).lower() if c.isalnum())


def get_task(name: str | Path | GlueTask) -> GlueTask:
    """The task for a GLUE config name, an obvious alias ('SST-2', 'sts-b', 'MNLI_MM'), or a custom task's YAML."""
    if isinstance(name, GlueTask):
        return name
    if str(name).endswith((".yaml", ".yml")):
        from .custom_task import load_task_file

        return load_task_file(name)
    key = _normalize(name)
    by_key = {_normalize(n): n for n in GLUE_TASKS}
    found = by_key.get(key) or _ALIASES.get(key)
    if found is None:
        raise GlueHelpersError(
            f"Unknown GLUE task {name!r}. Valid tasks: {', '.join(TASK_NAMES)} "
            "(aliases such as 'sst-2', 'sts-b', 'mnli_mm' work too), or the path of a custom task's .yaml file."
        )
    return GLUE_TASKS[found]
