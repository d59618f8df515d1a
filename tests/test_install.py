"""From a wheel, not the checkout: `batch` and `search` run notebooks 01 and 02 as the package ships them, from an
empty folder outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list, cwd: Path, env: dict | None = None) -> str:
    """Run a command; its output, or a failure showing it."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory) -> Path:
    """A fresh venv holding the package installed from a wheel; the libraries it needs come from the test's own
    environment through a .pth file (so no download), but not the checkout's glue_helpers."""
    root = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", root / "dist", REPO],
        root)
    [wheel] = (root / "dist").glob("glue_helpers-*.whl")
    run([sys.executable, "-m", "venv", "--without-pip", root / "venv"], root)
    python = root / "venv" / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root).strip())
    (site / "test-libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel], root)
    return python


@pytest.mark.slow
def test_batch_and_search_run_from_a_wheel_in_an_empty_folder(kit, wheel_python, tmp_path):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    where = run([wheel_python, "-c", "import glue_helpers; print(glue_helpers.__file__)"], empty, env)
    assert str(REPO) not in where and "site-packages" in where  # the wheel's copy, not the checkout's
    printed = run([wheel_python, "-m", "glue_helpers", "batch", "--smoke", "--tasks", "mrpc", "--no-progress"], empty,
                  env)
    run_folder = empty / "runs" / "batch" / "mrpc"
    assert json.loads((run_folder / "metrics.json").read_text())["task"] == "mrpc"
    assert "site-packages" in json.loads((empty / "runs" / "batch" / "batch.json").read_text())["notebook"]
    assert (run_folder / "01_text_classification.ipynb").is_file() and "mrpc" in printed
    printed = run([wheel_python, "-m", "glue_helpers", "search", "--smoke", "--task", "mrpc", "--n-trials", "2"],
                  empty, env)
    assert "running up to" in printed and list((empty / "runs" / "mrpc-search").glob("02_*.ipynb"))
