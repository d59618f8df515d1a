"""The GLUE submission: every finished task's leaderboard files in one flat zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..rundir import LEADERBOARD, atomic_path
from ..tasks import LEADERBOARD_FILES

SUBMISSION_ZIP = "glue_submission.zip"


def collect_submission(run_dir: str | Path, task_dirs: list[Path] | None = None) -> tuple[Path | None, list[str]]:
    """Zip the leaderboard files of `task_dirs` (default: all of run_dir's); return the zip and the files missing."""
    run_dir = Path(run_dir)
    folders = [Path(d) for d in task_dirs] if task_dirs is not None else sorted(run_dir.iterdir())
    found = {path.name: path for folder in folders for path in sorted((folder / LEADERBOARD).glob("*.tsv"))}
    missing = [name for name in LEADERBOARD_FILES if name not in found]
    if len(missing) == len(LEADERBOARD_FILES):  # no zip (None): a batch whose runs all failed has nothing to submit
        return None, missing
    with atomic_path(run_dir / SUBMISSION_ZIP) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in LEADERBOARD_FILES:
            if name in found:
                zf.write(found[name], arcname=name)
    return run_dir / SUBMISSION_ZIP, missing
