"""GlueTrainer: length-grouped training batches, longest-first evaluation, predictions in dataset order, small
checkpoints; all on the offline kit with the package's default arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler
from transformers import Trainer

from glue_helpers.data import load_glue
from glue_helpers.metrics import make_compute_metrics
from glue_helpers.modeling import load_model, load_tokenizer, make_data_collator, tokenize_dataset
from glue_helpers.tasks import get_task
from glue_helpers.training import (
    GlueTrainer,
    LengthGroupedShuffledSampler,
    grouped_batches,
    longest_first_order,
    mega_batch_size,
    restore_order,
    sequence_lengths,
    training_arguments,
)

TASK = get_task("mrpc")


@pytest.fixture(scope="module")
def encoded(kit):
    """The kit's MRPC, tokenized by tokenize_dataset, with a shuffled subset as validation (an indices mapping)."""
    tok = load_tokenizer(kit.model_dir)
    raw = load_glue(TASK, kit.data_dir, max_eval_samples=40, splits=("train", "validation"))
    return tok, tokenize_dataset(raw, TASK, tok)


def make_trainer(kit, encoded, tmp_path, cls=GlueTrainer, **kwargs):
    """A trainer on the kit with the package's default arguments (plus kwargs)."""
    tok, data = encoded
    args = training_arguments(TASK, str(tmp_path / "out"), **{"batch_size": 8, **kwargs})
    return cls(model=load_model(kit.model_dir, TASK), args=args, train_dataset=data["train"],
               eval_dataset=data["validation"], processing_class=tok, data_collator=make_data_collator(tok),
               compute_metrics=make_compute_metrics(TASK))


def padded_tokens(lengths, order, batch_size):
    """Token slots a dynamic-padding collator fills when batching rows in this order."""
    return sum(max(lengths[i] for i in order[k:k + batch_size]) * len(order[k:k + batch_size])
               for k in range(0, len(order), batch_size))


def test_sequence_lengths_match_the_rows(encoded):
    _, data = encoded
    assert sequence_lengths(data["validation"]) == [len(r) for r in data["validation"]["input_ids"]]


def test_restore_order_undoes_longest_first():
    lengths = [3, 9, 1, 9, 4]
    order = longest_first_order(lengths)
    assert order == [1, 3, 4, 0, 2]
    shuffled = np.array(lengths)[order]
    assert restore_order(shuffled, order).tolist() == lengths
    assert restore_order((shuffled, None), order)[0].tolist() == lengths


def test_training_batches_are_grouped_by_length(kit, encoded, tmp_path):
    trainer = make_trainer(kit, encoded, tmp_path)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedShuffledSampler) and sampler.generator is not None
    order = list(sampler)
    assert sorted(order) == list(range(len(encoded[1]["train"])))
    lengths = sequence_lengths(encoded[1]["train"])
    assert padded_tokens(lengths, order, 8) < padded_tokens(lengths, list(RandomSampler(lengths)), 8)


def batch_lengths(lengths, batches):
    """The longest row of each batch."""
    return [max(lengths[i] for i in b) for b in batches]


def test_grouped_batches_cover_every_row_once_in_full_batches_except_the_last():
    lengths = [int(x) for x in np.random.default_rng(0).integers(3, 120, size=1003)]
    batches = grouped_batches(lengths, 16, torch.Generator().manual_seed(1))
    assert sorted(i for b in batches for i in b) == list(range(1003))
    assert [len(b) for b in batches] == [16] * 62 + [11]
    assert max(lengths[i] for i in batches[0]) == max(lengths)  # the biggest batch first


def test_grouped_batches_are_tight_and_their_order_is_shuffled():
    lengths = [int(x) for x in np.random.default_rng(0).integers(3, 120, size=4000)]
    batches = grouped_batches(lengths, 16, torch.Generator().manual_seed(1))
    mega = mega_batch_size(4000, 16) // 16
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 5  # random batches of 16 spread over ~100 tokens
    # transformers' sampler walks each mega-batch from long to short; here batch lengths within a stretch of
    # mega-batch size are not sorted, and batches from different mega-batches mix.
    first = batch_lengths(lengths, batches[1:mega])
    assert first != sorted(first, reverse=True) and first != sorted(first)
    assert abs(np.corrcoef(range(len(batches)), batch_lengths(lengths, batches))[0, 1]) < 0.3


def test_grouped_order_is_seeded_and_new_each_epoch():
    lengths = list(range(200))
    sampler = LengthGroupedShuffledSampler(lengths, 8, torch.Generator().manual_seed(3))
    epoch1, epoch2 = list(sampler), list(sampler)
    assert epoch1 != epoch2 and len(sampler) == 200
    assert epoch1 == list(LengthGroupedShuffledSampler(lengths, 8, torch.Generator().manual_seed(3)))


def test_plain_trainer_ignores_grouping_and_keeps_order(kit, encoded, tmp_path):
    trainer = make_trainer(kit, encoded, tmp_path, cls=Trainer)
    assert isinstance(trainer._get_train_sampler(), RandomSampler)
    assert isinstance(trainer._get_eval_sampler(encoded[1]["validation"]), SequentialSampler)


def test_predict_returns_dataset_order_and_matches_sequential_evaluation(kit, encoded, tmp_path):
    glue = make_trainer(kit, encoded, tmp_path)
    plain = make_trainer(kit, encoded, tmp_path, cls=Trainer)
    plain.model.load_state_dict(glue.model.state_dict())
    validation = encoded[1]["validation"]
    ours, reference = glue.predict(validation), plain.predict(validation)
    assert list(glue._get_eval_sampler(validation)) == longest_first_order(sequence_lengths(validation))
    assert ours.label_ids.tolist() == validation["label"][:]
    np.testing.assert_allclose(ours.predictions, reference.predictions, rtol=1e-4, atol=1e-5)
    assert ours.metrics["test_accuracy"] == pytest.approx(reference.metrics["test_accuracy"])


@pytest.mark.slow
def test_default_run_keeps_a_bounded_number_of_small_checkpoints(kit, encoded, tmp_path):
    trainer = make_trainer(kit, encoded, tmp_path, num_train_epochs=4, learning_rate=1e-3)
    trainer.train()
    checkpoints = sorted((tmp_path / "out").glob("checkpoint-*"))
    assert 1 <= len(checkpoints) <= 2
    assert str(trainer.state.best_model_checkpoint) in {str(c) for c in checkpoints}
    for c in checkpoints:
        assert (c / "model.safetensors").is_file()
        assert not (c / "optimizer.pt").exists() and not (c / "scheduler.pt").exists()
    evals = [e for e in trainer.state.log_history if "eval_accuracy" in e]
    assert len(evals) == 4
