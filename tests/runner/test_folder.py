"""The run folder never costs the user a file: resolution, markers, locks, --resume, failures.

Each test reproduces a defect found by a hostile review of the CLI (issue 10) or by reading the
runner (issue 11); the CLI tests train tiny models for one or two epochs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rnn_recipes.errors import RecipeError
from rnn_recipes.runner import folder as run_folder
from rnn_recipes.runner.folder import MARKER, RunFolder, partial_dir, resolve_output
from tests.conftest import (
    TINY,
    assert_clean_failure,
    invoke,
    make_reviews,
    tree_snapshot,
    write_csv,
)

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """A user's working folder: a paper, a data folder, a CSV to train on."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper.md").write_text("my paper\n")
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "reviews.csv", make_reviews(96))
    return tmp_path


def _run(*extra):
    return invoke("run", "sentiment", "--data", "data/reviews.csv", *TINY, "--epochs", "1", *extra)


def _fake_partial(out: Path, recipe: str = "sentiment", fingerprint: str | None = None) -> Path:
    """An interrupted run's partial folder, as the runner leaves it (no training needed)."""
    work = partial_dir(out)
    work.mkdir(parents=True)
    settings = ["--set", "data.path=data/reviews.csv", "--set", "train.epochs=1"]
    config = invoke("show", "sentiment", *TINY, *settings)
    assert config.exit_code == 0, config.output
    (work / "config.toml").write_text(config.stdout)
    marker = {"format": 1, "recipe": recipe, "task": "sentiment", "data_fingerprint": fingerprint}
    (work / MARKER).write_text(json.dumps(marker))
    (work / "status.json").write_text(json.dumps({"status": "interrupted", "recipe": recipe}))
    return work


# --- 1. --output is resolved before any check; nothing unrecognised is ever removed -------------


@pytest.mark.parametrize("force", [False, True])
def test_output_dotdot_never_touches_the_working_folder(workspace: Path, force: bool):
    before = tree_snapshot(workspace)
    result = _run("-o", "newrun/..", *(["--force"] if force else []))
    assert_clean_failure(result, "choose another --output")
    assert str(workspace) in result.stderr  # the folder that would really have been used
    assert tree_snapshot(workspace) == before


def test_force_refuses_a_lookalike_without_the_marker(workspace: Path):
    mine = workspace / "results"
    mine.mkdir()
    (mine / "config.toml").write_text("my own config\n")
    (mine / "metrics.json").write_text("{}\n")
    before = tree_snapshot(workspace)
    result = _run("-o", mine, "--force")
    assert_clean_failure(result, "not a run folder made by rnn-recipes")
    assert tree_snapshot(workspace) == before


@pytest.mark.parametrize("dangling", [False, True])
def test_symlinked_output_is_refused(workspace: Path, dangling: bool):
    target = workspace / ("nowhere" if dangling else "data")
    (workspace / "link").symlink_to(target)
    before = tree_snapshot(workspace)
    result = _run("-o", "link")
    assert_clean_failure(result, "is a symbolic link")
    assert tree_snapshot(workspace) == before


def test_output_that_cannot_be_created_fails_before_training(workspace: Path):
    result = _run("-o", "/proc/rnn-recipes-run")
    assert_clean_failure(result, "choose another --output")
    assert "Loading data" not in result.stdout


