"""Experiment tracking: the `report_to` backends the recipe accepts, checked up front, and where each one writes.

Every backend writes offline into the run folder's `tracking/` unless your environment already points it elsewhere
(`WANDB_MODE`, `WANDB_DIR`, `MLFLOW_TRACKING_URI`, `TRACKIO_DIR`): TensorBoard event files, trackio's local
database, W&B's offline runs (`wandb sync` uploads them later), an MLflow file store. The Trainer's own
integration logs the losses, the metrics and the run's hyperparameters.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import GlueHelpersError
from .recipe import REPORT_TOS
from .rundir import TRACKING

PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb", "mlflow": "mlflow"}
DASHBOARDS = {
    "tensorboard": "tensorboard --logdir {root}",
    "trackio": "TRACKIO_DIR={dir}/trackio trackio show",
    "wandb": "wandb sync {dir}/wandb/offline-run-*  (uploads; or open the files with wandb's local server)",
    "mlflow": "mlflow ui --backend-store-uri {dir}/mlruns",
}


def check_report_to(report_to) -> str:
    """`report_to` checked before anything runs: "none" or one backend whose package is installed."""
    if not isinstance(report_to, str) or report_to not in REPORT_TOS:
        raise GlueHelpersError(f"report_to={report_to!r} is not a tracking backend: use one of "
                               f"{', '.join(map(repr, REPORT_TOS))} (e.g. -p report_to tensorboard, "
                               "--report-to tensorboard).")
    package = PACKAGES.get(report_to)
    if package and importlib.util.find_spec(package) is None:
        raise GlueHelpersError(f"report_to={report_to!r} needs the {package} package, which is not installed: "
                               f"pip install {package} (or choose report_to='none').")
    return report_to


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
