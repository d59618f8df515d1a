"""One benchmark variant in its own process (so its peak RSS is its own): tokenize, train, evaluate, measure.

Run by bench_speed.py as `python bench/bench_worker.py SPEC_JSON RESULT_JSON`; not meant to be run by hand.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHECKPOINT_PREFIX = "checkpoint-"


def tree_bytes(path: Path) -> int:
    """Bytes of all files under `path` (0 when it does not exist)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) if Path(path).exists() else 0


def checkpoints_bytes(output_dir: Path) -> int:
    """Bytes of every checkpoint folder under `output_dir`."""
    return sum(tree_bytes(p) for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*"))


def make_probe(output_dir: Path):
    """A TrainerCallback timing evaluation and saving inside `train()` and tracking checkpoint disk use."""
    from transformers import TrainerCallback

    class Probe(TrainerCallback):
        """Wall and CPU time of in-training evaluation and saving; peak/final/total checkpoint bytes."""

        def __init__(self):
            self.eval_s = self.save_s = self.eval_cpu_s = self.save_cpu_s = 0.0
            self.mark, self.cpu_mark = time.perf_counter(), cpu_seconds()
            self.on_disk = self.peak = self.written = 0
            self.saves = 0

        def lap(self) -> tuple[float, float]:
            """Wall and CPU seconds since the last mark; moves the mark."""
            now, cpu = time.perf_counter(), cpu_seconds()
            wall, used = now - self.mark, cpu - self.cpu_mark
            self.mark, self.cpu_mark = now, cpu
            return wall, used

        def on_epoch_end(self, args, state, control, **kwargs):
            self.lap()

        def on_evaluate(self, args, state, control, **kwargs):
            wall, cpu = self.lap()
            self.eval_s, self.eval_cpu_s = self.eval_s + wall, self.eval_cpu_s + cpu

        def on_save(self, args, state, control, **kwargs):
            wall, cpu = self.lap()
            self.save_s, self.save_cpu_s = self.save_s + wall, self.save_cpu_s + cpu
            newest = max(Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*"), key=lambda p: int(p.name.split("-")[-1]))
            new = tree_bytes(newest)
            self.peak = max(self.peak, self.on_disk + new)  # the new checkpoint is written before old ones rotate out
            self.written += new
            self.on_disk = checkpoints_bytes(output_dir)
            self.saves += 1
            self.lap()

    return Probe()


def seed_compute_metrics(task):
    """The seed notebook's compute_metrics: argmax (or the score for STS-B), then the GLUE metric."""
    from glue_helpers.metrics import load_glue_metric

    metric = load_glue_metric(task)

    def compute_metrics(eval_pred):
        predictions, labels = eval_pred
        predictions = predictions[:, 0] if task.is_regression else np.argmax(predictions, axis=1)
        return metric.compute(predictions=predictions, references=labels)

    return compute_metrics


def seed_tokenize(raw, task, tokenizer):
    """The seed notebook's preprocess_function mapped over every split (it keeps the raw columns)."""
    cols = task.text_columns

    def preprocess_function(examples):
        return tokenizer(*[examples[c] for c in cols], truncation=True)

    return raw.map(preprocess_function, batched=True)


def seed_trainer(spec, task, model, tokenizer, encoded, output_dir, probe):
    """A faithful port of HF's text_classification notebook Trainer (push_to_hub off: no network)."""
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        str(output_dir),
        eval_strategy="epoch",
        save_strategy="epoch",
        learning_rate=2e-5,
        per_device_train_batch_size=spec.get("train_batch_size") or 16,
        per_device_eval_batch_size=16,
        num_train_epochs=spec["epochs"],
        weight_decay=0.01,
        load_best_model_at_end=True,
        metric_for_best_model=task.primary_metric,
        report_to="none",
        seed=spec["seed"],
        **spec.get("args", {}),
    )
    return Trainer(model, args, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                   processing_class=tokenizer, compute_metrics=seed_compute_metrics(task), callbacks=[probe])


def seed_setup(spec, task, raw, output_dir, probe):
    """Tokenizer, model and Trainer the way the seed notebook builds them."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    encoded, tok_s = timed_twice(lambda: seed_tokenize(raw, task, tokenizer))
    set_seed(spec["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(spec["model"], num_labels=task.num_labels)
    return seed_trainer(spec, task, model, tokenizer, encoded, output_dir, probe), tok_s


def package_setup(spec, task, raw, output_dir, probe):
    """Tokenizer, model and Trainer from glue_helpers' defaults (plus this variant's overrides)."""
    from dataclasses import fields

    from transformers import Trainer, set_seed

    from glue_helpers.data import label_names_of
    from glue_helpers.metrics import make_compute_metrics
    from glue_helpers.modeling import load_model, load_tokenizer, make_data_collator, tokenize_dataset
    from glue_helpers.recipe import Recipe
    from glue_helpers.training import GlueTrainer, training_arguments

    tokenizer = load_tokenizer(spec["model"])
    encoded, tok_s = timed_twice(lambda: tokenize_dataset(raw, task, tokenizer))
    set_seed(spec["seed"])
    model = load_model(spec["model"], task, label_names_of(raw["train"]))
    # a variant's "args" may hold recipe knobs (precision) and TrainingArguments overrides (the rest)
    knobs = {f.name for f in fields(Recipe)}
    variant = spec.get("args", {})
    batch = {"batch_size": spec["train_batch_size"]} if spec.get("train_batch_size") else {}
    recipe = Recipe(num_train_epochs=spec["epochs"], seed=spec["seed"], **batch,
                    **{k: v for k, v in variant.items() if k in knobs})
    args = training_arguments(task, str(output_dir), recipe, **{k: v for k, v in variant.items() if k not in knobs})
    trainer_cls = Trainer if spec.get("trainer") == "plain" else GlueTrainer
    extra = {} if trainer_cls is Trainer else spec.get("trainer_args", {})
    trainer = trainer_cls(model=model, args=args, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                          processing_class=tokenizer, data_collator=make_data_collator(tokenizer),
                          compute_metrics=make_compute_metrics(task), callbacks=[probe], **extra)
    return trainer, tok_s


def timed_twice(fn):
    """Run `fn` twice: the first run fills the datasets cache, the second shows what reusing it costs."""
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter()
    out = fn()
    return out, {"tokenize_cold_s": t1 - t0, "tokenize_warm_s": time.perf_counter() - t1}


def torch_threads() -> int:
    """The number of threads torch computes with."""
    import torch

    return torch.get_num_threads()


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (e.g. data-loader workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def gpu_peak_mb() -> float:
    """Peak GPU memory allocated by this process (0 without a GPU)."""
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0


def precision_in_effect(args) -> dict:
    """The precision flags the Trainer ran with."""
    return {"bf16": bool(args.bf16), "fp16": bool(args.fp16), "tf32": bool(getattr(args, "tf32", None))}


def epoch_metrics(log_history: list[dict], primary: str) -> list[float]:
    """The primary dev metric after each epoch, from the Trainer's log."""
    return [round(e[f"eval_{primary}"], 4) for e in log_history if f"eval_{primary}" in e]


