"""GlueTrainer on the kit: length-grouped batches, longest-first evaluation in dataset order, small checkpoints."""

import numpy as np
import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler
from transformers import Trainer, TrainerCallback

from glue_helpers import training
from glue_helpers.data import load_glue
from glue_helpers.metrics import make_compute_metrics
from glue_helpers.modeling import load_model, load_tokenizer, make_data_collator, tokenize_dataset
from glue_helpers.recipe import Recipe
from glue_helpers.tasks import get_task
from glue_helpers.training import GlueTrainer, LengthGroupedShuffledSampler, sequence_lengths, training_arguments

TASK = get_task("mrpc")


@pytest.fixture(scope="module")
def encoded(kit):
    """The kit's MRPC, tokenized by tokenize_dataset, with a shuffled subset as validation (an indices mapping)."""
    tok = load_tokenizer(kit.model_dir)
    raw = load_glue(TASK, kit.data_dir, max_eval_samples=40, splits=("train", "validation"))
    return tok, tokenize_dataset(raw, TASK, tok)


def make_trainer(kit, encoded, tmp_path, cls=GlueTrainer, **knobs):
    """A trainer on the kit with the package's default arguments for a recipe of batch 8 (plus knobs)."""
    tok, data = encoded
    args = training_arguments(TASK, str(tmp_path / "out"), Recipe(**{"batch_size": 8, **knobs}))
    return cls(model=load_model(kit.model_dir, TASK), args=args, train_dataset=data["train"],
               eval_dataset=data["validation"], processing_class=tok, data_collator=make_data_collator(tok),
               compute_metrics=make_compute_metrics(TASK))


def padded_tokens(lengths, order, batch_size):
    """Token slots a dynamic-padding collator fills when batching rows in this order."""
    return sum(max(lengths[i] for i in order[k:k + batch_size]) * len(order[k:k + batch_size])
               for k in range(0, len(order), batch_size))


def test_restore_order_undoes_longest_first():
    lengths = [3, 9, 1, 9, 4]
    order = training.longest_first_order(lengths)
    assert order == [1, 3, 4, 0, 2]
    shuffled = np.array(lengths)[order]
    assert training.restore_order(shuffled, order).tolist() == lengths
    assert training.restore_order((shuffled, None), order)[0].tolist() == lengths


def test_grouped_batches_cover_every_row_once_are_tight_shuffled_seeded_and_new_each_epoch():
    lengths = [int(x) for x in np.random.default_rng(0).integers(3, 120, size=4011)]
    batches = training.grouped_batches(lengths, 16, torch.Generator().manual_seed(1))
    assert sorted(i for b in batches for i in b) == list(range(4011))
    assert [len(b) for b in batches] == [16] * 250 + [11]  # full batches except the last
    longest = [max(lengths[i] for i in b) for b in batches]
    assert longest[0] == max(lengths)  # the biggest batch first
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 5  # random batches of 16 spread over ~100 tokens
    # transformers' sampler walks each mega-batch from long to short; here batch lengths within a stretch of
    # mega-batch size are not sorted, and batches from different mega-batches mix.
    mega = training.mega_batch_size(4011, 16) // 16
    assert longest[1:mega] != sorted(longest[1:mega], reverse=True) and longest[1:mega] != sorted(longest[1:mega])
    assert abs(np.corrcoef(range(len(batches)), longest)[0, 1]) < 0.3
    # the sampler's order is seeded and new each epoch
    lengths = list(range(200))
    sampler = LengthGroupedShuffledSampler(lengths, 8, torch.Generator().manual_seed(3))
    epoch1, epoch2 = list(sampler), list(sampler)
    assert epoch1 != epoch2 and len(sampler) == 200
    assert epoch1 == list(LengthGroupedShuffledSampler(lengths, 8, torch.Generator().manual_seed(3)))


def test_training_batches_are_grouped_by_length_and_predict_returns_dataset_order(kit, encoded, tmp_path):
    glue = make_trainer(kit, encoded, tmp_path)
    sampler = glue._get_train_sampler()
    assert isinstance(sampler, LengthGroupedShuffledSampler) and sampler.generator is not None
    order = list(sampler)
    assert sorted(order) == list(range(len(encoded[1]["train"])))
    lengths = sequence_lengths(encoded[1]["train"])
    assert lengths == [len(r) for r in encoded[1]["train"]["input_ids"]]
    assert padded_tokens(lengths, order, 8) < padded_tokens(lengths, list(RandomSampler(lengths)), 8)
    # predictions come back in dataset order and match a plain Trainer's sequential evaluation
    plain = make_trainer(kit, encoded, tmp_path, cls=Trainer)
    plain.model.load_state_dict(glue.model.state_dict())
    validation = encoded[1]["validation"]
    # a plain Trainer ignores the grouping and keeps the order
    assert isinstance(plain._get_train_sampler(), RandomSampler)
    assert isinstance(plain._get_eval_sampler(validation), SequentialSampler)
    ours, reference = glue.predict(validation), plain.predict(validation)
    assert list(glue._get_eval_sampler(validation)) == training.longest_first_order(sequence_lengths(validation))
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
    assert all((c / "model.safetensors").is_file() and not (c / "optimizer.pt").exists()
               and not (c / "scheduler.pt").exists() for c in checkpoints)
    assert len([e for e in trainer.state.log_history if "eval_accuracy" in e]) == 4


class SpoilAfterEpoch2(TrainerCallback):
    """From epoch 3 on, the head answers class 0 whatever the text: the best epoch is then an early one."""

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if state.epoch >= 3:
            with torch.no_grad():
                model.classifier.bias[0] += 20


def test_the_history_shows_each_epochs_own_numbers_when_the_best_epoch_is_not_the_last(kit, tmp_path):
    """Notebook 01's final evaluate() scores the best epoch's model; the history must keep the last epoch's own."""
    from glue_helpers.plots import epoch_history
    from glue_helpers.train import fit

    task, tok = get_task("sst2"), load_tokenizer(kit.model_dir)
    encoded = tokenize_dataset(load_glue(task, kit.data_dir, splits=("train", "validation")), task, tok)
    recipe = Recipe(learning_rate=5e-3, num_train_epochs=4, batch_size=8, seed=1, precision="fp32")
    args = training_arguments(task, tmp_path, recipe, disable_tqdm=True, save_total_limit=None)
    trainer, _ = fit(task, recipe, str(kit.model_dir), args, encoded["train"], encoded["validation"], tok,
                     callbacks=[SpoilAfterEpoch2()], log=False)
    final = trainer.evaluate()
    logged = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    assert len(logged) == 5 and not trainer.state.best_model_checkpoint.endswith(f"-{trainer.state.global_step}")
    assert final["eval_loss"] < logged[3]["eval_loss"]  # evaluate() scored an earlier epoch's model
    history = epoch_history(trainer.state.log_history)
    assert list(history.index) == [1.0, 2.0, 3.0, 4.0]
    assert (list(history["loss"]), list(history["accuracy"])) == (
        [e["eval_loss"] for e in logged[:4]], [e["eval_accuracy"] for e in logged[:4]])
    assert history["train_loss"].notna().all()
