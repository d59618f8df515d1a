"""GPU check: the seed recipe against the package defaults on a DistilBERT-sized model built from its config.

    python bench/bench_gpu.py --tokenizer TOKENIZER_DIR --data-dir GLUE_DIR --task sst2 --max-train-samples 8000

Builds `DistilBertConfig()` (66M parameters, randomly initialised: no Hub needed) with the given BERT-uncased
tokenizer into a temporary model folder, then runs bench_speed.py's "seed" and "package" variants on it (each in its
own process, alternating over --repeats rounds). Train samples/s, peak GPU memory and the precision flags in effect
are the figures; the dev metric of a from-scratch model is a sanity check, not an accuracy claim.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_speed  # noqa: E402


def build_model(tokenizer_dir: str, out: Path) -> Path:
    """A DistilBERT-base-sized model from its config, saved with the tokenizer as a model folder."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel, set_seed

    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = DistilBertModel(DistilBertConfig(vocab_size=tokenizer.vocab_size))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv=None) -> int:
    """Build the model, run the seed and package variants, print the table with GPU figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokenizer", required=True, help="folder of a BERT-uncased tokenizer (vocab.txt, tokenizer.json)")
    p.add_argument("--data-dir", required=True, help="local GLUE folder in the nyu-mll/glue layout")
    p.add_argument("--task", default="sst2")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-train-samples", type=int, default=8000)
    p.add_argument("--max-eval-samples", type=int, default=None)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--variants", default="seed,package", help="bench_speed.py variants (default seed,package)")
    p.add_argument("--output", required=True, help="result JSON")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="distilbert-init-") as tmp:
        model = build_model(args.tokenizer, Path(tmp) / "model")
        bench_speed.main(["--task", args.task, "--model", str(model), "--data-dir", args.data_dir,
                          "--epochs", str(args.epochs), "--max-train-samples", str(args.max_train_samples),
                          *(["--max-eval-samples", str(args.max_eval_samples)] if args.max_eval_samples else []),
                          "--repeats", str(args.repeats), "--variants", args.variants, "--output", args.output])
    report = json.loads(Path(args.output).read_text())
    for name, runs in report["tasks"][args.task]["runs"].items():
        print(f"{name}: precision {runs[0]['precision']}, peak GPU memory "
              f"{[round(r['peak_gpu_mb']) for r in runs]} MB, train samples/s "
              f"{[round(r['train_samples_per_second'], 1) for r in runs]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
