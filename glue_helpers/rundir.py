"""One run's folder: the names of what a run writes, its lock, staging (a new run replaces an old one only once it
has finished), atomic writers (a killed write leaves the old file, never half a file), and tracking's folders."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import GlueHelpersError, setting
from .recipe import check_report_to

METRICS = "metrics.json"
METRICS_SCHEMA = 2  # metrics.json's layout; 1: the files written before it carried "schema" (the same keys)
PREDICTIONS, TEST_PREDICTIONS = "validation_predictions.jsonl", "test_predictions.csv"
MODEL, ADAPTER, CHECKPOINTS, LEADERBOARD = "model", "adapter", "checkpoints", "leaderboard"
TRAINING_CURVE, VALIDATION_PLOT = "training_curve.png", "validation_predictions.png"
LOCK, LOCK_OWNER = ".run.lock", ".run.lock.owner"  # a run's lock (train, notebooks 01 and 04)
UNFINISHED = "unfinished"  # where a run writes until it finishes (RunDir.finish)
SWAPPING, REPLACED = ".swapping.json", ".replaced"  # finish's journal, and where the old run's outputs wait to go
TRACKING = "tracking"  # report_to's offline files (start_tracking)

# What a finished or interrupted run leaves behind; a new run into the same folder must not mix with it.
RUN_OUTPUTS = (METRICS, PREDICTIONS, MODEL, ADAPTER, CHECKPOINTS, LEADERBOARD, TEST_PREDICTIONS, TRAINING_CURVE,
               VALIDATION_PLOT, TRACKING)


def check_metrics(record: dict, path: str | os.PathLike) -> dict:
    """A metrics.json record in this version's layout (no "schema" means 1); a newer schema is refused, naming it."""
    schema = record.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or not 1 <= schema <= METRICS_SCHEMA:
        raise GlueHelpersError(f"{path} has metrics.json schema {schema!r}; this glue_helpers reads schemas 1 to "
                               f"{METRICS_SCHEMA}: upgrade glue_helpers to read it.")
    return {**record, "schema": schema}


def read_yaml(source: str | os.PathLike, what: str, example: str, inline: bool = False) -> dict:
    """A mapping from a YAML/JSON file (or with `inline`, the text itself); errors name `what`, the file and the fix."""
    import yaml

    path = Path(source).expanduser()
    if path.is_file():
        where = f"{what} {path}"
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise GlueHelpersError(f"{where}: can't be read ({err}).") from None
    elif inline and any(mark in str(source) for mark in ":{["):
        where, text = what, str(source)
    else:
        raise GlueHelpersError(f"{what} {str(path)!r} does not exist.")
    try:
        data = json.loads(text)  # JSON first: YAML would read JSON's 1e-05 as text
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            hint = " Python tags such as !!python/object are not allowed." if "python/" in str(err) else ""
            raise GlueHelpersError(f"{where}: not valid YAML ({' '.join(str(err).split())}).{hint} It holds plain "
                                   f"keys and values, e.g. {example}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GlueHelpersError(f"{where}: must be a mapping of keys to values (e.g. {example}), not a "
                               f"{type(data).__name__}.")
    return data


