"""The Optuna study: its storage, sampler and pruner, the trials it has and still needs, and its table."""

from __future__ import annotations

import math
import random
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages._heartbeat import BaseHeartbeat  # public in spirit: RDBStorage implements it the same way
from optuna.storages.journal import JournalStorage
from optuna.trial import TrialState

from ..errors import GlueHelpersError
from ..recipe import NUM_TRAIN_EPOCHS, PRUNER, SEED, check_budget, check_positive, check_pruner
from ..tasks import GlueTask

JOURNAL_PREFIX = "journal://"
DEFAULT_DB = "optuna.db"
HEARTBEAT_S, GRACE_S = 60, 180
HEARTBEAT_ATTR = "glue_helpers:heartbeat"
RECIPE_ATTR = "recipe"  # user attribute of the trial that runs the recipe's hyperparameters
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


def open_storage(storage: str | Path | None, output_dir: str | Path) -> optuna.storages.BaseStorage:
    """Open the storage now, so a bad URL fails before any trial runs."""
    url = storage_url(storage, output_dir)
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


def make_pruner(name, n_startup_trials: int = 2) -> optuna.pruners.BasePruner:
    """'asha' (successive halving at epochs 1, 3, 9, ...), 'median', 'hyperband', 'none', or an Optuna pruner."""
    check_pruner("pruner", name)  # one of PRUNERS (any case), None, or a pruner object
    if hasattr(name, "prune"):
        return name
    key = (name or "none").lower()
    if key == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if key == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=0)
    if key == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()  # "none"


