"""glue_helpers.compare and `python -m glue_helpers compare`, on hand-made run folders (no training)."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from glue_helpers import stats
from glue_helpers.batch.compare import compare_runs, find_runs, notes, write_compare
from glue_helpers.errors import GlueHelpersError
from glue_helpers.metrics import glue_metric
from glue_helpers.tasks import get_task


def write_run(folder, task, labels, predictions, idx=None, seed=42):
    """A run folder as notebook 01 / train leave it: metrics.json and validation_predictions.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    idx = range(len(labels)) if idx is None else idx
    task = get_task(task)
    metrics = glue_metric(task, predictions, labels)
    (folder / "metrics.json").write_text(json.dumps({
        "task": task.name, "model": "tiny", "seed": seed, "metrics": metrics, "primary_metric": task.primary_metric,
        "primary_metric_value": metrics[task.primary_metric], "precision": "fp32", "learning_rate": 2e-5}))
    rows = [{"idx": int(i), "label": y, "prediction": p}
            for i, y, p in zip(idx, np.asarray(labels).tolist(), np.asarray(predictions).tolist(), strict=True)]
    (folder / "validation_predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def classes(n, accuracy, seed, labels=None):
    """Binary labels (or the given ones) and predictions right about `accuracy` of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n) if labels is None else labels
    return labels, np.where(rng.random(n) < accuracy, labels, 1 - labels)


LABELS = np.random.default_rng(0).integers(0, 2, 200)


def test_a_run_against_itself_and_a_collapsed_run_against_a_learned_one(tmp_path):
    run = write_run(tmp_path / "a", "mrpc", *classes(200, 0.8, 1, LABELS))
    table = compare_runs(run, run, n_resamples=200)
    row = table.iloc[0]
    assert (row.task, row.metric, row.n_examples, row.pairs) == ("mrpc", "accuracy", 200, 1)
    assert row["diff"] == 0 and row.ci_low == row.ci_high == 0  # the same rows: every resampled difference is 0
    assert (row.mcnemar_b, row.mcnemar_c, row.mcnemar_p, row.verdict) == (0, 0, 1.0, "no clear difference")
    md, csv = write_compare(table, tmp_path / "out")
    assert md.name == "compare.md" and "| mrpc | accuracy | 200 |" in md.read_text()
    assert pd.read_csv(csv)["diff"].tolist() == [0.0]
    # degenerate runs are counted and said
    a = write_run(tmp_path / "majority", "cola", LABELS, np.ones_like(LABELS))  # majority class: MCC 0
    b = write_run(tmp_path / "learned", "cola", *classes(200, 0.9, 3, LABELS))
    table = compare_runs(a, b, n_resamples=100)
    assert (table.score_a[0], table.degenerate_a[0], table.degenerate_b[0]) == (0.0, 1, 0)
    said = [line for line in notes(table) if "collapsed" in line]
    assert said == ["cola: A collapsed on every run (no better than the majority class): the verdict says B learned "
                    "the task, not that B is the better recipe."]
    assert not [line for line in notes(compare_runs(b, b, n_resamples=100)) if "collapsed" in line]


def test_a_better_run_and_its_paired_bootstrap_interval(tmp_path):
    labels, worse = classes(200, 0.6, 1, LABELS)
    _, better = classes(200, 0.9, 2, LABELS)
    a, b = write_run(tmp_path / "a", "sst2", labels, worse), write_run(tmp_path / "b", "sst2", labels, better)
    row = compare_runs(a, b, n_resamples=300, seed=4).iloc[0]
    # By hand: B's accuracy minus A's on the same resampled rows for both runs, and the middle 95% of those.
    hand = [(better[r] == labels[r]).mean() - (worse[r] == labels[r]).mean()
            for r in stats.resample_indices(200, 300, seed=4)]
    assert row["diff"] == pytest.approx((better == labels).mean() - (worse == labels).mean())
    assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.percentile(hand, [2.5, 97.5])), abs=1e-12)
    assert 0 < row.ci_low < row["diff"] < row.ci_high
    assert row.score_b - row.score_a == pytest.approx(row["diff"]) and row.verdict == "B better"
    assert row.mcnemar_p < 0.001 and row.mcnemar_c > row.mcnemar_b
    assert compare_runs(b, a, n_resamples=300, seed=4).iloc[0].verdict == "A better"


def test_runs_on_other_rows_are_refused(tmp_path):
    labels, preds = classes(200, 0.8, 1, LABELS)
    a = write_run(tmp_path / "a", "cola", labels, preds)
    shifted = write_run(tmp_path / "shifted", "cola", labels, preds, idx=[*range(17), *range(18, 201)])
    with pytest.raises(GlueHelpersError, match=r"a/validation_predictions.jsonl and .*shifted/validation_predictions"
                                               r".jsonl did not score the same validation rows: first differing idx "
                                               r"at row 17: 17 vs 18"):
        compare_runs(a, shifted)
    shorter = write_run(tmp_path / "shorter", "cola", labels[:150], preds[:150])
    with pytest.raises(GlueHelpersError, match="200 vs 150 rows; the shorter one stops before idx 150"):
        compare_runs(a, shorter)
    relabelled = write_run(tmp_path / "relabelled", "cola", np.r_[labels[:5], 1 - labels[5:]], preds)
    with pytest.raises(GlueHelpersError, match="the label of idx 5 is"):
        compare_runs(a, relabelled)


def test_missing_or_damaged_files_and_ambiguous_folders_are_clear_errors(tmp_path):
    a = write_run(tmp_path / "a", "cola", *classes(50, 0.8, 1))
    b = write_run(tmp_path / "b", "cola", *classes(50, 0.8, 1))
    (b / "validation_predictions.jsonl").unlink()
    with pytest.raises(GlueHelpersError, match=f"No validation predictions at {b / 'validation_predictions.jsonl'}"):
        compare_runs(a, b)
    (b / "validation_predictions.jsonl").write_text('{"idx": 0, "label": 1}\n')
    with pytest.raises(GlueHelpersError, match="line 1: expected a JSON object with idx, label and prediction"):
        compare_runs(a, b)
    with pytest.raises(GlueHelpersError, match="holds two runs of task 'cola'"):
        compare_runs(a, tmp_path)  # a folder of runs of one task is not a batch: which one to compare?
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlueHelpersError, match="No runs found in .*empty: expected"):
        find_runs(tmp_path / "empty")
    grid = tmp_path / "grid"  # the top folder of a grid names its models
    for model in ("bert-base-cased", "distilbert-base-uncased"):
        write_run(grid / model / "mrpc" / "seed-1", "mrpc", *classes(50, 0.8, 1))
    with pytest.raises(GlueHelpersError, match="a grid of models \\(bert-base-cased, distilbert-base-uncased\\): "
                                               "compare two of them"):
        compare_runs(grid, grid)
    assert compare_runs(grid / "bert-base-cased", grid / "distilbert-base-uncased").iloc[0].pairs == 1


def seed_batch(root, seeds, accuracy, tasks=("cola",)):
    for task in tasks:
        for seed in seeds:
            write_run(root / task / f"seed-{seed}", task, *classes(200, accuracy + seed / 100, seed, LABELS), seed=seed)
    return root


def test_seed_folders_are_paired_by_seed_and_a_single_run_with_every_seed(tmp_path):
    a, b = seed_batch(tmp_path / "a", [1, 2, 3], 0.6), seed_batch(tmp_path / "b", [2, 3, 4], 0.8)
    assert list(find_runs(a)["cola"]) == [1, 2, 3]
    row = compare_runs(a, b, n_resamples=200).iloc[0]
    assert (row.runs_a, row.runs_b, row.pairs) == (2, 2, 2)  # seeds 2 and 3
    score = {(side, s): stats.primary_value(get_task("cola"), *classes(200, acc + s / 100, s, LABELS))
             for side, acc in (("a", 0.6), ("b", 0.8)) for s in (2, 3)}
    diffs = [score["b", s] - score["a", s] for s in (2, 3)]
    assert row.score_a == pytest.approx(np.median([score["a", 2], score["a", 3]]))
    assert row["diff"] == pytest.approx(row.score_b - row.score_a)
    assert (row.pair_diff_min, row.pair_diff_max) == pytest.approx((min(diffs), max(diffs)))
    assert row.pair_diff_std == pytest.approx(np.std(diffs, ddof=1))
    assert row.mcnemar_significant == "2/2" and row.verdict == "B better"
    with pytest.raises(GlueHelpersError, match=r"A has seeds \[1\], B has seeds \[4\], none in common"):
        compare_runs(seed_batch(tmp_path / "c", [1], 0.6), seed_batch(tmp_path / "d", [4], 0.6))
    old = tmp_path / "old"  # a batch of single runs against a seed batch
    write_run(old / "cola", "cola", *classes(200, 0.7, 9, LABELS))
    write_run(old / "stsb", "stsb", np.linspace(0, 5, 200), np.linspace(0, 5, 200) ** 1.5)
    new = seed_batch(tmp_path / "new", [1, 2, 3], 0.7, tasks=("cola", "rte"))
    table = compare_runs(old, new, n_resamples=100)
    assert (table.task.tolist(), table.runs_a[0], table.runs_b[0], table.pairs[0]) == (["cola"], 1, 3, 3)
    assert table.attrs["only_a"] == ["stsb"] and table.attrs["only_b"] == ["rte"]
    stsb = compare_runs(old / "stsb", old).iloc[0]  # a run folder against the batch holding it
    assert stsb.metric == "pearson" and stsb["diff"] == stsb.degenerate_a == 0 and math.isnan(stsb.mcnemar_p)


def test_cli_prints_and_writes_the_table(tmp_path):
    a = seed_batch(tmp_path / "a", [1, 2], 0.6, tasks=("cola", "mrpc"))
    b = seed_batch(tmp_path / "b", [1, 2], 0.8, tasks=("cola", "mrpc"))
    out = subprocess.run([sys.executable, "-m", "glue_helpers", "compare", str(a), str(b), "--out",
                          str(tmp_path / "cmp"), "--resamples", "200", "--seed", "3"],
                         capture_output=True, text=True, check=True).stdout
    assert "cola" in out and "mrpc" in out and "B better" in out and "200 resamples, seed 3" in out
    assert pd.read_csv(tmp_path / "cmp" / "compare.csv").task.tolist() == ["cola", "mrpc"]
    assert "| cola | matthews_correlation |" in (tmp_path / "cmp" / "compare.md").read_text()
    bad = write_run(tmp_path / "bad", "cola", LABELS[:100], LABELS[:100])
    failed = subprocess.run([sys.executable, "-m", "glue_helpers", "compare", str(a / "cola" / "seed-1"), str(bad),
                             "--out", str(tmp_path / "cmp2")], capture_output=True, text=True)
    assert failed.returncode == 2 and "error: " in failed.stderr and "200 vs 100 rows" in failed.stderr
    assert not (tmp_path / "cmp2").exists()


def test_a_run_that_failed_after_writing_its_metrics_is_left_out_and_said(tmp_path):
    a = seed_batch(tmp_path / "a", [1, 2], 0.6, tasks=("cola", "rte"))
    b = seed_batch(tmp_path / "b", [1, 2], 0.8, tasks=("cola", "rte"))
    failed = [b / task / f"seed-{seed}" for task, seed in (("cola", 2), ("rte", 1), ("rte", 2))]
    for folder in failed:  # batch runs whose notebook wrote metrics.json, then failed in a later cell
        (folder / "parameters.yaml").write_text("{}\n")
        (folder / "status.json").write_text(json.dumps({"status": "failed", "error": "RuntimeError: boom (cell 30)"}))
    assert {task: list(runs) for task, runs in find_runs(b).items()} == {"cola": [1]}
    table = compare_runs(a, b, n_resamples=100)
    assert table.task.tolist() == ["cola"] and (table.runs_b[0], table.pairs[0]) == (1, 1)  # seed 1 only
    assert "only in A (not compared): rte" in notes(table)
    assert ("left out of B, as not succeeded (status.json): " + ", ".join(f"{f} (failed)" for f in failed)
            in notes(table))
    with pytest.raises(GlueHelpersError, match=re.escape(f"Left out, as not succeeded (status.json): {failed[1]} "
                                                         f"(failed), {failed[2]} (failed).")):
        compare_runs(a / "rte", b / "rte")  # the task's only runs failed: no run, said so
