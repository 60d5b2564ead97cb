"""``train.refit`` (speech): after training, a fresh model trained on the training *and*
validation clips for the epochs validation chose; it is the model tested and exported.

Fixtures are tiny generated clips (tests/makers.py); runs are deterministic so the first stage of
a refit run can be compared with a run without the refit.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.errors import ConfigError
from rnn_recipes.tasks.speech import pipeline as speech
from tests.makers import REGEX, clip, make_wavs, speech_run
from tests.makers import SPEECH_TINY as TINY

QUIET = lambda *_: None  # noqa: E731
EXACT = ["--set", "train.deterministic=true", "--set", "train.patience=2", "--epochs", "4"]


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "rnn_recipes.cli", *map(str, args)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_wavs(tmp_path_factory.mktemp("refit") / "clips", labels=("low", "mid", "high"))


def _args(clips: Path, *extra: str) -> list:
    return speech_run(clips, *EXACT, *extra)


@pytest.fixture(scope="module")
def runs(clips: Path) -> dict[str, Path]:
    out = {}
    for name, extra in (("plain", []), ("refit", ["--set", "train.refit=true"])):
        out[name] = clips.parent / name
        done = subprocess.run(
            _cli(*_args(clips, *extra), "-o", out[name]), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return out


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_refit_data_adds_the_validation_clips_to_training_only(clips: Path):
    config = load_config(
        "speech", sets=[*TINY[1::2], "data.sample_rate=8000", f"data.label_regex={REGEX}"]
    ).config
    config.data.path = str(clips)
    first = speech.make_datasets(config, log=QUIET)
    notes: list[str] = []
    refit = speech.make_datasets(config, log=notes.append, refit=True)
    validation = sum(first.counts["validation"].values())
    assert validation > 0
    assert refit.train_examples == first.train_examples + validation
    assert refit.counts["validation"] == first.counts["validation"]
    assert refit.counts["test"] == first.counts["test"]
    assert any(f"the {validation} validation examples train too" in n for n in notes)
    # The test clips are the same, in the same order.
    for a, b in zip(first.test, refit.test):
        np.testing.assert_array_equal(a[1], b[1])
    # The feature statistics now cover the validation speaker as well.
    assert not np.allclose(first.spec.mean, refit.spec.mean)


def test_refit_run_tests_and_exports_the_refit_model(runs: dict[str, Path]):
    plain, refit = _metrics(runs["plain"]), _metrics(runs["refit"])
    record = refit["refit"]
    # The first stage is the plain run: same epochs, same validation, same test.
    assert refit["train"]["best_epoch"] == plain["train"]["best_epoch"] == record["epochs"]
    assert refit["validation"] == plain["validation"]
    assert record["test_before_refit"] == plain["test"]
    assert record["train_examples"] > sum(plain["counts"]["train"].values())
    assert "validation" in record["note"]
    # The refit trained exactly the chosen epochs, with no validation pass, and left no
    # checkpoints behind.
    with open(runs["refit"] / "refit" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == record["epochs"]
    # (Keras' CSVLogger still writes val_* columns, of "NA", when fit has no validation data.)
    assert all(v == "NA" for r in rows for k, v in r.items() if k.startswith("val_"))
    assert not (runs["refit"] / "refit" / "checkpoint").exists()
    assert not (runs["refit"] / "checkpoint").exists()
    # The exported model is the refit one: it answers differently from the plain run's.
    import tensorflow as tf

    waves = tf.constant(np.stack([clip("mid", 901, 0.2), clip("low", 902, 0.2)]), tf.float32)
    probs = {
        name: tf.saved_model.load(str(run / "saved_model"))
        .signatures["serving_default"](waveform=waves)["probabilities"]
        .numpy()
        for name, run in runs.items()
    }
    assert not np.allclose(probs["plain"], probs["refit"], atol=1e-4)


@pytest.mark.slow
def test_a_run_killed_during_the_refit_resumes_to_the_same_result(clips: Path, tmp_path: Path):
    # Augmented (the default), with a wide speed range: every epoch still has the same
    # batches (bucketed by the clips' original lengths), so the refit must resume exactly.
    wide = ["--set", "augment.speed=[0.6, 1.4]"]
    args = _args(clips, "--set", "train.refit=true", *wide)
    full = tmp_path / "full"
    subprocess.run(_cli(*args, "-o", full), check=True, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(*args, "-o", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    state = tmp_path / ".killed.partial" / "refit" / "checkpoint" / "checkpoint"
    deadline = time.monotonic() + 300
    while not state.is_file():  # the refit's first epoch is checkpointed
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the refit did not reach its first epoch"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(
        _cli("run", "speech", "--resume", "-o", out), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics, expected = _metrics(out), _metrics(full)
    assert metrics["refit"]["resumed_after_epoch"] >= 1
    assert "resuming after epoch" in resumed.stdout
    assert metrics["test"] == expected["test"]
    assert (out / "refit" / "history.csv").read_text() == (
        full / "refit" / "history.csv"
    ).read_text()


def test_refit_with_a_strategy_is_one_clear_error():
    with pytest.raises(ConfigError, match="train.refit runs on one device"):
        load_config("speech", sets=["data.path=x", "train.refit=true", 'train.strategy="mirrored"'])


def test_tasks_without_a_refit_do_not_take_the_key():
    with pytest.raises(ConfigError, match="refit"):
        load_config("forecast", sets=["train.refit=true"])
