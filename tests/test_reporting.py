"""metrics.json records and model cards: what a run says about how its numbers were made."""

from __future__ import annotations

from glue_helpers.reporting import metrics_record, model_card

EVAL = {"eval_loss": 0.5, "eval_matthews_correlation": 0.25, "eval_runtime": 1.0, "epoch": 3.0}
TRAIN = {"train_runtime": 10.0, "train_samples_per_second": 42.0}


def record(**extra) -> dict:
    """A CoLA metrics record with the given extra fields."""
    return metrics_record("cola", "tiny-bert", EVAL, TRAIN, num_train_epochs=3, seed=7, device="cpu (2 threads)",
                          **extra)


def test_record_keeps_metrics_provenance_and_precision():
    r = record(precision="bf16")
    assert r["metrics"] == {"loss": 0.5, "matthews_correlation": 0.25}
    assert r["primary_metric_value"] == 0.25 and r["train_samples_per_second"] == 42.0
    assert (r["seed"], r["device"], r["precision"]) == (7, "cpu (2 threads)", "bf16")
    assert "torch" in r["versions"]


def test_model_card_says_when_training_ran_in_mixed_precision():
    assert "on cpu (2 threads), in bf16 mixed precision." in model_card(record(precision="bf16"))
    assert "on cpu (2 threads)." in model_card(record(precision="fp32"))
    assert "on cpu (2 threads)." in model_card(record())
