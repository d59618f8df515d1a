"""One way to write a file so that a reader never sees half of it: write a temporary file beside it, then rename.

`os.replace` is atomic on POSIX and Windows when both paths are on one file system, which a sibling temp file is.
A run killed mid-write leaves the old file (or none) and a `.tmp-*` file, never a truncated result.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
