"""Who runs in a batch folder: `<out>/.batch.lock` (pid, host, start time, notebook processes) and those processes,
which die with the batch (Linux: even on kill -9); a new batch waits for a killed one's notebooks.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import psutil

from ..errors import GlueHelpersError

LOCK = ".batch.lock"
POLL_S = 0.5  # how often a running task's new processes (its kernel) are recorded in the lock
ORPHAN_WAIT_S = 15.0  # how long a new batch waits for a killed batch's notebooks to stop before it refuses
STOP_GRACE_S = 3.0  # how long stopped notebooks get to exit before they are killed
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PID = re.compile(r"[-+]?\d+")


class BatchStopping(Exception):
    """The batch is stopping: start no more notebooks."""


def _create_time(pid: int) -> float | None:
    """When a process started (with its pid, it names the process even after the pid is reused), or None."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def process_alive(pid: int, create_time: float | None = None) -> bool:
    """True when that process (the same one, if its start time is known) is running and not a zombie."""
    try:
        proc = psutil.Process(int(pid))
        if create_time is not None and abs(proc.create_time() - float(create_time)) > 1:
            return False  # the pid was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _descendants(pid: int) -> list[tuple[int, float]]:
    """(pid, start time) of every process below `pid` (papermill's kernel), or [] when it is gone."""
    try:
        return [(p.pid, p.create_time()) for p in psutil.Process(pid).children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


@functools.cache
def _prctl():
    """libc's prctl on Linux, loaded in the parent so a forked child only has to call it; else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent():
    """A `preexec_fn` that kills the child when this process dies, even by kill -9 (Linux PDEATHSIG); else None."""
    prctl, parent = _prctl(), os.getpid()
    if prctl is None:
        return None

    def set_death_signal():
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_death_signal


class ChildProcesses:
    """This batch's notebook processes: each in its own session, dying with the batch, recorded in the lock."""

    def __init__(self, lock: BatchLock | None = None):
        self.lock, self.stopping = lock, False
        self._families: dict[int, dict[int, float]] = {}  # papermill pid -> {pid: start time} of it and its kernel
        self._mutex = threading.Lock()

    def start(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        """Start a child in its own session that dies with this process."""
        # own session: a terminal's Ctrl-C reaches only the batch, which then stops the child
        with self._mutex:
            if self.stopping:
                raise BatchStopping
            proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent(), **kwargs)
            self._families[proc.pid] = {}
        self._record(proc.pid, [(proc.pid, _create_time(proc.pid) or time.time())])
        return proc

    def wait(self, proc: subprocess.Popen) -> int:
        """Wait for a child, recording the processes it starts (its kernel) as they appear; forget them after."""
        try:
            while True:
                try:
                    return proc.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    self._record(proc.pid, _descendants(proc.pid))
        finally:
            with self._mutex:
                self._families.pop(proc.pid, None)
            self._save()

    def _record(self, root: int, found: list[tuple[int, float]]) -> None:
        """Add processes to a child's family; rewrite the lock when there is a new one."""
        with self._mutex:
            family = self._families.get(root)
            new = family is not None and any(pid not in family for pid, _ in found)
            if new:
                family.update(found)
        if new:
            self._save()

    def records(self) -> list[dict]:
        """Every recorded process, as the lock stores it."""
        with self._mutex:
            records = []
            for family in self._families.values():
                records += [{"pid": pid, "create_time": started} for pid, started in family.items()]
            return records

    def _save(self) -> None:
        """Write the recorded processes into the lock."""
        if self.lock is not None:
            self.lock.set_children(self.records())

    def stop_all(self) -> None:
        """Stop every child and its kernel: SIGTERM, then SIGKILL for whatever is left after STOP_GRACE_S."""
        with self._mutex:
            self.stopping = True
            wanted = {}  # pid -> start time of every recorded process and whatever it started since
            for root, family in self._families.items():
                wanted.update(family)
                wanted.update(_descendants(root))
        procs = []
        for pid, started in wanted.items():
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - started) <= 1:
                    proc.terminate()
                    procs.append(proc)
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_S)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass


