"""Shared fixtures: every test runs offline on the kit that the tests build themselves."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Each xdist worker, and every kernel and command it starts, gets its share of the cores. torch's default (a thread
# per core in each process) oversubscribes them: with `-n 2` on 2 cores the notebook tests ran about 5x slower.
if (workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))

# Every cache the libraries write (datasets' Arrow files and locks, evaluate's metrics) goes to a folder of this test
# process's own, removed when it ends: the suite leaves nothing in the user's ~/.cache/huggingface.
HF_HOME = Path(tempfile.mkdtemp(prefix="glue-tests-hf-"))
for name in ("HF_DATASETS_CACHE", "HF_EVALUATE_CACHE", "HF_METRICS_CACHE", "HF_MODULES_CACHE", "HF_HUB_CACHE"):
    os.environ.pop(name, None)
os.environ["HF_HOME"] = str(HF_HOME)

REPO = Path(__file__).resolve().parents[1]
# For papermill: it saves the executed notebook after every cell (a batch run's copy shows where it stopped), about 3 s
# of CPU per run; a test reads it once, when the run has finished or failed (papermill saves it then too).
ONE_SAVE = {"request_save_on_cell_execute": False}
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """The offline kit, built fresh once per test session (per xdist worker) and shared with notebook runs
    through $GLUE_HELPERS_KIT."""
    from glue_helpers.offline_kit import ensure_kit

    kit = ensure_kit(tmp_path_factory.mktemp("kit") / "kit")
    os.environ["GLUE_HELPERS_KIT"] = str(kit.root)
    return kit


@pytest.fixture
def clean_env(monkeypatch):
    """No tracking variable set before the test, and whatever the test sets undone after it."""
    from test_tracking import TRACKING_VARS

    for name in TRACKING_VARS:
        monkeypatch.setenv(name, "x")  # recorded, so monkeypatch restores the original state at teardown
        monkeypatch.delenv(name)


# The files with the longest tests (1-3 minutes each: a search and its re-check, Ray, a wheel), run first.
LONGEST = ("test_search.py", "test_notebook03.py", "test_search_ray.py", "test_install.py", "test_notebook02.py")


def pytest_collection_modifyitems(items):
    """Every notebook test is slow too, so `-m "not slow"` is the fast suite. The longest tests run first, then the
    other slow ones: with `-n 2` (work stealing, pyproject's addopts) no long test starts last while the other
    worker sits idle."""
    for item in items:
        if item.get_closest_marker("notebook"):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: (item.path.name not in LONGEST, item.get_closest_marker("slow") is None))  # stable


def pytest_unconfigure(config):
    """The caches of this test process go with it."""
    shutil.rmtree(HF_HOME, ignore_errors=True)
