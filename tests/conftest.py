"""Shared test helpers: tiny generated data, a CLI runner, the real-data location."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnn_recipes import tasks
from rnn_recipes.cli import cli

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RNN_RECIPES_SHARED_DATA", REPO.parent / "shared" / "data"))


def builtin_tasks() -> list[str]:
    """The tasks shipped in the package, read from the registry (a test may register more)."""
    return [n for n in tasks.names() if type(tasks.get(n)).__module__.startswith("rnn_recipes.")]


# A model small enough that one epoch takes a second or two.
TINY = [
    "--set",
    "model.units=4",
    "--set",
    "model.embedding_dim=8",
    "--set",
    "model.max_tokens=200",
    "--set",
    "model.nb_buckets=1024",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.verbose=quiet",
]

POSITIVE = ["great", "wonderful", "excellent", "loved", "superb", "delightful", "fantastic"]
NEGATIVE = ["awful", "terrible", "boring", "hated", "dull", "horrible", "disappointing"]
FILLER = ["the", "film", "food", "service", "was", "really", "quite", "and", "a", "story", "phone"]


def make_reviews(n: int = 120, seed: int = 0, classes=("positive", "negative")) -> list[tuple]:
    """Generated labelled sentences whose class is carried by a few cue words."""
    rng = random.Random(seed)
    cues = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": ["okay", "average", "fine"]}
    rows = []
    for i in range(n):
        label = classes[i % len(classes)]
        words = rng.choices(FILLER, k=rng.randint(2, 9)) + rng.choices(cues[label], k=2)
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows, header=("text", "label"), delimiter=",", encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def reviews_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "reviews.csv", make_reviews())


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(*args: str, input: str | None = None):
    """Run the CLI in-process; returns Click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Path -> (size, mtime_ns) for everything under root: proves nothing was changed."""
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def require_shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set RNN_RECIPES_SHARED_DATA to its folder)")
    return path


def assert_clean_failure(result, expected: str) -> None:
    """The bad-input promise: non-zero exit, one ``Error: ...`` line naming the problem."""
    assert result.exit_code in (1, 2), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output and "unexpected" not in lines[0]


def run_quick_start(task: str, folder: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``rnn-recipes run TASK --output folder/run`` in a fresh process, as a new user runs it.

    Returns the finished process and its wall seconds (printed, never asserted: timing is a
    benchmark figure).
    """
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "rnn_recipes.cli", "run", task, "--output", str(folder / "run")],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"{task} quick start took {seconds:.0f} s")
    return proc, seconds


# The fresh-process SavedModel check, written once: a new Python process that imports TensorFlow
# alone (no rnn_recipes, so nothing of ours is needed to serve) runs one signature on inputs
# passed through a .npz file and writes its outputs back the same way.
_FRESH_SERVE = """
import sys
import numpy as np
import tensorflow as tf

folder, inputs, outputs, name = sys.argv[1:5]
signature = tf.saved_model.load(folder).signatures[name]
with np.load(inputs) as given:
    result = signature(**{k: tf.constant(given[k]) for k in given.files})
ours = any(m.split(".")[0] == "rnn_recipes" for m in sys.modules)
np.savez(outputs, __rnn_recipes_imported__=np.array(ours), **{k: v.numpy() for k, v in result.items()})
"""


def serve_in_fresh_process(
    saved_model: Path, inputs: dict, workdir: Path, signature: str = "serving_default"
) -> dict:
    """Run ``signature`` of the SavedModel at ``saved_model`` in a new process on ``inputs``.

    Args:
        saved_model: the ``saved_model/`` folder of a run.
        inputs: argument name -> array (strings as a NumPy string array).
        workdir: where the input and output .npz files go.
        signature: the signature to call.

    Returns:
        output name -> NumPy array; strings come back as bytes. Fails the test if the process
        fails or if it imported rnn_recipes.
    """
    import numpy as np

    given, got = workdir / "fresh-inputs.npz", workdir / "fresh-outputs.npz"
    np.savez(given, **{k: np.asarray(v) for k, v in inputs.items()})
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH_SERVE, str(saved_model), str(given), str(got), signature],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(got, allow_pickle=True) as out:
        result = {k: out[k] for k in out.files}
    assert not result.pop("__rnn_recipes_imported__"), "serving needed rnn_recipes"
    return result
