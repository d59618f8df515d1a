"""One run's folder: the name of every file a run writes, the check that a new run does not mix with an old one
(and its lock), atomic writing (temp file + rename: a killed write leaves the old file, never half a file), and
where `report_to`'s tracking backends write.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import GlueHelpersError
from .recipe import check_report_to

METRICS = "metrics.json"
METRICS_SCHEMA = 2  # metrics.json's layout; 1: the files written before it carried "schema" (the same keys)
PREDICTIONS = "validation_predictions.jsonl"
MODEL = "model"
ADAPTER = "adapter"
CHECKPOINTS = "checkpoints"
LEADERBOARD = "leaderboard"
TEST_PREDICTIONS = "test_predictions.csv"
TRAINING_CURVE = "training_curve.png"
VALIDATION_PLOT = "validation_predictions.png"
LOCK, LOCK_OWNER = ".run.lock", ".run.lock.owner"  # a run's lock (train, notebook 01, search re-check)
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


def read_metrics(path: str | os.PathLike) -> dict:
    """A run's metrics.json, checked by `check_metrics`; a clear error naming the file when it can't be read."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise GlueHelpersError(f"Can't read {path} ({err}). Rerun that run, or leave its folder out.") from err
    if not isinstance(record, dict):
        raise GlueHelpersError(f"{path} does not hold a JSON object. Rerun that run, or leave its folder out.")
    return check_metrics(record, path)


@dataclass(frozen=True)
class RunDir:
    """The folder of one run and the paths of what it writes."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root).expanduser())

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    @property
    def metrics(self) -> Path:
        """metrics.json: the run's scores and provenance, written last."""
        return self.root / METRICS

    @property
    def predictions(self) -> Path:
        """One JSON line per validation example, in dataset order: idx, label, prediction."""
        return self.root / PREDICTIONS

    @property
    def model(self) -> Path:
        """The best model, its tokenizer and model card."""
        return self.root / MODEL

    @property
    def adapter(self) -> Path:
        """A LoRA run's adapter and trained head (small; load it onto the base model with peft)."""
        return self.root / ADAPTER

    @property
    def checkpoints(self) -> Path:
        """The Trainer's per-epoch checkpoints."""
        return self.root / CHECKPOINTS

    def existing_outputs(self) -> list[str]:
        """Names of the run outputs in the folder (an empty folder, left by a run that failed early, is none)."""
        return [name for name in RUN_OUTPUTS if (self.root / name).exists() and not _empty_dir(self.root / name)]

    def prepare(self, overwrite: bool = False, inputs=()) -> RunDir:
        """Create the folder for a new run and hold its lock; refuse another run's outputs unless `overwrite`."""
        if self.root.exists() and not self.root.is_dir():
            raise GlueHelpersError(f"output_dir {str(self.root)!r} is a file, not a folder. Choose a folder path.")
        found = self.existing_outputs() if self.root.is_dir() else []
        if found and not overwrite:
            raise GlueHelpersError(
                f"output_dir {str(self.root)!r} already holds another run's outputs ({', '.join(found)}). Choose a "
                "new output_dir, or set overwrite=True (`-p overwrite True`, `--overwrite`) to replace that run.")
        self._check_inputs_survive(found, inputs)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock()
            probe = self.root / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as err:
            raise GlueHelpersError(f"Can't write to output_dir {str(self.root)!r} ({err.strerror or err}). Choose a "
                                   "folder you can write to.") from err
        for name in found:  # so a failed rerun never leaves old results looking current
            path = self.root / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return self

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


def _empty_dir(path: Path) -> bool:
    """True for a folder with nothing in it."""
    return path.is_dir() and not any(path.iterdir())


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path` in one step, on error it is removed."""
    # beside the target: os.replace is atomic only within one file system
    path = Path(path)
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
    folder.mkdir(parents=True, exist_ok=True)
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
    if report_to == "none":
        return ""
    return DASHBOARDS[report_to].format(root=root, dir=Path(root) / TRACKING)