def read_metrics(path: str | os.PathLike) -> dict:
    """A run's metrics.json, checked by `check_metrics`; a clear error naming the file when it can't be read."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise GlueHelpersError(f"Can't read {path} ({err}). Rerun that run, or leave its folder out.") from err
    if not isinstance(record, dict):
        raise GlueHelpersError(f"{path} does not hold a JSON object. Rerun that run, or leave its folder out.")
    return check_metrics(record, path)


def _output(name: str, doc: str) -> property:
    """A RunDir property: where the run writes the output `name`."""
    return property(lambda self: self.here / name, doc=doc)


class RunDir:
    """One run's folder and the paths of what it writes; a prepared (`staged`) run writes into `unfinished/` until
    `finish` moves its outputs in, so a run that fails or is killed leaves the old one as it was."""

    def __init__(self, root: str | os.PathLike, staged: bool = False):
        self.root, self.staged = Path(root).expanduser(), staged

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r}{', staged' if self.staged else ''})"

    def __fspath__(self) -> str:
        return str(self.here)

    @property
    def here(self) -> Path:
        """Where the run's outputs are: unfinished/ while a prepared run writes them, else the folder itself."""
        return self.root / UNFINISHED if self.staged else self.root

    def __truediv__(self, name: str) -> Path:
        return self.here / name

    metrics = _output(METRICS, "metrics.json: the run's scores and provenance, written last.")
    predictions = _output(PREDICTIONS, "One JSON line per validation row, in dataset order: idx, label, prediction.")
    model = _output(MODEL, "The best model, its tokenizer and model card.")
    adapter = _output(ADAPTER, "A LoRA run's adapter and trained head (small; load it onto the base model with peft).")
    checkpoints = _output(CHECKPOINTS, "The Trainer's per-epoch checkpoints.")

    def existing_outputs(self) -> list[str]:
        """Names of the finished run's outputs in the folder (an empty folder, left by a failed run, is none)."""
        return [name for name in RUN_OUTPUTS
                if (path := self.root / name).exists() and not (path.is_dir() and not any(path.iterdir()))]

    def prepare(self, overwrite: bool = False, inputs=()) -> RunDir:
        """Create the folder, hold its lock, write into unfinished/; another run's outputs need `overwrite`."""
        if self.root.exists() and not self.root.is_dir():
            raise GlueHelpersError(f"output_dir {str(self.root)!r} is a file, not a folder. Choose a folder path.")
        found = self.existing_outputs() if self.root.is_dir() else []
        if found and not overwrite:
            raise GlueHelpersError(
                f"output_dir {str(self.root)!r} already holds another run's outputs ({', '.join(found)}). Choose a "
                f"new output_dir, or set {setting('overwrite', True)} to replace that run once this one finishes.")
        self._check_inputs_survive(found, inputs)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock()
            if (self.root / SWAPPING).exists():  # a run that finished, killed while it replaced the old one
                self._swap()
            shutil.rmtree(self.root / UNFINISHED, ignore_errors=True)  # a dead run's (the lock says none runs)
            (self.root / UNFINISHED).mkdir()
        except OSError as err:
            raise GlueHelpersError(f"Can't write to output_dir {str(self.root)!r} ({err.strerror or err}). Choose a "
                                   "folder you can write to.") from err
        self.staged = True
        return self

    def finish(self) -> None:
        """Move the outputs from unfinished/ in, replacing the old run's; the next `prepare` completes a killed one."""
        if not self.staged:
            return
        staged = [name for name in RUN_OUTPUTS if (self.root / UNFINISHED / name).exists()]
        write_json(self.root / SWAPPING, staged)  # from here on the new run wins, even if this is killed
        self._swap()
        self.staged = False

    def _swap(self) -> None:
        """Set the old run's outputs aside, move the staged ones in, then delete the old ones and the journal."""
        staged, new, old = json.loads((self.root / SWAPPING).read_text()), self.root / UNFINISHED, self.root / REPLACED
        for name in RUN_OUTPUTS:  # an old output, or one a killed swap had not replaced yet
            if (self.root / name).exists() and (name not in staged or (new / name).exists()):
                old.mkdir(exist_ok=True)
                shutil.rmtree(old / name, ignore_errors=True)
                os.replace(self.root / name, old / name)
        for name in sorted(staged, key=lambda n: n == METRICS):  # metrics.json last: it says the run finished
            if (new / name).exists():
                os.replace(new / name, self.root / name)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(new, ignore_errors=True)
        (self.root / SWAPPING).unlink()

    def _check_inputs_survive(self, found: list[str], inputs) -> None:
        """Refuse an overwrite that would delete a model or data file this run reads."""
        doomed = [(self.root / name).resolve() for name in found]
        for item in inputs:
            path = Path(item).expanduser().resolve() if item is not None else None
            hit = path is not None and path.exists() and next((d for d in doomed if path.is_relative_to(d)), None)
            if hit:
                raise GlueHelpersError(
                    f"overwrite would delete {str(item)!r}, which this run reads (it lies in {hit.name}/ of "
                    f"output_dir {str(self.root)!r}). Copy it out of that folder first, or choose another output_dir.")

    def _lock(self) -> None:
        """Hold the folder's lock until this process ends (the OS frees it, even after kill -9); refuse if it's held."""
        lock = _LOCKS.setdefault(self.root.resolve(), FileLock(self.root / LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            owner = (self.root / LOCK_OWNER).read_text().strip() if (self.root / LOCK_OWNER).exists() else "?"
            raise GlueHelpersError(
                f"output_dir {str(self.root)!r} is in use by another run (process {owner}). Wait for it to "
                "finish, or choose another output_dir.") from None
        (self.root / LOCK_OWNER).write_text(f"{os.getpid()} on {socket.gethostname()}\n")


_LOCKS: dict[Path, FileLock] = {}  # held for the process's lifetime; the same process may prepare a folder again


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path` in one step, on error it is removed."""
    path = Path(path)  # the temporary file lies beside it: os.replace is atomic only within one file system
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, record, indent: int = 2) -> Path:
    """Write a record as pretty JSON atomically (non-JSON values such as paths become strings); return the path."""
    return write_text(path, json.dumps(record, indent=indent, default=str) + "\n")


def replace_folder(source: Path, target: Path) -> None:
    """Copy `source` to `target` so that `target` is either the old folder or the complete new one."""
    tmp, old = (target.with_name(f".{target.name}.{kind}-{os.getpid()}") for kind in ("tmp", "old"))
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


BEST_MODEL, BEST_ADAPTER = "best-model", "best-adapter"  # a search's winner (LoRA: merged model, and its adapter)


def save_best_model(run: str | os.PathLike, output_dir: str | os.PathLike, **extra) -> dict:
    """Copy a run's model (adapter) to output_dir/best-model (best-adapter), each whole or not at all, with its
    metrics.json and `extra` (the search's verdict); return that record."""
    run, output_dir = RunDir(run), Path(output_dir)
    record = {**read_metrics(run.metrics), **extra}
    for source, target in ((run.model, output_dir / BEST_MODEL), (run.adapter, output_dir / BEST_ADAPTER)):
        if source.is_dir():
            replace_folder(source, target)
    write_json(output_dir / BEST_MODEL / METRICS, record)
    return record


# Experiment tracking (report_to): each backend writes offline into the run folder's tracking/ unless your
# environment already points it elsewhere (WANDB_MODE, WANDB_DIR, MLFLOW_TRACKING_URI, TRACKIO_DIR); the Trainer's own
# integration logs the losses, the metrics and the run's hyperparameters.
DASHBOARDS = {
    "tensorboard": "tensorboard --logdir {root}",
    "trackio": "TRACKIO_DIR={dir}/trackio trackio show",
    "wandb": "wandb sync {dir}/wandb/offline-run-*  (uploads; or open the files with wandb's local server)",
    "mlflow": "mlflow ui --backend-store-uri {dir}/mlruns",
}


def start_tracking(report_to: str, run_root: str | os.PathLike, run_name: str) -> Path | None:
    """Point `report_to`'s backend at `<run_root>/tracking` (offline) for the next Trainer; the folder, or None."""
    if check_report_to(report_to) == "none":
        return None
    folder = Path(run_root) / TRACKING
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GlueHelpersError(f"report_to={report_to!r} writes into {folder}, which can't be created ("
                               f"{err.strerror or err}). Choose an output_dir you can write to, or "
                               f"{setting('report_to', 'none')}.") from None
    # TensorBoard's folder is set for every run (one sub-folder per run name); the others only if you set none.
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(folder / "tensorboard" / run_name)
    offline_defaults(report_to, folder)
    return folder


def offline_defaults(report_to: str, folder: Path) -> None:
    """Set the environment that keeps `report_to` offline and in `folder`, where you have not set it already."""
    defaults = {"trackio": {"TRACKIO_DIR": folder / "trackio"},
                "wandb": {"WANDB_MODE": "offline", "WANDB_DIR": folder},
                "mlflow": {"MLFLOW_TRACKING_URI": (folder / "mlruns").resolve().as_uri()}}
    for key, value in defaults.get(report_to, {}).items():
        os.environ.setdefault(key, str(value))


def dashboard_command(report_to: str, root: str | os.PathLike) -> str:
    """The command that opens `report_to`'s dashboard over every run under `root` ('' for "none")."""
    return "" if report_to == "none" else DASHBOARDS[report_to].format(root=root, dir=Path(root) / TRACKING)
