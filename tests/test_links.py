"""Every relative link a reader can follow resolves: README, docs/, bench/'s READMEs, and the markdown of the notebooks
and their executed copies (a notebook's links are absolute: Jupyter Lab serves notebooks/, and an executed copy lives
in docs/executed/, so a relative `../docs/` link would break in one of the two)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "bench").glob("README*.md"))]
NOTEBOOKS = [*sorted((REPO / "notebooks").glob("*.ipynb")), *sorted((REPO / "docs" / "executed").glob("*.ipynb"))]


def markdown(path: Path) -> str:
    """A page's text, or a notebook's markdown cells."""
    if path.suffix != ".ipynb":
        return path.read_text()
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def relative_links(text: str) -> list[str]:
    """The links of a markdown text that point into this repository (no scheme, not an anchor of the same page)."""
    return [link.split("#")[0] for link in LINK.findall(text) if "://" not in link and not link.startswith(
        ("#", "mailto:"))]


def test_the_link_finder_sees_relative_links_only():
    text = "[a](docs/x.md) [b](https://example.org) [c](#top) [d](../y.md#part) [e](mailto:me@example.org)"
    assert relative_links(text) == ["docs/x.md", "../y.md"]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_of_a_page_resolves(path):
    broken = [link for link in relative_links(markdown(path)) if not (path.parent / link).exists()]
    assert not broken, broken


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_a_notebooks_links_are_absolute(path):
    assert relative_links(markdown(path)) == []


def test_every_test_docs_faults_names_exists():
    """docs/faults.md promises each guarantee with a test: each name it gives (a `*` matches any tail) is a test."""
    tests = "".join(f.read_text() for f in (REPO / "tests").glob("test_*.py"))
    defined = set(re.findall(r"^def (test_\w+)", tests, re.M))
    # `test_a_b...`: a parameter such as `test_file` is one word after test_
    named = re.findall(r"(test_[a-z0-9]+_\w+\*?)(?:\[[^\]`]*\])?`", (REPO / "docs" / "faults.md").read_text())
    missing = [n for n in named if not any(d == n or n.endswith("*") and d.startswith(n[:-1]) for d in defined)]
    assert named and not missing, missing
