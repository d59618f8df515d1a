"""Who runs in a batch folder: `<out>/.batch.lock` (pid, host, start time, notebook processes) and those processes,
which die with the batch (Linux: even on kill -9); a new batch waits for a killed one's notebooks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

import psutil

from ..errors import GlueHelpersError
from ..rundir import write_json

LOCK = ".batch.lock"
POLL_S = 0.5  # how often a running task's new processes (its kernel) are recorded in the lock
ORPHAN_WAIT_S = 15.0  # how long a new batch waits for a killed batch's notebooks to stop before it refuses
STOP_GRACE_S = 3.0  # how long stopped notebooks get to exit before they are killed


class BatchStopping(Exception):
    """The batch is stopping: start no more notebooks."""


def process_alive(pid: int, create_time: float | None = None) -> bool:
    """True when that process (the same one, if its start time is known) is running and not a zombie."""
    try:
        proc = psutil.Process(int(pid))
        same = create_time is None or abs(proc.create_time() - float(create_time)) <= 1  # else the pid was reused
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _family(pid: int) -> dict[int, float]:
    """{pid: start time} of a process and every process below it (papermill's kernel), or {} when it is gone."""
    try:
        proc = psutil.Process(pid)
        return {p.pid: p.create_time() for p in [proc, *proc.children(recursive=True)]}
    except psutil.Error:
        return {}


def die_with_parent():
    """A `preexec_fn` that kills the child when this process dies, even by kill -9 (Linux PDEATHSIG); else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl, parent = ctypes.CDLL(None, use_errno=True).prctl, os.getpid()  # looked up here: the child only calls it

    def set_death_signal():
        prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG (linux/prctl.h)
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
        """Start a child in its own session (a terminal's Ctrl-C reaches only the batch) that dies with this process."""
        with self._mutex:
            if self.stopping:
                raise BatchStopping
            proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent(), **kwargs)
            self._families[proc.pid] = {}
        return proc

    def wait(self, proc: subprocess.Popen) -> int:
        """Wait for a child, recording in the lock the processes it starts (its kernel) as they appear; forget after."""
        try:
            while True:
                found = _family(proc.pid)
                with self._mutex:
                    new = not found.keys() <= self._families[proc.pid].keys()
                    self._families[proc.pid].update(found)
                if new:
                    self._save()
                with suppress(subprocess.TimeoutExpired):
                    return proc.wait(timeout=POLL_S)
        finally:
            with self._mutex:
                self._families.pop(proc.pid, None)
            self._save()

    def _save(self) -> None:
        """Write the recorded processes into the lock (under the mutex, so an older list never replaces a newer)."""
        if self.lock is not None:
            with self._mutex:
                self.lock.set_children([{"pid": pid, "create_time": started}
                                        for family in self._families.values() for pid, started in family.items()])

    def stop_all(self) -> None:
        """Stop every child and its kernel: SIGTERM, then SIGKILL for whatever is left after STOP_GRACE_S."""
        with self._mutex:
            self.stopping = True
            wanted = {}  # pid -> start time of every recorded process and whatever it started since
            for root, family in self._families.items():
                wanted.update(family)
                wanted.update(_family(root))
        procs = []
        for pid, started in wanted.items():
            with suppress(psutil.Error):
                proc = psutil.Process(pid)
                if abs(proc.create_time() - started) <= 1:
                    proc.terminate()
                    procs.append(proc)
        for proc in psutil.wait_procs(procs, timeout=STOP_GRACE_S)[1]:
            with suppress(psutil.Error):
                proc.kill()


@contextmanager
def _takers_in_turn(folder: Path):
    """Let one batch at a time look at and take the folder's lock (flock on the folder): no two take one stale lock."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):  # without flock (Windows), creating the lock with os.link alone keeps it atomic
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
        record = json.loads(text)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        text, record = f"<unreadable: {err}>", None
    except ValueError:
        record = None
    if type(record) is int:
        record = {"pid": record}  # written by an older version: a bare pid
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        raise GlueHelpersError(f"The batch lock {path} is not a lock this program wrote (it holds {text[:80]!r}). "
                               f"If no batch is running in {path.parent}, delete it (rm '{path}') and run again.")
    return record


class BatchLock:
    """`<out>/.batch.lock`: the batch running in a folder and its notebook processes; stale when none is alive."""

    def __init__(self, out: Path):
        self.out, self.path = out, out / LOCK
        self.record = {"pid": os.getpid(), "host": socket.gethostname(), "create_time": psutil.Process().create_time(),
                       "started_at": datetime.now(timezone.utc).isoformat(), "token": os.urandom(8).hex(),
                       "children": []}

    def acquire(self) -> BatchLock:
        """Take the lock, or raise naming who holds it; a stale one (nothing of it alive) is taken over."""
        self.out.mkdir(parents=True, exist_ok=True)
        with _takers_in_turn(self.out):
            while not self._create():
                self._clear_if_stale()
        return self

    __enter__ = acquire

    def _create(self) -> bool:
        """Create the lock with its whole record at once; False when there is one already."""
        tmp = write_json(self.out / f"{LOCK}.tmp-{self.record['token']}", self.record)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: exclusive create, still under _takers_in_turn
            try:
                with open(self.path, "x") as f:
                    f.write(tmp.read_text())
            except FileExistsError:
                return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _clear_if_stale(self) -> None:
        """Remove the lock when its batch and notebooks are all gone (given ORPHAN_WAIT_S); else raise naming them."""
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
        deadline = time.monotonic() + ORPHAN_WAIT_S
        left = [c for c in held.get("children") or [] if process_alive(c["pid"], c.get("create_time"))]
        if left:
            print(f"Waiting for the notebooks of a stopped batch to exit (process(es) "
                  f"{' '.join(str(c['pid']) for c in left)}) ...", file=sys.stderr)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [c for c in left if process_alive(c["pid"], c.get("create_time"))]
        if left:
            pids = " ".join(str(c["pid"]) for c in left)
            raise GlueHelpersError(
                f"The batch that held {self.path} (process {pid}) is gone, but its notebook process(es) {pids} still "
                f"write in {self.out}. Wait for them to end, or stop them (kill {pids}), then run again.")
        self.path.unlink(missing_ok=True)

    def set_children(self, children: list[dict]) -> None:
        """Record the batch's notebook processes in the lock (replaced whole, so a reader never sees half)."""
        self.record["children"] = children
        write_json(self.path, self.record)

    def release(self, *_exc) -> None:
        """Remove the lock if it is still this batch's (one that is not, or is no lock, is left alone)."""
        with suppress(GlueHelpersError):
            if (read_lock(self.path) or {}).get("token") == self.record["token"]:
                self.path.unlink(missing_ok=True)

    __exit__ = release


run_lock = BatchLock  # `with run_lock(out) as lock:` holds the lock while running: no two batches write one folder
