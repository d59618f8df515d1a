"""From a wheel, not the checkout: `batch` and `search` run notebooks 01 and 02 as the package ships them, from an
empty folder outside the repository. It runs where the package is installed from a wheel: `.ci/compat colab`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import glue_helpers

REPO = Path(__file__).resolve().parents[1]
FROM_A_WHEEL = "site-packages" in glue_helpers.__file__


def run(cmd: list, cwd: Path) -> str:
    """Run this interpreter with `cmd` from `cwd`, the checkout off the path; its output, or a failure showing it."""
    proc = subprocess.run([sys.executable, *map(str, cmd)], cwd=cwd, env={**os.environ, "PYTHONPATH": ""},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not FROM_A_WHEEL, reason="needs glue_helpers installed from a wheel: .ci/compat colab")
def test_batch_and_search_run_from_a_wheel_in_an_empty_folder(kit, tmp_path):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    where = run(["-c", "import glue_helpers; print(glue_helpers.__file__)"], empty)
    assert "site-packages" in where and not Path(where.strip()).is_relative_to(REPO / "glue_helpers")  # the wheel's
    printed = run(["-m", "glue_helpers", "batch", "--smoke", "--tasks", "mrpc", "--no-progress"], empty)
    run_folder = empty / "runs" / "batch" / "mrpc"
    assert json.loads((run_folder / "metrics.json").read_text())["task"] == "mrpc"
    assert "site-packages" in json.loads((empty / "runs" / "batch" / "batch.json").read_text())["notebook"]
    assert (run_folder / "01_text_classification.ipynb").is_file() and "mrpc" in printed
    printed = run(["-m", "glue_helpers", "search", "--smoke", "--task", "mrpc", "--n-trials", "2"], empty)
    assert "running up to" in printed and list((empty / "runs" / "mrpc-search").glob("02_*.ipynb"))
