"""The TensorFlow/Keras bounds in pyproject.toml: tested at both ends, documented where users look."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> dict[str, Requirement]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = {r.name: r for r in map(Requirement, deps)}
    return {name: reqs[name] for name in ("tensorflow", "keras")}


@pytest.mark.parametrize("name", ["tensorflow", "keras"])
def test_bounds_are_closed_and_documented(name: str):
    # An open upper bound lets pip install a release nobody ran; the README and docs/versions.md
    # must state the same range as the metadata pip reads.
    spec = _declared()[name].specifier
    operators = {s.operator for s in spec}
    assert operators == {">=", "<"}, f"{name}: {spec}"
    text = str(spec)
    ordered = ",".join(sorted(text.split(","), key=lambda s: not s.startswith(">=")))
    for doc in ("README.md", "docs/versions.md"):
        assert f"{name}{ordered}" in (ROOT / doc).read_text(), f"{doc} lacks {name}{ordered}"


@pytest.mark.parametrize("name", ["tensorflow", "keras"])
def test_installed_version_is_inside_the_tested_range(name: str):
    # Running the tests outside the range (e.g. PYTHONPATH over an older install) tests a
    # combination the bounds claim nothing about.
    assert _declared()[name].specifier.contains(version(name), prereleases=True)
