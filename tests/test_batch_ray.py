"""`batch --executor ray`: the local executor's results; a run whose kernel or worker dies fails alone and is all a
rerun redoes; an --out the workers can't see is refused first."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import psutil
import pytest
from batch_helpers import GRID_BODY, GRID_PARAMETERS, read_json, wait_for, write_dummy_notebook

from glue_helpers.batch import ray_executor
from glue_helpers.batch.lock import process_alive
from glue_helpers.batch.plan import MANIFEST, STATUS
from glue_helpers.cli import main

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.notebook
RAY = ["--executor", "ray", "--cpus-per-run", "1", "--no-progress"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024**2)
    yield
    ray.shutdown()


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "grid.ipynb", GRID_PARAMETERS, GRID_BODY)


def _status(folder: Path) -> dict:
    return read_json(folder / STATUS)


def test_a_grid_on_ray_gives_the_local_executors_results(cluster, notebook, tmp_path):
    base = ["batch", "--notebook", str(notebook), "--tasks", "rte", "cola", "mrpc", "--seeds", "1", "2"]
    assert main([*base, "--out", str(tmp_path / "local"), "--jobs", "2", "--no-progress"]) == 0
    assert main([*base, "--out", str(tmp_path / "ray"), *RAY]) == 0
    local, on_ray = (pd.read_csv(tmp_path / side / "results.csv").drop(columns="wall_s") for side in ("local", "ray"))
    assert len(on_ray) == 6 and on_ray["status"].eq("succeeded").all()
    pd.testing.assert_frame_equal(local, on_ray)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local" / "results_summary.csv"),
                                  pd.read_csv(tmp_path / "ray" / "results_summary.csv"))
    assert _status(tmp_path / "ray" / "mrpc" / "seed-2")["parameters"]["seed"] == 2


def _kill_when_hanging(out: Path) -> list:
    """Kill rte seed 1's kernel, and the Ray worker running cola seed 2 (papermill's parent), once both hang."""
    pids = [out / run / "kernel.pid" for run in ("rte/seed-1", "cola/seed-2")]
    wait_for(lambda: all(p.is_file() for p in pids), what="the runs to hang")
    kernels = [(int(p.read_text()), psutil.Process(int(p.read_text())).create_time()) for p in pids]
    os.kill(kernels[0][0], signal.SIGKILL)
    psutil.Process(kernels[1][0]).parent().parent().kill()  # the Ray worker, papermill's parent: papermill dies with it
    return kernels


def test_a_killed_kernel_or_worker_fails_its_run_only_and_a_rerun_redoes_it(cluster, notebook, tmp_path, capsys):
    out, flag = tmp_path / "out", tmp_path / "hang"
    flag.touch()
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "rte", "cola", "--seeds", "1", "2",
            "-p", "hang_on", "rte-1,cola-2", "-p", "hang_flag", str(flag), *RAY]
    with ThreadPoolExecutor(1) as pool:
        killer = pool.submit(_kill_when_hanging, out)
        assert main(argv) == 1
    kernels = killer.result()
    wait_for(lambda: not any(process_alive(*kernel) for kernel in kernels), timeout=10,
             what="the killed worker's papermill and kernel to die with it")
    assert any(word in _status(out / "rte" / "seed-1")["error"].lower() for word in ("died", "dead"))
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
    out, elsewhere = tmp_path / "out", tmp_path / "driver-view"
    elsewhere.mkdir()
    # The driver reads the probe back from another folder than the worker wrote: as if --out were the node's own disk.
    monkeypatch.setattr(ray_executor, "probe_path", lambda _out, token, node: elsewhere / f"{token}-{node}")
    assert main(["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "rte", *RAY]) == 2
    err = capsys.readouterr().err
    assert "is not storage that every Ray node sees" in err and "that this machine does not see" in err
    assert not (out / "rte").exists() and not (out / MANIFEST).exists() and not list(elsewhere.iterdir())
