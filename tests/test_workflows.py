"""Lint the GitHub workflows: zizmor (offline) must report nothing, and every workflow pins its actions to a
full commit SHA (with the tag in a comment), gives its jobs explicit, least permissions, keeps the checkout
token out of the working tree, and passes expressions to shell scripts through `env:` only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = REPO / ".github" / "workflows"
WORKFLOWS = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])

SHA_PIN = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
# `uses: owner/repo@<sha> # v1.2.3` in the raw text (PyYAML drops comments).
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<tag>\S+))?")


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a YAML mapping"
    assert isinstance(data.get("jobs"), dict) and data["jobs"], f"{path.name}: no jobs"
    return data


def _steps(data: dict):
    for job_id, job in data["jobs"].items():
        for i, step in enumerate(job.get("steps") or []):
            yield job_id, i, step


def _is_local_or_docker(ref: str) -> bool:
    return ref.startswith(("./", "docker://"))


def test_there_are_workflows():
    assert WORKFLOWS, f"no workflows under {WORKFLOW_DIR}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_full_commit_shas(path):
    data = _load(path)
    refs = [(f"job {job_id}", job["uses"]) for job_id, job in data["jobs"].items() if "uses" in job]
    refs += [(f"job {job_id} step {i}", step["uses"]) for job_id, i, step in _steps(data) if "uses" in step]
    assert refs, f"{path.name}: no `uses:` at all"
    unpinned = [(where, ref) for where, ref in refs if not _is_local_or_docker(ref) and not SHA_PIN.match(ref)]
    assert not unpinned, f"{path.name}: not pinned to a 40-hex commit SHA: {unpinned}"


def test_pinned_shas_carry_a_consistent_tag_comment():
    """Every SHA pin names its tag in a trailing comment, and one action@sha means one tag in all files."""
    tags: dict[str, set[str]] = {}
    missing = []
    for path in WORKFLOWS:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = USES_LINE.match(line)
            if not m or _is_local_or_docker(m["ref"]):
                continue
            if not m["tag"] or not re.fullmatch(r"v\d+(\.\d+)*", m["tag"]):
                missing.append(f"{path.name}:{lineno}: {line.strip()}")
            else:
                tags.setdefault(m["ref"], set()).add(m["tag"])
    assert not missing, "pins without a `# vX.Y.Z` tag comment:\n" + "\n".join(missing)
    conflicting = {ref: sorted(t) for ref, t in tags.items() if len(t) > 1}
    assert not conflicting, f"one SHA, several tag comments: {conflicting}"
    by_action: dict[str, set[str]] = {}
    for ref in tags:
        action, sha = ref.split("@")
        by_action.setdefault(action, set()).add(sha)
    mixed = {action: sorted(shas) for action, shas in by_action.items() if len(shas) > 1}
    assert not mixed, f"an action pinned to different commits across the workflows: {mixed}"


LEAST = ({}, {"contents": "read"})


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_explicit_and_least(path):
    data = _load(path)
    assert data.get("permissions") in LEAST, f"{path.name}: top-level permissions must be {{}} or contents: read"
    for job_id, job in data["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {job_id!r} has no `permissions:` (would get the defaults)"
        assert job["permissions"] in LEAST, (f"{path.name}: job {job_id!r} asks for {job['permissions']!r}; no step "
                                             "here needs more than contents: read")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_persist_credentials(path):
    for job_id, i, step in _steps(_load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            value = (step.get("with") or {}).get("persist-credentials")
            assert value is False or str(value).lower() == "false", (
                f"{path.name}: job {job_id!r} step {i}: actions/checkout without `persist-credentials: false`")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_expressions_expanded_into_run_scripts(path):
    """`${{ }}` in `run:` is spliced into the script (template injection): pass values through `env:` as "$VAR"."""
    bad = [(job_id, i) for job_id, i, step in _steps(_load(path)) if "${{" in str(step.get("run", ""))]
    assert not bad, f"{path.name}: `${{{{ }}}}` expanded inside run: scripts at (job, step) {bad}"


def test_zizmor_offline_reports_nothing():
    here = Path(sys.executable).parent / ("zizmor.exe" if os.name == "nt" else "zizmor")
    exe = str(here) if here.exists() else shutil.which("zizmor")
    if exe is None:
        msg = "zizmor is not installed (it is pinned in requirements.txt)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    cmd = [exe, "--offline", "--strict-collection", "--no-progress", "--color", "never", str(WORKFLOW_DIR)]
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"zizmor exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