@contextmanager
def _takers_in_turn(folder: Path):
    """Let one batch at a time look at and take the folder's lock (flock on the folder): no two take one stale lock."""
    # without flock (Windows), creating the lock with os.link alone keeps it atomic
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_lock(path: Path) -> dict | None:
    """The lock's record, None when it is gone; a file that is not a batch lock is an error saying how to clear it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        text = f"<unreadable: {err}>"
    if _PID.fullmatch(text.strip()):
        return {"pid": int(text.strip())}  # written by an older version: a bare pid
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        raise GlueHelpersError(f"The batch lock {path} is not a lock this program wrote (it holds {text[:80]!r}). "
                               f"If no batch is running in {path.parent}, delete it (rm '{path}') and run again.")
    return record


class BatchLock:
    """`<out>/.batch.lock`: the batch running in a folder and its notebook processes; stale when none is alive."""

    def __init__(self, out: Path):
        self.out, self.path = out, out / LOCK
        self.record = {"pid": os.getpid(), "host": socket.gethostname(), "create_time": _create_time(os.getpid()),
                       "started_at": datetime.now(timezone.utc).isoformat(), "token": os.urandom(8).hex(),
                       "children": []}

    def acquire(self) -> BatchLock:
        """Take the lock, or raise naming who holds it; a stale one (nothing of it alive) is taken over."""
        self.out.mkdir(parents=True, exist_ok=True)
        with _takers_in_turn(self.out):
            while not self._create():
                self._clear_if_stale()
        return self

    def _temp_copy(self) -> Path:
        """The record in a new file beside the lock."""
        fd, tmp = tempfile.mkstemp(dir=self.out, prefix=f"{LOCK}.tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.record, f)
        return Path(tmp)

    def _create(self) -> bool:
        """Create the lock with its whole record at once; False when there is one already."""
        tmp = self._temp_copy()
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: exclusive create, still under _takers_in_turn
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(tmp.read_text())
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _clear_if_stale(self) -> None:
        """Remove the lock when its batch and notebooks are all gone; else raise saying who still runs."""
        held = read_lock(self.path)
        if held is None:
            return
        host, pid = held.get("host"), held["pid"]
        if host not in (None, socket.gethostname()):
            raise GlueHelpersError(f"A batch on host {host} (process {pid}) holds {self.path}. If it no longer runs, "
                                   f"delete the lock (rm '{self.path}') and run again.")
        if process_alive(pid, held.get("create_time")):
            raise GlueHelpersError(f"Another batch (process {pid}) is running in {self.out}; wait for it or use "
                                   "another --out.")
        left = _wait_for_orphans(held.get("children") or [])
        if left:
            pids = " ".join(str(c["pid"]) for c in left)
            raise GlueHelpersError(
                f"The batch that held {self.path} (process {pid}) is gone, but its notebook process(es) {pids} still "
                f"write in {self.out}. Wait for them to end, or stop them (kill {pids}), then run again.")
        self.path.unlink(missing_ok=True)

    def set_children(self, children: list[dict]) -> None:
        """Record the batch's notebook processes in the lock (replaced whole, so a reader never sees half)."""
        self.record["children"] = children
        os.replace(self._temp_copy(), self.path)

    def release(self) -> None:
        """Remove the lock if it is still this batch's."""
        try:
            held = read_lock(self.path)
        except GlueHelpersError:
            return
        if held and held.get("token") == self.record["token"]:
            self.path.unlink(missing_ok=True)


def _wait_for_orphans(children: list[dict]) -> list[dict]:
    """The recorded notebook processes of a dead batch still alive after up to ORPHAN_WAIT_S."""
    deadline = time.monotonic() + ORPHAN_WAIT_S
    alive = [c for c in children if process_alive(c["pid"], c.get("create_time"))]
    if alive:
        print(f"Waiting for the notebooks of a stopped batch to exit (process(es) "
              f"{' '.join(str(c['pid']) for c in alive)}) ...", file=sys.stderr)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [c for c in alive if process_alive(c["pid"], c.get("create_time"))]
    return alive


@contextmanager
def run_lock(out: Path):
    """Hold `<out>/.batch.lock` while running, so two batches never write the same folder at once."""
    lock = BatchLock(out).acquire()
    try:
        yield lock
    finally:
        lock.release()
