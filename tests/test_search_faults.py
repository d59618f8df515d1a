"""Search workers that die or race: a killed journal worker's trial is retried; two creating one SQLite study finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from sqlalchemy.exc import OperationalError

from glue_helpers.search.study import HEARTBEAT_ATTR, StorageRaceError, open_storage

REPO = Path(__file__).resolve().parents[1]

HANGING_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import optuna
    from glue_helpers.search.study import open_storage

    def objective(trial):
        trial.suggest_float("learning_rate", 1e-5, 1e-4, log=True)
        Path(sys.argv[2]).write_text(str(trial.number))
        time.sleep(600)  # killed here

    study = optuna.create_study(storage=open_storage(sys.argv[1], "."), study_name="s", load_if_exists=True)
    study.optimize(objective, n_trials=1)
""")

RACING_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import optuna
    from glue_helpers.search.study import open_storage

    folder, me, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    (folder / f"ready-{me}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    start = float((folder / "go").read_text() or time.time())
    for k in range(rounds):
        while time.time() < start + 0.5 * k:
            pass
        storage = open_storage(f"{folder}/race-{k}.db", ".")
        study = optuna.create_study(storage=storage, study_name="race", load_if_exists=True)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    print("finished", rounds)
""")


@pytest.mark.slow
def test_a_killed_journal_workers_trial_is_failed_and_retried_by_the_next_worker(tmp_path, monkeypatch):
    log, marker = tmp_path / "study.log", tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", HANGING_WORKER, str(log), str(marker)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), proc.communicate(timeout=5)[0] if proc.poll() is not None else "worker never started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    dead = optuna.load_study(study_name="s", storage=open_storage(log, tmp_path)).trials[0]
    assert dead.state == optuna.trial.TrialState.RUNNING and HEARTBEAT_ATTR in dead.system_attrs
    monkeypatch.setattr("glue_helpers.search.study.GRACE_S", 1)
    time.sleep(1.5)
    study = optuna.load_study(storage=open_storage(log, tmp_path), study_name="s")
    study.optimize(lambda t: t.suggest_float("learning_rate", 1e-5, 1e-4, log=True), n_trials=1)  # a healthy worker
    first, retry = study.trials
    assert (first.state, retry.state) == (optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE)
    assert retry.params == dead.params and retry.system_attrs["failed_trial"] == 0


def test_a_live_journal_trial_is_not_taken_for_dead(tmp_path, monkeypatch):
    monkeypatch.setattr("glue_helpers.search.study.GRACE_S", 1)
    study = optuna.create_study(storage=open_storage(tmp_path / "s.log", tmp_path), study_name="s")
    storage = study._storage
    with pytest.warns(UserWarning, match="Heartbeat"):
        beating, silent = study.ask(), study.ask()
    time.sleep(1.5)
    storage.record_heartbeat(beating._trial_id)
    assert storage._get_stale_trial_ids(study._study_id) == [silent._trial_id]
    # a retry carries its dead predecessor's last beat; it is not stale the moment a worker picks it up
    study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.WAITING,
                                        system_attrs={HEARTBEAT_ATTR: time.time() - 3600}))
    with pytest.warns(UserWarning, match="Heartbeat"):
        retry = study.ask()
    assert retry.number == 2 and retry._trial_id not in storage._get_stale_trial_ids(study._study_id)


@pytest.mark.slow
def test_two_workers_creating_one_new_sqlite_study_both_finish(tmp_path):
    rounds = 5  # each round is a new database both workers open at the same instant
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", RACING_WORKER, str(tmp_path), str(me), str(rounds)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for me in range(2)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{me}").exists() for me in range(2)) and time.monotonic() < deadline:
        time.sleep(0.02)
    (tmp_path / "go.tmp").write_text(str(time.time() + 0.3))
    (tmp_path / "go.tmp").rename(tmp_path / "go")
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    for k in range(rounds):
        study = optuna.load_study(study_name="race", storage=f"sqlite:///{tmp_path}/race-{k}.db")
        assert len(study.trials) == 2


def test_a_race_that_never_settles_says_so(tmp_path, monkeypatch):
    def racing(*args, **kwargs):
        raise OperationalError("CREATE TABLE studies", {}, Exception("table studies already exists"))

    monkeypatch.setattr("glue_helpers.search.study.CREATE_RETRIES", 2)
    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    with pytest.raises(StorageRaceError, match="Another worker was creating the Optuna storage .* after 2 tries"):
        open_storage(None, tmp_path)
