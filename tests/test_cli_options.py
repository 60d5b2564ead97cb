"""Command-line conventions: broken pipes, quoted --set values, --resume with the same options,
and --set for reading inputs in predict/evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_recipes.runner.folder import MARKER, partial_dir
from tests.conftest import TINY, assert_clean_failure, invoke, make_reviews, write_csv


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnn_recipes.cli", "show", "sentiment"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    _, stderr = proc.communicate(timeout=60)
    assert stderr.decode() == ""
    assert proc.returncode == 141


def test_a_quoted_set_value_that_is_not_toml_is_an_error():
    result = invoke("show", "speech", "--set", r'data.label_regex="^(?P<label>\d)_"')
    assert_clean_failure(result, "use a literal string in single quotes")
    assert "data.label_regex" in result.stderr
    ok = invoke("show", "speech", "--set", r"data.label_regex='^(?P<label>\d)_'")
    assert ok.exit_code == 0 and r"^(?P<label>\\d)_" in ok.stdout


@pytest.fixture
def interrupted(tmp_path: Path, monkeypatch) -> Path:
    """The partial folder of an interrupted tiny sentiment run (no training needed)."""
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "reviews.csv", make_reviews(96))
    out = tmp_path / "out"
    work = partial_dir(out)
    work.mkdir()
    options = [*TINY, "--set", "data.path=reviews.csv", "--set", "train.epochs=1"]
    (work / "config.toml").write_text(invoke("show", "sentiment", *options).stdout)
    (work / MARKER).write_text(json.dumps({"format": 1, "recipe": "sentiment"}))
    return out


def test_resume_refuses_options_that_differ_from_the_run(interrupted: Path):
    result = invoke(
        "run",
        "sentiment",
        "--resume",
        "-o",
        interrupted,
        "--epochs",
        "5",
        "--set",
        "model.units=4",
    )
    assert result.exit_code == 2
    assert "differ from it: train.epochs;" in result.stderr  # model.units=4 agrees: not named


def test_resume_accepts_the_options_the_run_was_started_with(interrupted: Path):
    result = invoke(
        "run",
        "sentiment",
        "--resume",
        "-o",
        interrupted,
        "--data",
        "reviews.csv",
        "--epochs",
        "1",
        *TINY,
    )
    assert result.exit_code == 0, result.output
    assert (interrupted / "metrics.json").is_file()

    # The finished run reads other files with --set for its data keys, and refuses the rest.
    other = write_csv(
        interrupted.parent / "other.csv", make_reviews(20, seed=3), header=("review", "y")
    )
    refused = invoke("evaluate", interrupted, "--data", other)
    assert refused.exit_code == 1 and "review" in refused.stderr
    read = invoke(
        "evaluate",
        interrupted,
        "--data",
        other,
        "--json",
        "--set",
        "data.text_column=review",
        "--set",
        "data.label_column=y",
    )
    assert read.exit_code == 0, read.output
    assert json.loads(read.stdout)["examples"] == 20
    model_key = invoke("predict", interrupted, "fine", "--set", "model.units=8")
    assert_clean_failure(model_key, "only data.* keys")
