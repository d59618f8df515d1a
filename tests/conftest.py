"""Shared fixtures: every test runs offline on the kit that the tests build themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """The offline kit, built fresh once per test session (per xdist worker) and shared with notebook runs
    through $GLUE_HELPERS_KIT."""
    from glue_helpers.offline_kit import ensure_kit

    kit = ensure_kit(tmp_path_factory.mktemp("kit") / "kit")
    os.environ["GLUE_HELPERS_KIT"] = str(kit.root)
    return kit


def pytest_collection_modifyitems(items):
    """Every notebook test is slow too, so `-m "not slow"` is the fast suite."""
    for item in items:
        if item.get_closest_marker("notebook"):
            item.add_marker(pytest.mark.slow)
