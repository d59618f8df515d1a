"""The run folder: a new run never mixes with an old one, replaces it only once finished; bad folders are errors."""

import json
import os
from pathlib import Path

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.rundir import SWAPPING, UNFINISHED, RunDir, write_json


def finished_run(root, label: str) -> Path:
    run = RunDir(root).prepare(overwrite=True)
    run.model.mkdir(parents=True)
    (run.model / "config.json").write_text(label)
    (run.checkpoints / "checkpoint-9").mkdir(parents=True)
    write_json(run.metrics, {"run": label})
    run.finish()
    return root


def label(root) -> tuple:
    """What the folder holds: its metrics.json's run and its model's."""
    metrics, model = root / "metrics.json", root / "model" / "config.json"
    return (json.loads(metrics.read_text())["run"] if metrics.exists() else None,
            model.read_text() if model.exists() else None)


def test_a_folder_with_another_runs_outputs_is_refused_then_replaced_once_the_new_run_finishes(tmp_path):
    root = finished_run(tmp_path / "run", "old")
    (root / "notes.txt").write_text("mine")
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".run.lock")) == [
        "checkpoints", "metrics.json", "model", "notes.txt"]  # the new run's outputs moved in; unfinished/ is gone
    with pytest.raises(GlueHelpersError, match=r"metrics\.json.*checkpoints.*overwrite=True"):
        RunDir(root).prepare()
    new = RunDir(root).prepare(overwrite=True)
    assert new.metrics == root / UNFINISHED / "metrics.json"  # the new run writes beside the old one
    write_json(new.metrics, {"run": "new"})
    assert label(root) == ("old", "old")  # until it has finished
    new.finish()
    assert label(root) == ("new", None) and not (root / "checkpoints").exists()  # no old output mixes in
    assert (root / "notes.txt").read_text() == "mine" and not (root / UNFINISHED).exists()  # only the run's go


def test_a_run_that_fails_or_is_killed_leaves_the_old_run_as_it_was(tmp_path):
    root = finished_run(tmp_path / "run", "old")
    dead = RunDir(root).prepare(overwrite=True)
    (dead.model).mkdir()
    (dead.model / "config.json").write_text("half")  # then it fails (or is killed): no metrics.json, no finish
    assert label(root) == ("old", "old") and (root / "checkpoints" / "checkpoint-9").is_dir()
    again = RunDir(root).prepare(overwrite=True)  # the next run clears the dead run's unfinished/ only
    assert label(root) == ("old", "old") and not (again.model).exists()


def test_a_kill_while_the_finished_run_replaces_the_old_one_is_completed_by_the_next_run(tmp_path):
    root = finished_run(tmp_path / "run", "old")
    new = RunDir(root).prepare(overwrite=True)
    new.model.mkdir()
    (new.model / "config.json").write_text("new")
    write_json(new.metrics, {"run": "new"})
    write_json(root / SWAPPING, ["metrics.json", "model"])  # finish() began ...
    (root / ".replaced").mkdir()
    os.replace(root / "model", root / ".replaced" / "model")  # ... set the old model aside, and was killed
    RunDir(root).prepare(overwrite=True)  # the next run completes the swap first: the finished run wins
    assert label(root) == ("new", "new") and not (root / "checkpoints").exists()
    assert not (root / SWAPPING).exists() and not (root / ".replaced").exists()


def test_a_folder_that_holds_only_a_dead_runs_unfinished_outputs_is_free(tmp_path):
    dead = RunDir(tmp_path / "run").prepare()
    (dead.checkpoints / "checkpoint-1").mkdir(parents=True)
    assert RunDir(tmp_path / "run").existing_outputs() == []
    RunDir(tmp_path / "run").prepare()  # no overwrite needed: nothing finished there


@pytest.mark.parametrize("make, path, message", [
    pytest.param(lambda p: (p / "locked").mkdir(mode=0o500), "{tmp}/locked/run", "Can't write to output_dir",
                 id="unwritable-folder", marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")),
    pytest.param(lambda p: (p / "run").write_text(""), "{tmp}/run", "is a file, not a folder", id="file-in-the-way"),
    pytest.param(lambda p: None, "/proc/glue-helpers-run", "Can't write to output_dir", id="read-only-file-system"),
])
def test_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path, make, path, message):
    make(tmp_path)
    with pytest.raises(GlueHelpersError, match=message):
        RunDir(path.format(tmp=tmp_path)).prepare()
