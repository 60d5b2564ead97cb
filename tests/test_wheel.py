"""The built wheel carries the recipes and demo data: install it offline into a fresh venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_recipes.config import builtin_recipes
from tests.conftest import REPO


@pytest.mark.slow
def test_wheel_installs_offline_and_finds_builtin_recipes(tmp_path: Path):
    src = tmp_path / "src-copy"  # build from a copy: the build must not write into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = dist.glob("rnn_recipes-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    bindir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    # The venv must import the wheel's copy, also when the suite runs with PYTHONPATH=src.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            str(bindir / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--quiet",
            str(wheel),
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    where = subprocess.run(
        [
            str(bindir / "python"),
            "-c",
            "import rnn_recipes, importlib.resources as r; print(rnn_recipes.__file__); "
            "print((r.files('rnn_recipes') / 'samples' / 'sentiment_reviews.csv').is_file())",
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.split()
    assert where[0].startswith(str(venv)), where  # the wheel's copy, not the checkout
    assert where[1] == "True"
    demo = subprocess.run(
        [
            str(bindir / "python"),
            "-c",
            "import importlib.resources as r; d = r.files('rnn_recipes') / 'samples'; "
            "print(len(list((d / 'speech_vowels').iterdir())), (d / 'forecast_demo.csv').is_file())",
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.split()
    assert int(demo[0]) >= 100 and demo[1] == "True"  # demo data in sub-folders ships too

    listed = subprocess.run(
        [str(bindir / "rnn-recipes"), "list"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == list(builtin_recipes())  # every recipe of the source tree ships
    shown = subprocess.run(
        [str(bindir / "rnn-recipes"), "show", "sentiment"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert 'path = "pkg:samples/sentiment_reviews.csv"' in shown.stdout