def run(spec: dict) -> dict:
    """Train and evaluate one variant; every figure the bench reports."""
    from glue_helpers.data import load_glue
    from glue_helpers.tasks import get_task

    if spec.get("threads"):
        import torch

        torch.set_num_threads(spec["threads"])
    task = get_task(spec["task"])
    raw = load_glue(task, spec["data_dir"], max_train_samples=spec["max_train_samples"],
                    max_eval_samples=spec["max_eval_samples"], seed=spec["seed"], splits=("train", "validation"))
    work = Path(tempfile.mkdtemp(prefix=f"bench-{spec['variant']}-", dir=spec.get("work_dir")))
    output_dir = work / "out"
    probe = make_probe(output_dir)
    setup = seed_setup if spec["recipe"] == "seed" else package_setup
    trainer, tok_s = setup(spec, task, raw, output_dir, probe)
    load_before, cpu_before = os.getloadavg()[0], cpu_seconds()
    train = trainer.train().metrics
    train_cpu_s, load_after = cpu_seconds() - cpu_before, os.getloadavg()[0]
    final_disk = checkpoints_bytes(output_dir)
    per_epoch = epoch_metrics(trainer.state.log_history, task.primary_metric)
    ev = trainer.evaluate()
    n_train = len(raw["train"]) * spec["epochs"]
    pure_s = train["train_runtime"] - probe.eval_s - probe.save_s
    result = {
        **tok_s,
        "train_samples_per_second": train["train_samples_per_second"],
        "train_runtime_s": train["train_runtime"],
        "train_loop_samples_per_second": n_train / pure_s,
        "train_samples_per_cpu_second": n_train / train_cpu_s,
        "train_loop_samples_per_cpu_second": n_train / (train_cpu_s - probe.eval_cpu_s - probe.save_cpu_s),
        "load_average_1min": [load_before, load_after],
        "in_train_eval_s": probe.eval_s,
        "in_train_save_s": probe.save_s,
        "eval_samples_per_second": ev["eval_samples_per_second"],
        "dev_metric": ev[f"eval_{task.primary_metric}"],
        "dev_metric_per_epoch": per_epoch,
        "primary_metric": task.primary_metric,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": gpu_peak_mb(),
        "precision": precision_in_effect(trainer.args),
        "checkpoint_peak_bytes": probe.peak,
        "checkpoint_final_bytes": final_disk,
        "checkpoint_written_bytes": probe.written,
        "checkpoints_saved": probe.saves,
        "torch_threads": torch_threads(),
        "train_batch_size": trainer.args.per_device_train_batch_size,
        "train_rows": len(raw["train"]),
        "eval_rows": len(raw["validation"]),
    }
    shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: list[str]) -> int:
    """Read the spec, run it, write the result."""
    spec = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps(run(spec), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
