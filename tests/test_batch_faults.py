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
from batch_helpers import BODY, PARAMETERS, succeeded, wait_for, write_dummy_notebook
from test_tracking import scalars

from glue_helpers.batch.lock import LOCK, BatchLock, process_alive, run_lock
from glue_helpers.batch.plan import STATUS, make_plan
from glue_helpers.batch.runner import run_batch
from glue_helpers.cli import main
from glue_helpers.errors import GlueHelpersError

REPO = Path(__file__).resolve().parents[1]
# The task named in hang_on writes its kernel's pid, then prints a tick every 0.1 s until it is killed; any tick
# in run.log after a rerun starts would be an orphan of the killed batch writing into the new run.
HANG = '''import os, pathlib, time
if task in hang_on.split(",") and pathlib.Path(hang_flag).exists():
    pathlib.Path(output_dir).mkdir(parents=True, exist_ok=True)
    (pathlib.Path(output_dir) / "kernel.pid").write_text(str(os.getpid()))
    while True:
        print("tick", flush=True)
        time.sleep(0.1)
'''


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "dummy.ipynb", PARAMETERS + '\nhang_on = ""\nhang_flag = ""',
                                HANG + BODY)


@pytest.mark.notebook
def test_kill_9_of_the_batch_leaves_no_notebook_running_and_a_rerun_redoes_only_the_unfinished_task(
        notebook, tmp_path, capsys):
    out, flag = tmp_path / "out", tmp_path / "hang"
    flag.touch()
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "cola", "rte", "--jobs", "2",
            "-p", "hang_on", "rte", "-p", "hang_flag", str(flag), "--no-progress"]
    parent = subprocess.Popen([sys.executable, "-m", "glue_helpers", *argv], cwd=REPO, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: succeeded(out / "cola") and (out / "rte" / "kernel.pid").is_file()
                  and "tick" in (out / "rte" / "run.log").read_text(), what="cola to finish and rte to hang")
        wait_for(lambda: len(json.loads((out / LOCK).read_text())["children"]) >= 2, timeout=10,
                  what="the lock to record papermill and its kernel")
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    children = json.loads((out / LOCK).read_text())["children"]
    kernel = int((out / "rte" / "kernel.pid").read_text())
    assert kernel in {c["pid"] for c in children}
    cola_done = json.loads((out / "cola" / STATUS).read_text())["finished_at"]

    flag.unlink()  # the rerun, started at once: rte must not hang this time
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped (already finished; --force to redo): cola" in printed
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
    parent = subprocess.Popen([sys.executable, "-m", "glue_helpers", "batch", "--notebook", str(notebook), "--out",
                               str(out), "--tasks", "rte", "-p", "hang_on", "rte", "-p", "hang_flag", str(flag),
                               "--no-progress"], cwd=REPO, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (out / "rte" / "kernel.pid").is_file(), what="rte to hang")
        wait_for(lambda: len(json.loads((out / LOCK).read_text())["children"]) >= 2, timeout=10,
                  what="the lock to record papermill and its kernel")
        children = json.loads((out / LOCK).read_text())["children"]
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) != 0
    finally:
        if parent.poll() is None:
            parent.kill()
    assert not any(process_alive(c["pid"], c["create_time"]) for c in children)
    status = json.loads((out / "rte" / STATUS).read_text())
    assert status["status"] == "failed" and "interrupted" in status["error"]
    assert not (out / LOCK).exists()


def _finished_task(out: Path, notebook: Path, task: str = "cola") -> Path:
    """Run one dummy task to the end; return its folder."""
    run_batch(make_plan(notebook, out, [task]), progress=False)
    assert succeeded(out / task)
    return out / task


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["metrics.json", STATUS])
def test_a_truncated_result_file_is_reported_by_path_and_redone(notebook, tmp_path, capsys, name):
    out = tmp_path / "out"
    folder = _finished_task(out, notebook)
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
            lock = BatchLock(tmp_path).acquire()
            winners.append(lock)
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


NOTEBOOK_01 = REPO / "notebooks" / "01_text_classification.ipynb"


@pytest.mark.notebook
@pytest.mark.skipif(not NOTEBOOK_01.is_file(), reason="notebook 01 is not there")
def test_kill_9_of_a_smoke_batch_of_notebook_01_with_two_seeds_and_the_rerun(kit, tmp_path, capsys, clean_env):
    out = tmp_path / "out"
    argv = ["batch", "--notebook", str(NOTEBOOK_01), "--out", str(out), "--tasks", "rte", "--seeds", "1", "2",
            "-p", "smoke", "True", "-p", "num_train_epochs", "1", "-p", "write_leaderboard", "False",
            "-p", "report_to", "tensorboard", "--no-progress"]
    parent = subprocess.Popen([sys.executable, "-m", "glue_helpers", *argv], cwd=REPO, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # --jobs 1: seed 1 finishes, then seed 2's notebook starts and is killed
        wait_for(lambda: succeeded(out / "rte" / "seed-1") and (out / "rte" / "seed-2" / "run.log").is_file()
                  and len(json.loads((out / LOCK).read_text())["children"]) >= 2, timeout=300,
                  what="seed 1 to finish and seed 2's kernel to start")
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    children = json.loads((out / LOCK).read_text())["children"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped (already finished; --force to redo): rte/seed-1\n" in printed
    assert not any(process_alive(c["pid"], c["create_time"]) for c in children)
    for seed in (1, 2):
        record = json.loads((out / "rte" / f"seed-{seed}" / "metrics.json").read_text())
        assert (record["task"], record["seed"]) == ("rte", seed) and "degenerate" in record
    assert (out / "rte" / "seed-2" / "01_text_classification.failed-1.ipynb").is_file()
    summary = pd.read_csv(out / "results_summary.csv").set_index("task")
    assert summary["seeds"].to_dict() == {"rte": 2} and summary["failed"].sum() == 0
    runs = pd.read_csv(out / "results.csv")
    assert runs["run"].tolist() == ["rte/seed-1", "rte/seed-2"]
    assert summary.loc["rte", "median"] == pytest.approx(100 * runs["primary_value"].median())
    # Tracking (test_tracking): each seed's own TensorBoard run, under one root the batch names.
    for seed in (1, 2):
        runs = list((out / "rte" / f"seed-{seed}" / "tracking" / "tensorboard").iterdir())
        assert [r.name.endswith(f"-seed{seed}") for r in runs] == [True]
        assert scalars(runs[0])["train/loss"]
    assert f"tensorboard --logdir {out}" in printed


def test_a_batch_config_with_a_python_tag_names_the_file(tmp_path):
    from glue_helpers.batch.plan import load_config

    cfg = tmp_path / "batch.yaml"
    cfg.write_text("parameters: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(GlueHelpersError, match=f"Config file {cfg}: not valid YAML"):
        load_config(cfg)
