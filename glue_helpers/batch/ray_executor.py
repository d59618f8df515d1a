"""`batch --executor ray`: each run's notebook executes with papermill as a Ray task on a cluster worker; the driver
keeps lock, archives, progress and results, and first checks that every node sees `--out` at the same path."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import GlueHelpersError
from ..rundir import write_json
from .lock import STOP_GRACE_S, ChildProcesses
from .plan import STATUS, BatchPlan, read_record, task_outcome
from .runner import BatchJob, run_task, status_line

PROBE_TIMEOUT_S = 120.0  # a node busy with other jobs still runs the probe: it asks for no CPU
WAIT_S = 1.0  # the driver wakes this often, so Ctrl-C and SIGTERM are seen while runs go on


def import_ray():
    """The `ray` module, or an error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise GlueHelpersError("--executor ray (and search --backend ray) need Ray, which is not installed. Install "
                               "the optional extra: pip install -e '.[ray]' (or pip install 'ray[tune]').") from None
    return ray


def connect(address: str | None = None):
    """Join the Ray cluster at `address` ('auto' or 'ray://HOST:10001'), or start a local one when there is none."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    local = address is None and not os.environ.get("RAY_ADDRESS")  # a new local cluster: no dashboard
    try:
        ray.init(address=address, log_to_driver=False, **({"include_dashboard": False} if local else {}))
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise GlueHelpersError(
            f"Can't join the Ray cluster at {address or os.environ.get('RAY_ADDRESS')!r} ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:300]}). Start one first (`ray start --head` on the head node, `ray start "
            "--address=HEAD:6379` on the others), then pass --address auto on a node of it or --address "
            "ray://HEAD:10001 from elsewhere.") from None
    return ray


def probe_path(out: str | Path, token: str, node: str) -> Path:
    """Where a node's probe file goes in the batch folder (the driver reads the same path back)."""
    return Path(out) / f".ray-probe-{token}-{node}"


def write_probe(out: str, token: str, node: str, notebook: str) -> dict:
    """On a worker: write the probe file into the batch folder, and say whether the notebook is there too."""
    try:
        probe_path(out, token, node).write_text(token)
        error = None
    except OSError as err:
        error = f"{type(err).__name__}: {err}"
    return {"host": socket.gethostname(), "error": error, "notebook": os.path.isfile(notebook)}


def _read_probe(path: Path, token: str) -> bool:
    """True when the driver finds the token a worker wrote there; the file is removed either way."""
    try:
        return path.read_text() == token
    except OSError:
        return False
    finally:
        path.unlink(missing_ok=True)


def run_on_worker(job: BatchJob) -> dict:
    """On a worker: run one notebook with papermill; cancelled (Ctrl-C on the driver), stop it and its kernel."""
    children = ChildProcesses()
    try:
        return run_task(job, children)
    except BaseException:
        children.stop_all()
        raise


def _failed(job: BatchJob, error: str) -> dict:
    """Write a failed status for a run whose worker died or was stopped, unless its folder says it finished."""
    if task_outcome(job.folder)[0] == "succeeded":
        return read_record(job.folder / STATUS)[0]
    status = {"run": job.run, "status": "failed", "error": error, "parameters": job.parameters,
              "log": str(job.log), "finished_at": datetime.now(timezone.utc).isoformat()}
    write_json(job.folder / STATUS, status)
    return status


