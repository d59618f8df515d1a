"""GPU check: the seed recipe against the package defaults on a DistilBERT-sized model built from its config.

    python bench/bench_gpu.py --tokenizer TOKENIZER_DIR --data-dir GLUE_DIR --task sst2 --max-train-samples 8000

Builds `DistilBertConfig()` (66M parameters, randomly initialised: no Hub needed) with the given BERT-uncased
tokenizer into a temporary model folder, then runs bench_speed.py's variants on it (each in its own process,
alternating over --repeats rounds), once per --train-batch-sizes entry (one JSON per batch size). Train samples/s,
peak GPU memory and the precision flags in effect are the figures; the dev metric of a from-scratch model is a
sanity check, not an accuracy claim.
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


def autocast_probe(model_dir: Path, batch_sizes: list[int], seq_len: int = 64, steps: int = 30) -> list[dict]:
    """Training steps/s of the bare model (forward, backward, AdamW; no Trainer, no data loading) on random tokens:
    fp32 with TF32 against bf16 autocast, to tell the precision's own cost from the Trainer's."""
    import time

    import torch
    from transformers import AutoModelForSequenceClassification

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    rows = []
    for batch in batch_sizes:
        for precision in ("fp32", "bf16"):
            model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2).cuda()
            optim = torch.optim.AdamW(model.parameters(), lr=1e-5)
            ids = torch.randint(1000, 20000, (batch, seq_len), device="cuda")
            labels = torch.randint(0, 2, (batch,), device="cuda")
            for i in range(steps + 5):  # 5 warm-up steps
                if i == 5:
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
                    loss = model(input_ids=ids, labels=labels).loss
                loss.backward()
                optim.step()
                optim.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            rows.append({"batch": batch, "seq_len": seq_len, "precision": precision,
                         "steps_per_s": steps / (time.perf_counter() - t0)})
            print(f"probe batch {batch} x {seq_len}, {precision}: {rows[-1]['steps_per_s']:.1f} steps/s", flush=True)
            del model, optim
    return rows


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
    p.add_argument("--train-batch-sizes", default="16", help="comma-separated; one bench_speed run each")
    p.add_argument("--probe-only", action="store_true",
                   help="only time bare training steps (fp32+TF32 vs bf16 autocast) at each batch size")
    p.add_argument("--output", required=True, help="result JSON (with several batch sizes: <stem>-b<N>.json each)")
    args = p.parse_args(argv)
    sizes = [int(b) for b in args.train_batch_sizes.split(",") if b.strip()]
    out = Path(args.output)
    outputs = {b: out if len(sizes) == 1 else out.with_name(f"{out.stem}-b{b}{out.suffix}") for b in sizes}
    with tempfile.TemporaryDirectory(prefix="distilbert-init-") as tmp:
        model = build_model(args.tokenizer, Path(tmp) / "model")
        if args.probe_only:
            out.write_text(json.dumps(autocast_probe(model, sizes), indent=1))
            return 0
        for batch, path in outputs.items():
            bench_speed.main(["--task", args.task, "--model", str(model), "--data-dir", args.data_dir,
                              "--epochs", str(args.epochs), "--max-train-samples", str(args.max_train_samples),
                              *(["--max-eval-samples", str(args.max_eval_samples)] if args.max_eval_samples else []),
                              "--repeats", str(args.repeats), "--variants", args.variants,
                              "--train-batch-size", str(batch), "--output", str(path)])
    for batch, path in outputs.items():
        report = json.loads(path.read_text())
        for name, runs in report["tasks"][args.task]["runs"].items():
            print(f"batch {batch}, {name}: precision {runs[0]['precision']}, peak GPU memory "
                  f"{[round(r['peak_gpu_mb']) for r in runs]} MB, train samples/s (steps only) "
                  f"{[round(r['train_loop_samples_per_second'], 1) for r in runs]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
