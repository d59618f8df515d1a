"""Batch runs that are killed, or whose files are damaged: nothing lost, nothing mixed, nothing silently wrong."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from batch_helpers import BODY, PARAMETERS, children_of, hang, killed_at_exit, succeeded, wait_for, write_dummy_notebook
from test_tracking import scalars

from glue_helpers.batch.lock import LOCK, BatchLock, process_alive, run_lock
from glue_helpers.batch.plan import STATUS, make_plan
from glue_helpers.batch.runner import run_batch
from glue_helpers.cli import main
from glue_helpers.errors import GlueHelpersError


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "dummy.ipynb", PARAMETERS + '\nhang_on = ""\nhang_flag = ""',
                                hang("task") + BODY)


@pytest.mark.notebook
def test_kill_9_of_the_batch_leaves_no_notebook_running_and_a_rerun_redoes_only_the_unfinished_task(
        notebook, tmp_path, capsys):
    out, flag = tmp_path / "out", tmp_path / "hang"
    flag.touch()
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "cola", "rte", "--jobs", "2",
            "-p", "hang_on", "rte", "-p", "hang_flag", str(flag), "--no-progress"]
    with killed_at_exit(argv):
        wait_for(lambda: succeeded(out / "cola") and (out / "rte" / "kernel.pid").is_file()
                  and "tick" in (out / "rte" / "run.log").read_text(), what="cola to finish and rte to hang")
        wait_for(lambda: len(children_of(out)) >= 2, timeout=10, what="the lock to record papermill and its kernel")
    children = children_of(out)
    kernel = int((out / "rte" / "kernel.pid").read_text())
    assert kernel in {c["pid"] for c in children}
    cola_done = json.loads((out / "cola" / STATUS).read_text())["finished_at"]

    flag.unlink()  # the rerun, started at once: rte must not hang this time
    assert main(argv) == 0
    assert "skipped (already finished; --force to redo): cola" in capsys.readouterr().out
    assert not any(process_alive(c["pid"], c["create_time"]) for c in children) and not process_alive(kernel)
    assert json.loads((out / "cola" / STATUS).read_text())["finished_at"] == cola_done
    assert succeeded(out / "rte") and (out / "rte" / "dummy.failed-1.ipynb").is_file()
    log = (out / "rte" / "run.log").read_text()
    rerun = log[log.rindex("===== rte:", 0, log.rindex("===== rte:")):]
    assert "tick" in log and "tick" not in rerun and rerun.rstrip().endswith("succeeded =====")
    time.sleep(0.5)
    assert (out / "rte" / "run.log").read_text() == log  # nothing of the killed run writes any more
    assert not (out / LOCK).exists()


@pytest.mark.notebook
def test_sigterm_stops_the_batch_and_its_notebooks(notebook, tmp_path):
    out, flag = tmp_path / "out", tmp_path / "hang"
    flag.touch()
    with killed_at_exit(["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "rte", "-p", "hang_on",
                         "rte", "-p", "hang_flag", str(flag), "--no-progress"]) as parent:
        wait_for(lambda: (out / "rte" / "kernel.pid").is_file(), what="rte to hang")
        wait_for(lambda: len(children_of(out)) >= 2, timeout=10, what="the lock to record papermill and its kernel")
        children = children_of(out)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) != 0
    assert not any(process_alive(c["pid"], c["create_time"]) for c in children)
    status = json.loads((out / "rte" / STATUS).read_text())
    assert status["status"] == "failed" and "interrupted" in status["error"]
    assert not (out / LOCK).exists()


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["metrics.json", STATUS])
def test_a_truncated_result_file_is_reported_by_path_and_redone(notebook, tmp_path, capsys, name):
    out, folder = tmp_path / "out", tmp_path / "out" / "cola"
    run_batch(make_plan(notebook, out, ["cola"]), progress=False)
    assert succeeded(folder)
    damaged = folder / name
    cut = damaged.read_text()[:25]
    damaged.write_text(cut)  # a write cut short
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "cola", "--no-progress"]
    assert main([*argv, "--report-only"]) == 1
    captured = capsys.readouterr()
    assert f"corrupt: cola: {damaged} is not valid JSON" in captured.out and "Traceback" not in captured.err
    assert "cola,cola,,corrupt" in (out / "results.csv").read_text()
    assert str(damaged) in (out / "results.md").read_text()

    assert main(argv) == 0
    captured = capsys.readouterr()
    assert str(damaged) in captured.err and "skipped" not in captured.out
    assert f"redone: cola: {damaged} is not valid JSON" in captured.out
    assert succeeded(folder) and json.loads((folder / "metrics.json").read_text())["task"] == "cola"
    stem, suffix = name.split(".")
    assert (folder / f"{stem}.failed-1.{suffix}").read_text() == cut  # the damaged file is kept, not deleted
    assert "cola,cola,,succeeded" in (out / "results.csv").read_text()


@pytest.mark.parametrize("text", ["garbage", "", '{"host": "x"}', "[1, 2]"])
def test_a_malformed_lock_is_reported_with_its_path_and_how_to_clear_it(notebook, tmp_path, text, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK).write_text(text)
    with pytest.raises(GlueHelpersError) as err:
        run_batch(make_plan(notebook, out, ["cola"]), progress=False)
    assert str(out / LOCK) in str(err.value) and f"rm '{out / LOCK}'" in str(err.value)
    assert (out / LOCK).read_text() == text  # left for the user to judge
    assert main(["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "cola", "--no-progress"]) == 2
    assert "error: The batch lock" in capsys.readouterr().err


def test_a_lock_whose_batch_is_dead_but_whose_notebook_still_runs_is_not_taken(tmp_path, monkeypatch):
    monkeypatch.setattr("glue_helpers.batch.lock.ORPHAN_WAIT_S", 0.5)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "children": [
            {"pid": orphan.pid, "create_time": None}]}))
        with pytest.raises(GlueHelpersError, match=f"is gone, but its notebook process.*{orphan.pid}.* still write"):
            BatchLock(tmp_path).acquire()
    finally:
        orphan.kill()
        orphan.wait()
    with run_lock(tmp_path) as lock:  # once the notebook is gone, the stale lock is taken over
        assert json.loads((tmp_path / LOCK).read_text())["token"] == lock.record["token"]


def test_the_lock_names_its_owner_from_the_first_byte_and_only_one_taker_wins(tmp_path):
    winners, errors, barrier = [], [], threading.Barrier(6)

    def take():
        barrier.wait()
        try:
            winners.append(BatchLock(tmp_path).acquire())
        except GlueHelpersError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(errors) == 5 and all("Another batch" in e for e in errors)
    record = json.loads((tmp_path / LOCK).read_text())
    assert record["pid"] == os.getpid() and record["host"] and record["started_at"] and "children" in record
    winners[0].release()
    assert not (tmp_path / LOCK).exists() and not list(tmp_path.glob(f"{LOCK}.tmp-*"))


NOTEBOOK_01 = Path(__file__).resolve().parents[1] / "notebooks" / "01_text_classification.ipynb"


@pytest.mark.notebook
@pytest.mark.skipif(not NOTEBOOK_01.is_file(), reason="notebook 01 is not there")
def test_kill_9_of_a_smoke_batch_of_notebook_01_with_two_seeds_and_the_rerun(kit, tmp_path, capsys, clean_env):
    out = tmp_path / "out"
    argv = ["batch", "--notebook", str(NOTEBOOK_01), "--out", str(out), "--tasks", "rte", "--seeds", "1", "2",
            "-p", "smoke", "True", "-p", "num_train_epochs", "1", "-p", "write_leaderboard", "False",
            "-p", "report_to", "tensorboard", "--no-progress"]
    with killed_at_exit(argv):  # --jobs 1: seed 1 finishes, then seed 2's notebook starts and is killed
        wait_for(lambda: succeeded(out / "rte" / "seed-1") and (out / "rte" / "seed-2" / "run.log").is_file()
                  and len(children_of(out)) >= 2, timeout=300, what="seed 1 to finish and seed 2's kernel to start")
    children = children_of(out)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped (already finished; --force to redo): rte/seed-1\n" in printed
    assert not any(process_alive(c["pid"], c["create_time"]) for c in children)
    assert (out / "rte" / "seed-2" / "01_text_classification.failed-1.ipynb").is_file()
    summary = pd.read_csv(out / "results_summary.csv").set_index("task")
    assert summary["seeds"].to_dict() == {"rte": 2} and summary["failed"].sum() == 0
    runs = pd.read_csv(out / "results.csv")
    assert runs["run"].tolist() == ["rte/seed-1", "rte/seed-2"]
    assert summary.loc["rte", "median"] == pytest.approx(100 * runs["primary_value"].median())
    for seed in (1, 2):  # each seed's own metrics, and TensorBoard run (test_tracking) under one root the batch names
        record = json.loads((out / "rte" / f"seed-{seed}" / "metrics.json").read_text())
        assert (record["task"], record["seed"]) == ("rte", seed) and "degenerate" in record
        runs = list((out / "rte" / f"seed-{seed}" / "tracking" / "tensorboard").iterdir())
        assert [r.name.endswith(f"-seed{seed}") for r in runs] == [True]
        assert scalars(runs[0])["train/loss"]
    assert f"tensorboard --logdir {out}" in printed