def test_resolve_output_follows_dotdot_and_parent_links(tmp_path: Path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert resolve_output(tmp_path / "alias" / "run") == (tmp_path / "real" / "run")
    assert resolve_output(tmp_path / "x" / "..") == tmp_path


# --- 2. --resume never deletes what sits at --output --------------------------------------------


def test_resume_refuses_when_a_folder_appeared_at_output(workspace: Path):
    out = workspace / "out"
    _fake_partial(out)
    out.mkdir()
    (out / "notes.txt").write_text("the user's own notes\n")
    before = tree_snapshot(workspace)
    result = invoke("run", "sentiment", "--resume", "-o", out)
    assert_clean_failure(result, "move it away")
    assert tree_snapshot(workspace) == before


# --- 3. one process per run folder ---------------------------------------------------------------


@pytest.mark.skipif(fcntl is None, reason="advisory locks need fcntl (POSIX)")
def test_a_live_run_is_never_taken_over(workspace: Path):
    out = workspace / "out"
    work = _fake_partial(out)
    (work / "status.json").write_text(json.dumps({"status": "running", "pid": 4242}))
    fd = os.open(work / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as the live run holds it
    try:
        before = tree_snapshot(workspace)
        for args in (["--force"], []):
            result = _run("-o", out, *args)
            assert_clean_failure(result, "is in progress (process 4242)")
            assert "interrupted" not in result.stderr
        result = invoke("run", "sentiment", "--resume", "-o", out)
        assert_clean_failure(result, "is in progress")
        assert tree_snapshot(workspace) == before
    finally:
        os.close(fd)


def test_a_stale_lock_of_a_dead_run_does_not_block_resume(workspace: Path):
    out = workspace / "out"
    work = _fake_partial(out, fingerprint=None)
    (work / ".lock").write_text("12345\n")  # left by a killed process: nobody holds it
    result = invoke("run", "sentiment", "--resume", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert not work.exists() and not (out / ".lock").exists()


def test_default_names_started_in_the_same_second_do_not_collide(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(run_folder, "default_output", lambda recipe, root: root / "r-same")
    made = [
        RunFolder.create(
            None,
            recipe="r",
            task="sentiment",
            force=False,
            data_fingerprint="x",
            default_root=tmp_path,
        )
        for _ in range(3)
    ]
    try:
        assert [m.out.name for m in made] == ["r-same", "r-same-2", "r-same-3"]
        assert all(m.work.is_dir() for m in made)
    finally:
        for m in made:
            m.discard()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(fcntl is None, reason="advisory locks need fcntl (POSIX)")
def test_a_second_run_on_the_same_output_is_refused_while_the_first_works(tmp_path: Path):
    first = RunFolder.create(
        tmp_path / "out", recipe="r", task="sentiment", force=False, data_fingerprint="x"
    )
    try:
        with pytest.raises(RecipeError, match="is in progress"):
            RunFolder.create(
                tmp_path / "out", recipe="r", task="sentiment", force=True, data_fingerprint="x"
            )
        assert first.work.is_dir()
    finally:
        first.discard()


# --- 11/3: --resume checks the recipe and the data ---------------------------------------------


def test_resume_with_another_recipe_is_refused(workspace: Path):
    out = workspace / "out"
    _fake_partial(out, recipe="sentiment")
    result = invoke("run", "speech", "--resume", "-o", out)
    assert_clean_failure(result, "is an interrupted 'sentiment' run, not 'speech'")


def test_resume_after_the_data_changed_is_refused(workspace: Path):
    out = workspace / "out"
    _fake_partial(out, fingerprint="0" * 64)
    result = invoke("run", "sentiment", "--resume", "-o", out)
    assert_clean_failure(result, "changed since it started")
    assert partial_dir(out).is_dir()


# --- failures after a whole training keep the trained run ----------------------------------------


def test_a_failure_after_training_keeps_the_run_and_resume_finishes_it(
    workspace: Path, monkeypatch
):
    from rnn_recipes.runner import artifacts

    calls = {"n": 0}
    real = artifacts.report.plot_learning_curves

    def broken_plot(history, path):
        calls["n"] += 1
        path.write_bytes(b"half a png")  # a crash in the middle of drawing
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts.report, "plot_learning_curves", broken_plot)
    result = _run("-o", "out", "--epochs", "2")
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "no space left on device" in line and "--resume --output" in line
    work = partial_dir(workspace / "out")
    status = json.loads((work / "status.json").read_text())
    assert status["status"] == "failed"  # not "running": nobody is working in it
    assert (work / "model.keras").is_file() and (work / "saved_model").is_dir()
    assert any((work / "checkpoint").glob("*.index"))
    history = (work / "history.csv").read_text()

    monkeypatch.setattr(artifacts.report, "plot_learning_curves", real)
    resumed = invoke("run", "sentiment", "--resume", "-o", "out")
    assert resumed.exit_code == 0, resumed.output
    assert "training had ended" in resumed.stdout and "Epoch 1/" not in resumed.stdout
    out = workspace / "out"
    assert (out / "history.csv").read_text() == history  # nothing was trained again
    assert (out / "plots" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "checkpoint").exists() and not (out / "status.json").exists()


def test_library_warnings_go_to_the_run_folder_not_the_console(workspace: Path, monkeypatch):
    import warnings

    from rnn_recipes.runner import artifacts

    real = artifacts.report.plot_learning_curves

    def noisy(history, path):
        warnings.warn("a library complains", UserWarning, stacklevel=1)
        return real(history, path)

    monkeypatch.setattr(artifacts.report, "plot_learning_curves", noisy)
    result = _run("-o", "out")
    assert result.exit_code == 0, result.output
    assert "a library complains" not in result.stderr
    recorded = (workspace / "out" / "warnings.log").read_text()
    assert "a library complains" in recorded
    # Keras' note on every first pass over a pipeline of unknown size (length buckets) says
    # nothing is wrong; it is left out.
    assert "ran out of data" not in recorded


def test_force_replaces_a_finished_run_of_ours(workspace: Path):
    assert _run("-o", "out").exit_code == 0
    (workspace / "out" / "stale.txt").write_text("from the first run\n")
    result = _run("-o", "out", "--force")
    assert result.exit_code == 0, result.output
    assert not (workspace / "out" / "stale.txt").exists()
    assert (workspace / "out" / MARKER).is_file()
    leftovers = [p.name for p in workspace.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    shutil.rmtree(workspace / "out")
