"""The batch runner end to end on dummy notebooks (success, failure isolation, resume, force, exit codes) and on
notebook 01 in smoke mode."""

from __future__ import annotations

import zipfile

import pytest
from batch_helpers import REPO, read_json, write_dummy_notebook

from glue_helpers.batch.plan import MANIFEST, STATUS, make_plan
from glue_helpers.batch.runner import run_batch
from glue_helpers.cli import main

pytestmark = pytest.mark.notebook
TASKS = ["cola", "rte", "stsb"]
NOTEBOOK_01 = REPO / "notebooks" / "01_text_classification.ipynb"


@pytest.fixture
def notebook(tmp_path):
    return write_dummy_notebook(tmp_path / "dummy.ipynb")


def _status(out, task):
    return read_json(out / task / STATUS)


def test_failure_is_isolated_and_a_rerun_redoes_only_the_failed_task(notebook, tmp_path, capsys):
    out, flag = tmp_path / "out", tmp_path / "make-rte-fail"
    flag.touch()
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", *TASKS, "--jobs", "2",
            "-p", "fail_on", "rte", "-p", "fail_flag", str(flag), "-p", "num_train_epochs", "2", "--no-progress"]
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "FAILED or not run: rte" in printed and "RuntimeError: boom in rte" in printed
    assert [_status(out, t)["status"] for t in TASKS] == ["succeeded", "failed", "succeeded"]
    cells = read_json(out / "rte" / "dummy.ipynb")["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors and errors[0]["evalue"] == "boom in rte"
    assert "boom in rte" in (out / "rte" / "run.log").read_text()
    assert "trained cola 2" in (out / "cola" / "run.log").read_text()
    assert _status(out, "cola")["parameters"]["num_train_epochs"] == 2
    results = (out / "results.csv").read_text()
    assert "rte,rte,,failed" in results and "cola,cola,,succeeded" in results
    done_at = {t: _status(out, t)["finished_at"] for t in ("cola", "stsb")}

    flag.unlink()
    assert main(argv) == 0
    assert "skipped (already finished; --force to redo): cola, stsb" in capsys.readouterr().out
    assert {t: _status(out, t)["finished_at"] for t in ("cola", "stsb")} == done_at
    assert _status(out, "rte")["status"] == "succeeded"
    assert (out / "rte" / "dummy.failed-1.ipynb").is_file() and (out / "rte" / "status.failed-1.json").is_file()
    assert (out / "rte" / "run.log").read_text().count("===== rte:") == 4
    assert "rte,rte,,succeeded" in (out / "results.csv").read_text()


def test_success_writes_results_manifest_and_zip_and_force_redoes_it_keeping_the_old_notebook(notebook, tmp_path):
    plan = make_plan(notebook, tmp_path / "out", ["mrpc", "stsb"], {"learning_rate": 3e-5})
    report = run_batch(plan, jobs=1, progress=False)
    assert report.failed == [] and report.skipped == []
    assert read_json(plan.out / MANIFEST)["parameters"] == {"learning_rate": 3e-5}
    assert {p.name for p in report.outputs} == {"results.csv", "results_summary.csv", "results.md", "results.png"}
    assert list(report.table["glue_score"]) == pytest.approx([55.0, 55.0])
    assert (plan.out / "mrpc" / "dummy.ipynb").is_file() and (plan.out / "mrpc" / "parameters.yaml").is_file()
    assert report.submission.is_file() and len(report.missing_files) == 9  # MRPC.tsv and STS-B.tsv are there
    first = _status(plan.out, "mrpc")["finished_at"]
    report = run_batch(make_plan(notebook, plan.out, ["mrpc"], {"learning_rate": 3e-5}, force=True), force=True,
                       progress=False)
    assert report.skipped == [] and _status(plan.out, "mrpc")["finished_at"] != first
    assert (plan.out / "mrpc" / "dummy.previous-1.ipynb").is_file()


@pytest.mark.parametrize("missing, flags, message", [
    (False, ["--tasks", "cola", "nope", "bad"], "'nope', 'bad'"),
    (False, ["-p", "epochs", "3"], "does not declare parameter(s) epochs"),
    (True, [], "does not exist"),
], ids=["unknown-tasks", "undeclared-parameter", "missing-notebook"])
def test_bad_input_fails_before_any_work(notebook, tmp_path, capsys, missing, flags, message):
    out = tmp_path / "out"
    notebook = tmp_path / "missing.ipynb" if missing else notebook
    assert main(["batch", "--notebook", str(notebook), "--out", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_report_only_gathers_without_running(notebook, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["batch", "--notebook", str(notebook), "--out", str(out), "--tasks", "cola", "sst2", "--no-progress"]
    assert main([*argv, "--report-only"]) == 1
    assert "FAILED or not run: cola, sst2" in capsys.readouterr().out
    assert not (out / "cola").exists() and "cola,cola,,not run" in (out / "results.csv").read_text()


@pytest.mark.skipif(not NOTEBOOK_01.is_file(), reason="notebook 01 is not there")
def test_smoke_batch_of_mnli_and_stsb(kit, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["batch", "--notebook", str(NOTEBOOK_01), "--out", str(out), "--tasks", "mnli", "stsb",
                 "-p", "smoke", "True", "-p", "num_train_epochs", "1", "--jobs", "2", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for task in ("mnli", "stsb"):
        assert _status(out, task)["status"] == "succeeded" and read_json(out / task / "metrics.json")["task"] == task
        assert (out / task / "model" / "config.json").is_file()
    with zipfile.ZipFile(out / "glue_submission.zip") as zf:
        assert sorted(zf.namelist()) == ["AX.tsv", "MNLI-m.tsv", "STS-B.tsv"]
        for name in zf.namelist():
            lines = zf.read(name).decode().splitlines()
            assert lines[0] == "index\tprediction" and len(lines) == 1 + 32
    assert "submission:" in printed and "(3 of 11 leaderboard files)" in printed and "CoLA.tsv" in printed
    assert "| mnli | mnli | 42 | succeeded |" in (out / "results.md").read_text()
