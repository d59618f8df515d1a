"""GLUE metric for `evaluate`, shipped locally so it loads with no network."""

import datasets
import evaluate

from glue_helpers.metrics import glue_metric
from glue_helpers.tasks import get_task

_CONFIGS = ["cola", "mnli", "mnli_matched", "mnli_mismatched", "mrpc", "qnli", "qqp", "rte",
            "sst2", "stsb", "wnli", "ax", "hans"]


class Glue(evaluate.Metric):
    """Official GLUE metrics, same names and values as the Hub's `glue` metric."""

    def _info(self):
        if self.config_name not in _CONFIGS:
            raise KeyError(f"Unknown GLUE config {self.config_name!r}; expected one of {_CONFIGS}")
        dtype = "float32" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description="GLUE metric (local copy of the official definitions).",
            citation="Wang et al., GLUE, ICLR 2019.",
            inputs_description="predictions and references: class ids, or scores for stsb.",
            features=datasets.Features({"predictions": datasets.Value(dtype),
                                        "references": datasets.Value(dtype)}),
        )

    def _compute(self, predictions, references):
        name = {"mnli_matched": "mnli", "mnli_mismatched": "mnli", "ax": "mnli", "hans": "rte"}
        return glue_metric(get_task(name.get(self.config_name, self.config_name)), predictions, references)