def make_sampler(seed: int, n_startup_trials: int = 4) -> optuna.samplers.TPESampler:
    """A seeded TPE sampler; `constant_liar` keeps parallel workers from all proposing the same point."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, constant_liar=True)


def _existing_study(storage, study_name: str):
    """The study of that name in storage, or None."""
    names = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    if study_name in names:
        return optuna.load_study(study_name=study_name, storage=storage)
    return None


def check_compatible(study: optuna.Study, task: GlueTask, direction: str) -> None:
    """Refuse to continue a study that optimizes another direction or another task."""
    want = optuna.study.StudyDirection.MAXIMIZE if direction == "maximize" else optuna.study.StudyDirection.MINIMIZE
    if study._is_multi_objective() or study.direction != want:
        raise GlueHelpersError(f"Study {study.study_name!r} already exists with direction(s) "
                               f"{[d.name.lower() for d in study.directions]}, not {direction!r}. "
                               "Pick another study_name or storage.")
    stored = study.user_attrs.get("task")
    if stored is not None and stored != task.name:
        raise GlueHelpersError(f"Study {study.study_name!r} already holds trials for task {stored!r}, not "
                               f"{task.name!r}. Pick another study_name (e.g. 'glue-{task.name}') or storage.")


def previous_trials(storage, study_name: str, task: GlueTask, direction: str = "maximize") -> int:
    """How many trials the study already holds (0 for a new one); refuses a study of another task or direction."""
    existing = _existing_study(storage, study_name)
    if existing is None:
        return 0
    check_compatible(existing, task, direction)
    return len(existing.trials)


def tag_study(study: optuna.Study, task: GlueTask, **user_attrs) -> optuna.Study:
    """Store the task (checked when the study is continued) and what the search ran on, once."""
    for key, value in {"task": task.name, "primary_metric": task.primary_metric, **user_attrs}.items():
        if key not in study.user_attrs:
            study.set_user_attr(key, value)
    return study


def open_study(
    task: GlueTask,
    *,
    study_name: str | None = None,
    storage: str | Path | None = None,
    output_dir: str | Path = ".",
    pruner: str | optuna.pruners.BasePruner | None = PRUNER,
    seed: int = SEED,
    direction: str = "maximize",
    worker: int = 0,
    **user_attrs,
) -> optuna.Study:
    """Create the study, or load it to continue (same name + storage = same study, across runs and workers)."""
    # the sampler's seed moves with the trials done and the worker: no resumed run or worker replays another's starts
    name = study_name or f"glue-{task.name}"
    store = open_storage(storage, output_dir)
    previous = previous_trials(store, name, task, direction)
    study = optuna.create_study(storage=store, study_name=name, direction=direction, load_if_exists=True,
                                sampler=make_sampler(seed + previous + 1000 * worker), pruner=make_pruner(pruner))
    return tag_study(study, task, **user_attrs)


def run_trials(study: optuna.Study, objective, n_trials: int, timeout: float | None = None,
               budget: float = math.inf) -> optuna.Study:
    """Run up to `n_trials` more trials here (other workers may add theirs), stopping once the budget is spent."""
    check_positive("n_trials", n_trials)
    before = len(study.get_trials(deepcopy=False))
    if examples_seen(study) < budget:
        study.optimize(objective, n_trials=n_trials, timeout=timeout,  # objective frees memory
                       callbacks=[StopAtBudget(budget)])
    ran = len(study.get_trials(deepcopy=False)) - before
    if ran < n_trials and examples_seen(study) >= budget:
        print(budget_message(study, budget, ran, n_trials), flush=True)
    return study


def budget_message(study: optuna.Study, budget: float, ran: int, asked: int) -> str:
    """Why a search ran fewer trials than asked: the budget, what was spent, and how to get more."""
    return (f"Stopped at the search budget: {ran} of the {asked} trials asked for ran now; the study's "
            f"{len(study.get_trials(deepcopy=False))} trials have seen {examples_seen(study):,} of "
            f"{budget:,.0f} training examples. For more trials, raise search_budget (--search-budget 4, "
            "-p search_budget 4.0) or set it to None (--search-budget none).")


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that ran to the end (COMPLETE) or were stopped early on purpose (PRUNED)."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def has_recipe_trial(study: optuna.Study) -> bool:
    """True when the recipe is one of the study's trials (waiting, running or finished; a failed one doesn't count)."""
    states = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    return any(t.user_attrs.get(RECIPE_ATTR) for t in study.get_trials(deepcopy=False, states=states))


def enqueue_recipe(study: optuna.Study, params: dict) -> bool:
    """Make the recipe the study's next trial, unless it has one or the space can't produce it; True if enqueued."""
    if not params or has_recipe_trial(study):
        return False
    study.enqueue_trial(params, user_attrs={RECIPE_ATTR: True})
    return True


def budget_examples(train_rows: int, budget: float | None) -> float:
    """The search's budget in training examples: `budget` recipe runs of `train_rows` rows (inf for None)."""
    check_budget("search_budget", budget)
    return math.inf if budget is None else budget * train_rows * NUM_TRAIN_EPOCHS


def examples_seen(study: optuna.Study) -> int:
    """Training examples the study's trials have seen so far (what the budget counts)."""
    return sum(int(t.user_attrs.get("examples") or 0) for t in study.get_trials(deepcopy=False))


class StopAtBudget:
    """An `optimize` callback that stops the study once its trials have seen `limit` training examples."""

    def __init__(self, limit: float):
        self.limit = limit

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Stop when the budget is spent."""
        if examples_seen(study) >= self.limit:
            study.stop()


def trials_to_run(study: optuna.Study, target: int, budget: float = math.inf) -> int:
    """How many more trials bring the study to `target` finished ones (0 once the budget is spent)."""
    if examples_seen(study) >= budget:
        return 0
    check_positive("n_trials", target)
    return max(0, target - len(finished_trials(study)))


def trials_table(study: optuna.Study):
    """One row per trial: number, state, value, parameters, best epoch, steps and runtime."""
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs", "duration"))
    frame.columns = [c.removeprefix("params_").removeprefix("user_attrs_") for c in frame.columns]
    keep = [c for c in frame.columns if c != "epoch_metrics"]
    return frame[keep].set_index("number")
