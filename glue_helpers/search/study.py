"""What Optuna lacks for notebook 02's study (the rest is Optuna's own, in its cells): a journal heartbeat, a retry
when two workers create one SQLite database, a check that a continued study is the same search, a budget stop."""

from __future__ import annotations

import json
import math
import os
import random
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages._heartbeat import BaseHeartbeat  # public in spirit: RDBStorage implements it the same way
from optuna.storages.journal import JournalStorage

from ..errors import GlueHelpersError, setting
from ..recipe import Recipe, check

JOURNAL_PREFIX = "journal://"
DEFAULT_DB = "optuna.db"
HEARTBEAT_S, GRACE_S = 60, 180
HEARTBEAT_ATTR = "glue_helpers:heartbeat"
CREATE_RETRIES = 6


def storage_url(storage: str | Path | None, output_dir: str | Path) -> str:
    """The storage as a string: None -> a SQLite file in output_dir; a `.db`/`.sqlite` path -> its sqlite URL."""
    if storage is None:
        return f"sqlite:///{(Path(output_dir) / DEFAULT_DB).resolve()}"
    text = str(storage)
    if "://" not in text and text.endswith((".db", ".sqlite", ".sqlite3")):
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    if "://" not in text and text.endswith((".log", ".journal")):
        return f"{JOURNAL_PREFIX}{Path(text).expanduser().resolve()}"
    return text


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal file whose running trials beat a heartbeat, so a killed worker's trial is failed and retried."""
    # optuna's JournalStorage has no heartbeat: a killed worker's trial would stay RUNNING forever

    def __init__(self, backend, heartbeat_interval: int, grace_period: int, stale_trial_callback=None):
        super().__init__(backend)
        self._heartbeat_interval, self._grace_period = heartbeat_interval, grace_period
        self._stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        """Say that this trial's worker is alive."""
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Running trials with no heartbeat within the grace period."""
        # the trial's start counts as a beat: a retried trial carries its dead predecessor's last beat
        now, stale = time.time(), []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            beats = [float(trial.system_attrs.get(HEARTBEAT_ATTR) or 0)]
            if trial.datetime_start is not None:
                beats.append(trial.datetime_start.timestamp())
            if now - max(beats) > self._grace_period:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        """Seconds between beats."""
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self):
        """What to do with a stale trial: retry its parameters once."""
        return self._stale_trial_callback


def _retry_callback():
    """Run a dead worker's trial again (once) with the same parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)


def _journal_storage(path: str) -> optuna.storages.BaseStorage:
    """A journal file: an append-only log that many processes (even on NFS) can share safely."""
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    backend = JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))
    return HeartbeatJournalStorage(backend, HEARTBEAT_S, GRACE_S, _retry_callback())


def _is_creation_race(err: Exception) -> bool:
    """True for the errors two workers get when both create the same new database's tables at once."""
    text = str(err).lower()
    return any(s in text for s in ("already exists", "unique constraint failed", "duplicate", "database is locked"))