@dataclass
class RayExecutor:
    """Where and how the runs execute on Ray: cluster address, resources per run, and Ray's retries."""

    address: str | None = None
    cpus_per_run: float = 1
    gpus_per_run: float | None = None  # None: 1 when the cluster has GPUs, else 0
    retries: int = 0  # Ray's retries, off unless asked: a retry reruns a notebook in a folder the dead one half wrote

    def __post_init__(self):
        """Refuse resources Ray can't schedule, before connecting."""
        if self.cpus_per_run <= 0:
            raise GlueHelpersError(f"--cpus-per-run must be above 0, got {self.cpus_per_run}.")
        if self.gpus_per_run is not None and self.gpus_per_run < 0:
            raise GlueHelpersError(f"--gpus-per-run must be 0 or more, got {self.gpus_per_run}.")
        if self.retries < 0:
            raise GlueHelpersError(f"--ray-retries must be 0 or more, got {self.retries}.")

    @property
    def threads(self) -> int:
        """CPU threads each notebook gets: its CPUs."""
        return max(1, int(self.cpus_per_run))

    def check(self, plan: BatchPlan) -> None:
        """Join the cluster, pick the GPUs per run, and refuse an `--out` (or notebook) some node can't see."""
        ray = connect(self.address)
        resources, nodes = ray.cluster_resources(), [n for n in ray.nodes() if n["Alive"]]
        if self.gpus_per_run is None:
            self.gpus_per_run = 1 if resources.get("GPU", 0) >= 1 else 0
        for name, wanted in (("CPU", self.cpus_per_run), ("GPU", self.gpus_per_run)):
            if wanted and max((n["Resources"].get(name, 0) for n in nodes), default=0) < wanted:
                raise GlueHelpersError(f"No node of the Ray cluster has {wanted:g} {name}(s) for one run (it has "
                                       f"{resources.get(name, 0):g} in all). Lower --{name.lower()}s-per-run.")
        self.probe(ray, plan, [n["NodeID"] for n in nodes])
        print(f"Ray: {len(nodes)} node(s), {resources.get('CPU', 0):g} CPU(s), "
              f"{resources.get('GPU', 0):g} GPU(s); each run gets {self.cpus_per_run:g} CPU(s), "
              f"{self.gpus_per_run:g} GPU(s).", file=sys.stderr)

    @staticmethod
    def probe(ray, plan: BatchPlan, nodes: list[str]) -> None:
        """A task on every node writes a file into `plan.out` and the driver reads it back; refuse when one can't."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        token = os.urandom(8).hex()
        task = ray.remote(write_probe)
        refs = [task.options(num_cpus=0, max_retries=0,
                             scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                .remote(str(plan.out), token, node[:12], str(plan.notebook)) for node in nodes]
        try:
            answers = ray.get(refs, timeout=PROBE_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise GlueHelpersError(f"The storage probe did not finish on every Ray node within {PROBE_TIMEOUT_S:g} "
                                   "s; check that the cluster's nodes are alive (`ray status`).") from None
        problems = []
        for node, answer in zip(nodes, answers, strict=True):
            where = f"node {answer['host']} ({node[:12]})"
            if answer["error"]:
                problems.append(f"{where} can't write there ({answer['error']})")
            elif not _read_probe(probe_path(plan.out, token, node[:12]), token):
                problems.append(f"{where} wrote a file there that this machine does not see")
            if not answer["notebook"]:
                problems.append(f"{where} does not see the notebook {plan.notebook}")
        if problems:
            raise GlueHelpersError(
                f"--out {plan.out} is not storage that every Ray node sees: {'; '.join(problems)}. Every run writes "
                "its folder from some node and this driver reads them all, so put --out (and the notebook) on a "
                "shared file system mounted at the same path on every node (NFS, Lustre, a cloud file share). "
                "Nothing was run.")

    def execute(self, jobs: list[BatchJob], progress: bool = True) -> dict[str, dict]:
        """Submit every run as a Ray task and wait for them with one progress bar; interrupted, cancel the rest."""
        from tqdm.auto import tqdm

        ray = connect(self.address)
        task = ray.remote(run_on_worker).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run or 0,
                                                 max_retries=self.retries, retry_exceptions=False)
        refs = {task.remote(job): job for job in jobs}
        statuses: dict[str, dict] = {}
        try:
            with tqdm(total=len(jobs), desc="GLUE batch (ray)", unit="run", disable=not progress or not jobs) as bar:
                pending = list(refs)
                while pending:
                    done, pending = ray.wait(pending, num_returns=1, timeout=WAIT_S)
                    for ref in done:
                        statuses[refs[ref].run] = status = self._result(ray, ref, refs[ref])
                        bar.update()
                        bar.write(status_line(status))
        except BaseException:
            self._cancel(ray, {ref: job for ref, job in refs.items() if job.run not in statuses})
            raise
        return {job.run: statuses[job.run] for job in jobs}

    @staticmethod
    def _result(ray, ref, job: BatchJob) -> dict:
        """A finished Ray task's status; a failed status when its worker died or Ray could not run it."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as err:
            first = next((line for line in str(err).splitlines() if line.strip()), "")
            return _failed(job, f"the Ray worker running it died or was lost ({type(err).__name__}: {first[:300]}); "
                                "rerun the batch to run it again")

    @staticmethod
    def _cancel(ray, left: dict) -> None:
        """Cancel the unfinished runs, gently then by killing the worker; each is marked failed, for a rerun to redo."""
        for ref in left:
            ray.cancel(ref)
        _, stuck = ray.wait(list(left), num_returns=len(left), timeout=STOP_GRACE_S + 2) if left else ([], [])
        for ref in stuck:
            ray.cancel(ref, force=True)
        for job in left.values():
            _failed(job, "stopped: the batch was interrupted")
