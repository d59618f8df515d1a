"""One run's folder: the name of every file a run writes (notebook 01, `train`, search retrain, batch), in one place,
the check that a new run does not mix with an old one there, and the one way every file is written.

Writing is atomic: a temporary file beside the target, then a rename. `os.replace` is atomic on POSIX and Windows
when both paths are on one file system, which a sibling temp file is. A run killed mid-write leaves the old file
(or none) and a `.tmp-*` file, never a truncated result.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import GlueHelpersError

METRICS = "metrics.json"
PREDICTIONS = "validation_predictions.jsonl"
MODEL = "model"
ADAPTER = "adapter"
CHECKPOINTS = "checkpoints"
LEADERBOARD = "leaderboard"
TEST_PREDICTIONS = "test_predictions.csv"
TRAINING_CURVE = "training_curve.png"
VALIDATION_PLOT = "validation_predictions.png"
TRACKING = "tracking"  # report_to's offline files (tracking.start_tracking)

# What a finished or interrupted run leaves behind; a new run into the same folder must not mix with it.
RUN_OUTPUTS = (METRICS, PREDICTIONS, MODEL, ADAPTER, CHECKPOINTS, LEADERBOARD, TEST_PREDICTIONS, TRAINING_CURVE,
               VALIDATION_PLOT, TRACKING)


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

    @property
    def leaderboard(self) -> Path:
        """GLUE leaderboard files (`CoLA.tsv`, ...)."""
        return self.root / LEADERBOARD

    def existing_outputs(self) -> list[str]:
        """Names of the run outputs already in the folder."""
        return [name for name in RUN_OUTPUTS if (self.root / name).exists()]

    def prepare(self, overwrite: bool = False) -> RunDir:
        """Create the folder for a new run: refuse one that holds another run's outputs unless `overwrite`, in
        which case those outputs are removed first (so a failed rerun never leaves old results looking current)."""
        if self.root.exists() and not self.root.is_dir():
            raise GlueHelpersError(f"output_dir {str(self.root)!r} is a file, not a folder. Choose a folder path.")
        found = self.existing_outputs() if self.root.is_dir() else []
        if found and not overwrite:
            raise GlueHelpersError(
                f"output_dir {str(self.root)!r} already holds another run's outputs ({', '.join(found)}). Choose a "
                "new output_dir, or set overwrite=True (`-p overwrite True`, `--overwrite`) to replace that run.")
        for name in found:
            path = self.root / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as err:
            raise GlueHelpersError(f"Can't write to output_dir {str(self.root)!r} ({err.strerror or err}). Choose a "
                                   "folder you can write to.") from err
        return self


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path` in one step, on error it is removed."""
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