def _rdb_storage(url: str) -> optuna.storages.BaseStorage:
    """A database storage with heartbeats; a worker losing the race to create a new database's tables retries."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(CREATE_RETRIES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                                  heartbeat_stale_trial_callback=_retry_callback())
        except (IntegrityError, OperationalError) as err:
            if not _is_creation_race(err):
                raise
            if attempt == CREATE_RETRIES - 1:
                raise StorageRaceError(url, err) from err
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)  # jitter, so the racers don't collide again
    raise AssertionError("unreachable")


class StorageRaceError(GlueHelpersError):
    """Another worker kept creating the same new storage while this one tried to open it."""

    def __init__(self, url: str, err: Exception):
        cause = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        super().__init__(
            f"Another worker was creating the Optuna storage {url!r} at the same moment (or held it locked), and "
            f"opening it still failed after {CREATE_RETRIES} tries ({cause}). Start this worker again (the storage "
            "exists now), or start one worker a few seconds before the others.")


def _check_writable(url: str) -> None:
    """A SQLite or journal file (and its folder) this process can write: else Optuna fails at its first write, with a
    message about "invalid data in the commit"."""
    path = Path(url.removeprefix(JOURNAL_PREFIX).removeprefix("sqlite:///"))
    if "://" in url and not url.startswith(("sqlite:///", JOURNAL_PREFIX)):
        return  # a database server checks its own permissions
    where = path if path.exists() else path.parent
    if where.exists() and not os.access(where, os.W_OK) or path.exists() and not os.access(path.parent, os.W_OK):
        raise GlueHelpersError(f"The Optuna storage {path} can't be written here (a read-only disk or folder?), and "
                               "a search writes every trial into it. Copy it to a folder you can write to and give "
                               f"that path ({setting('storage')}), or choose another output_dir.")


def open_storage(storage: str | Path | None, output_dir: str | Path) -> optuna.storages.BaseStorage:
    """Open the storage now, so a bad URL fails before any trial runs."""
    url = storage_url(storage, output_dir)
    _check_writable(url)
    try:
        if url.startswith(JOURNAL_PREFIX):
            return _journal_storage(url.removeprefix(JOURNAL_PREFIX))
        return _rdb_storage(url)
    except GlueHelpersError:
        raise
    except Exception as err:
        raise GlueHelpersError(
            f"Can't open the Optuna storage {url!r} ({type(err).__name__}: {err}). Use None (a SQLite file in "
            "output_dir), a path ending in .db (SQLite) or .log (journal file, best for several workers), "
            "'journal:///abs/path.log', or a database URL such as 'postgresql://user:pw@host/db'."
        ) from err


def space_of(hp_space) -> dict:
    """The distributions `hp_space` asks a trial for (asked of a throwaway in-memory trial)."""
    probe = optuna.create_study().ask()
    hp_space(probe)
    return probe.distributions


def recipe_in_space(recipe: dict, hp_space) -> dict:
    """The recipe's values `hp_space` can produce: trial 0 (Optuna refuses a queued choice its space lacks)."""
    def holds(distribution, value) -> bool:
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            return value in distribution.choices
        return distribution.low <= value <= distribution.high

    space = space_of(hp_space)
    return {name: value for name, value in recipe.items() if name in space and holds(space[name], value)}


def check_study(storage, study_name: str, tags: dict, hp_space, need_trials: bool = False) -> None:
    """Refuse to continue a study that is another search: other direction, task, model, data, rows, seed or space;
    with `need_trials` (a re-check alone), refuse one without a completed trial too."""
    found = next((s for s in optuna.get_all_study_summaries(storage) if s.study_name == study_name), None)
    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False) if found else []
    if need_trials and not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        raise GlueHelpersError(f"Study {study_name!r} has no completed trial yet, so there is nothing to re-check: run "
                               "trials first (without retrain_only / --retrain-only), or name the study that has them "
                               "(study_name, storage).")
    if found is None:
        return
    fix = (f"Its trials would not compare with this search's: pick another study_name (e.g. '{study_name}-2') or "
           "output_dir (storage), or set these parameters back.")
    if found.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise GlueHelpersError(f"Study {study_name!r} already exists and minimizes its objective. {fix}")
    wanted = json.loads(json.dumps(tags))  # as the storage keeps them
    differ = [f"{key} {found.user_attrs[key]!r} (now {value!r})" for key, value in wanted.items()
              if key in found.user_attrs and found.user_attrs[key] != value]
    space = space_of(hp_space)
    for trial in trials:
        for name, distribution in trial.distributions.items():
            if name in space and space[name] != distribution:
                differ.append(f"the range of {name}, {distribution} (now {space[name]})")
        if len(differ) > 5:
            break
    if differ:
        raise GlueHelpersError(f"Study {study_name!r} already holds trials of another search: "
                               f"{'; '.join(dict.fromkeys(differ))}. {fix}")


class StopAtBudget:
    """An `optimize` callback: stop the study once its trials have seen `budget` recipe runs' worth of training
    examples (training rows x the recipe's epochs each); None: no budget."""

    def __init__(self, budget: float | None, train_rows: int):
        self.budget = check("budget", "search_budget", budget)
        self.limit = math.inf if budget is None else budget * train_rows * Recipe.num_train_epochs
        self.said = False

    @staticmethod
    def spent(study: optuna.Study) -> int:
        """Training examples the study's trials have seen so far (each trial's `examples`)."""
        return sum(int(t.user_attrs.get("examples") or 0) for t in study.get_trials(deepcopy=False))

    def reached(self, study: optuna.Study) -> bool:
        """True once the budget is spent; the first time, it says so and how to get more trials."""
        if self.spent(study) < self.limit:
            return False
        if not self.said:
            self.said = True
            print(f"Stopped at the search budget: the study's {len(study.get_trials(deepcopy=False))} trials have "
                  f"seen {self.spent(study):,} of {self.limit:,.0f} training examples ({self.budget:g} recipe runs). "
                  "For more trials, raise search_budget (-p search_budget 4.0, --search-budget 4) or set it to None "
                  "(--search-budget none).", flush=True)
        return True

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Stop the study when the budget is spent."""
        if self.reached(study):
            study.stop()
