"""`batch --executor ray` on a local Ray cluster: the same results as the local executor, a run whose kernel or
worker dies fails alone and is the only one a rerun redoes, and an --out the workers can't see is refused first."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from batch_helpers import GRID_BODY, GRID_PARAMETERS, write_dummy_notebook

from glue_helpers.batch import ray_executor
from glue_helpers.batch.lock import process_alive
from glue_helpers.batch.plan import MANIFEST, STATUS
from glue_helpers.cli import main

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.notebook
RAY = ["--executor", "ray", "--cpus-per-run", "1", "--no-progress"]
TIMING = ["wall_s"]  # the only column that may differ between two executors


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray cluster for this module, shut down after it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024**2)
    yield
    ray.shutdown()


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "grid.ipynb", GRID_PARAMETERS, GRID_BODY)


def _status(folder: Path) -> dict:
    return json.loads((folder / STATUS).read_text())


def test_a_grid_on_ray_gives_the_local_executors_results(cluster, notebook, tmp_path):
    base = ["batch", "--notebook", str(notebook), "--tasks", "rte", "cola", "mrpc", "--seeds", "1", "2"]
    assert main([*base, "--out", str(tmp_path / "local"), "--jobs", "2", "--no-progress"]) == 0
    assert main([*base, "--out", str(tmp_path / "ray"), *RAY]) == 0
    local, on_ray = (pd.read_csv(tmp_path / side / "results.csv").drop(columns=TIMING) for side in ("local", "ray"))
    assert len(on_ray) == 6 and on_ray["status"].eq("succeeded").all()
    pd.testing.assert_frame_equal(local, on_ray)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local" / "results_summary.csv"),
                                  pd.read_csv(tmp_path / "ray" / "results_summary.csv"))
    assert _status(tmp_path / "ray" / "mrpc" / "seed-2")["parameters"]["seed"] == 2


def _kill_when_hanging(out: Path, errors: list, kernels: list) -> None:
    """Kill rte seed 1's kernel, and the Ray worker running cola seed 2 (papermill's parent), once both hang."""
    try:
        deadline = time.monotonic() + 120
        pids = {run: out / run / "kernel.pid" for run in ("rte/seed-1", "cola/seed-2")}
        while not all(p.is_file() for p in pids.values()):
            assert time.monotonic() < deadline, "the runs did not hang"
            time.sleep(0.1)
        kernels += [(int(p.read_text()), psutil.Process(int(p.read_text())).create_time()) for p in pids.values()]
        os.kill(kernels[0][0], signal.SIGKILL)
        papermill = psutil.Process(kernels[1][0]).parent()
        papermill.parent().kill()  # the Ray worker: its papermill dies with it (and the kernel with papermill)
    except BaseException as err:  # noqa: BLE001 - reported by the test
        errors.append(err)


def test_a_killed_kernel_or_worker_fails_its_run_only_and_a_rerun_redoes_only_those(cluster, notebook, tmp_path,
                                                                                      capsys):
    out, flag = tmp_path / "out", tmp_path / "hang"
    flag.touch()
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "rte", "cola", "--seeds", "1", "2",
            "-p", "hang_on", "rte-1,cola-2", "-p", "hang_flag", str(flag), *RAY]
    errors: list = []
    kernels: list = []
    killer = threading.Thread(target=_kill_when_hanging, args=(out, errors, kernels))
    killer.start()
    assert main(argv) == 1
    killer.join()
    assert not errors, errors
    deadline = time.monotonic() + 10  # the killed worker's papermill and kernel die with it
    while any(process_alive(*kernel) for kernel in kernels) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(process_alive(*kernel) for kernel in kernels)
    assert "died" in _status(out / "rte" / "seed-1")["error"].lower() or \
        "dead" in _status(out / "rte" / "seed-1")["error"].lower()
    assert "Ray worker" in _status(out / "cola" / "seed-2")["error"]
    assert (out / "rte" / "seed-1" / "grid.ipynb").is_file()  # the failed run keeps its executed notebook
    finished = {run: _status(out / run)["finished_at"] for run in ("rte/seed-2", "cola/seed-1")}

    flag.unlink()
    capsys.readouterr()
    assert main(argv) == 0
    assert "skipped (already finished; --force to redo): rte/seed-2, cola/seed-1" in capsys.readouterr().out
    assert {run: _status(out / run)["finished_at"] for run in finished} == finished
    assert (out / "rte" / "seed-1" / "grid.failed-1.ipynb").is_file()  # the failed attempt, set aside
    assert pd.read_csv(out / "results.csv")["status"].eq("succeeded").all()


def test_an_out_the_workers_cant_see_is_refused_before_any_run(cluster, notebook, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    elsewhere = tmp_path / "driver-view"
    elsewhere.mkdir()
    # The driver reads the probe back from another folder than the one the worker wrote: what it would see if --out
    # were a local disk of the worker's node.
    monkeypatch.setattr(ray_executor, "probe_path", lambda _out, token, node: elsewhere / f"{token}-{node}")
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "rte", *RAY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is not storage that every Ray node sees" in err and "that this machine does not see" in err
    assert not (out / "rte").exists() and not (out / MANIFEST).exists()
    assert not list(elsewhere.iterdir())
