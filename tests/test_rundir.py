"""The run folder: a new run never mixes with an old one, and an unwritable folder is a clear error."""

from __future__ import annotations

import os

import pytest

from glue_helpers.errors import GlueHelpersError
from glue_helpers.rundir import RunDir, write_json


def test_a_folder_with_another_runs_outputs_is_refused_then_replaced_with_overwrite(tmp_path):
    run = RunDir(tmp_path / "run").prepare()
    write_json(run.metrics, {"old": True})
    (run.checkpoints / "checkpoint-9").mkdir(parents=True)
    (run.root / "notes.txt").write_text("mine")
    with pytest.raises(GlueHelpersError, match=r"metrics\.json.*checkpoints.*overwrite=True"):
        RunDir(run.root).prepare()
    assert run.metrics.exists()
    RunDir(run.root).prepare(overwrite=True)
    assert not run.metrics.exists() and not run.checkpoints.exists()
    assert (run.root / "notes.txt").read_text() == "mine"  # only the run's own outputs go


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(GlueHelpersError, match="Can't write to output_dir"):
        RunDir(locked / "run").prepare()


def test_a_file_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "run").write_text("")
    with pytest.raises(GlueHelpersError, match="is a file, not a folder"):
        RunDir(tmp_path / "run").prepare()


def test_a_read_only_file_system_path_is_a_clear_error():
    with pytest.raises(GlueHelpersError, match="Can't write to output_dir"):
        RunDir("/proc/glue-helpers-run").prepare()
