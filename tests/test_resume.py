"""Interrupted runs, --resume and deterministic mode (subprocesses, real signals)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import invoke, make_reviews, write_csv
from tests.makers import REGEX, TINY_FOR, make_series, make_wavs, write_series

# Deterministic, and patient enough that every run trains all 4 epochs: runs can be compared.
EXACT = [
    "--set",
    "train.deterministic=true",
    "--set",
    "train.patience=10",
    "--epochs",
    "4",
]
ARGS = [
    "--set",
    "model.units=8",
    "--set",
    "model.embedding_dim=16",
    "--set",
    "train.verbose=epoch",
    *EXACT,
]


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "rnn_recipes.cli", *map(str, args)]


def _start(data: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        _cli("run", "sentiment", "--data", data, *ARGS, "-o", out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_epochs(out: Path, epochs: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until the partial run's history.csv has ``epochs`` rows."""
    history = out.parent / f".{out.name}.partial" / "history.csv"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) >= 1 + epochs:
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError(f"no {epochs} epochs within {timeout} s")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("resume") / "reviews.csv", make_reviews(3000))


@pytest.fixture(scope="module")
def uninterrupted(data: Path) -> dict:
    out = data.parent / "full"
    subprocess.run(
        _cli("run", "sentiment", "--data", data, *ARGS, "-o", out), check=True, capture_output=True
    )
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_same_seed_in_deterministic_mode_gives_identical_metrics(data: Path, uninterrupted):
    out = data.parent / "again"
    subprocess.run(
        _cli("run", "sentiment", "--data", data, *ARGS, "-o", out), check=True, capture_output=True
    )
    again = json.loads((out / "metrics.json").read_text())
    assert again["test"] == uninterrupted["test"]
    assert again["train"]["deterministic"] is True


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(data: Path, uninterrupted, tmp_path: Path):
    out = tmp_path / "killed"
    proc = _start(data, out)
    _wait_for_epochs(out, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = tmp_path / ".killed.partial"
    assert json.loads((partial / "status.json").read_text())["status"] == "running"
    assert not out.exists()  # nobody sees half a run

    # Starting afresh on the same output is refused, with the way forward.
    refused = invoke("run", "sentiment", "--data", data, "-o", out)
    assert refused.exit_code == 1 and "--resume" in refused.stderr

    resumed = subprocess.run(
        _cli("run", "sentiment", "--resume", "-o", out), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming after epoch" in resumed.stdout
    assert not partial.exists() and not (out / "status.json").exists()
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["epochs_run"] == 4
    assert metrics["train"]["resumed_after_epoch"] in (1, 2)
    assert metrics["test"] == uninterrupted["test"]  # deterministic mode: exactly the same
    assert not (out / "checkpoint").exists()


@pytest.mark.slow
def test_ctrl_c_keeps_the_epochs_and_says_how_to_resume(data: Path, tmp_path: Path):
    out = tmp_path / "stopped"
    proc = _start(data, out)
    checkpoint = tmp_path / ".stopped.partial" / "checkpoint" / "checkpoint"
    deadline = time.monotonic() + 300
    while not checkpoint.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the first epoch's checkpoint: from then on ctrl-C keeps the run
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert "--resume --output" in stderr.strip().splitlines()[-1]
    partial = tmp_path / ".stopped.partial"
    assert json.loads((partial / "status.json").read_text())["status"] == "interrupted"
    result = invoke("run", "sentiment", "--resume", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "saved_model" / "saved_model.pb").is_file()


def test_resume_refuses_other_options_and_missing_runs(tmp_path: Path):
    result = invoke("run", "sentiment", "--resume", "-o", tmp_path / "x", "--force")
    assert result.exit_code == 2 and "drop --force" in result.stderr
    result = invoke("run", "sentiment", "--resume")
    assert result.exit_code == 2 and "--resume needs --output" in result.stderr
    result = invoke("run", "sentiment", "--resume", "-o", tmp_path / "x")
    assert result.exit_code == 1 and "no interrupted run to resume" in result.stderr
    assert os.listdir(tmp_path) == []


# The same promise for the other tasks' pipelines (cached features, windowed series): a run killed
# after epoch 2 of 4 and resumed ends with exactly the metrics of an uninterrupted run.
OTHER_TASKS = {
    "speech": lambda root: [
        "--data",
        make_wavs(root / "clips", labels=("low", "mid", "high"), takes=4),
        "--set",
        f"data.label_regex={REGEX}",
    ],
    "forecast": lambda root: ["--data", write_series(root / "series.csv", *make_series())],
}


def _full_and_killed(task: str, args: list, root: Path) -> tuple[dict, dict, Path, Path]:
    """Run ``args`` in full, and again killed after epoch 2 and resumed.

    Returns the metrics of the full run and of the resumed one, and both run folders."""
    full = root / "full"
    subprocess.run(_cli(*args, "-o", full), check=True, capture_output=True)
    out = root / "killed"
    proc = subprocess.Popen(
        _cli(*args, "-o", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for_epochs(out, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(
        _cli("run", task, "--resume", "-o", out), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    expected = json.loads((full / "metrics.json").read_text())
    return expected, json.loads((out / "metrics.json").read_text()), full, out


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(OTHER_TASKS))
def test_other_tasks_resume_to_the_same_result(task: str, tmp_path: Path):
    args = ["run", task, *OTHER_TASKS[task](tmp_path), *TINY_FOR[task], *EXACT]
    expected, metrics, full, out = _full_and_killed(task, args, tmp_path)
    assert metrics["train"]["resumed_after_epoch"] in (1, 2)
    assert metrics["train"]["epochs_run"] == expected["train"]["epochs_run"] == 4
    assert metrics["test"] == expected["test"]
    # Every epoch's losses, to the last digit: the resumed epochs saw the same data order,
    # dropout masks and optimizer state as the uninterrupted run's.
    assert (out / "history.csv").read_text() == (full / "history.csv").read_text()


@pytest.mark.slow
def test_a_run_killed_before_early_stopping_watches_resumes_to_the_same_result(
    data: Path, tmp_path: Path
):
    """train.watch_from_epoch=3: killed after epoch 2 (its checkpoint holds epoch 1 or 2), while
    early stopping still ignores the epochs and has no best value; the resumed run keeps the same
    best epoch and metrics."""
    args = ["run", "sentiment", "--data", data, *ARGS, "--set", "train.watch_from_epoch=3"]
    expected, metrics, full, out = _full_and_killed("sentiment", args, tmp_path)
    assert expected["train"]["best_epoch"] >= 3
    assert metrics["train"]["resumed_after_epoch"] in (1, 2)
    assert metrics["train"]["best_epoch"] == expected["train"]["best_epoch"]
    assert metrics["test"] == expected["test"]
    assert (out / "history.csv").read_text() == (full / "history.csv").read_text()
