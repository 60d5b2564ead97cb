"""``train.ensemble`` (speech): more models trained alike from other starting weights and draws,
averaged into the one model that is tested and exported.

Fixtures are tiny generated clips (tests/makers.py); runs are deterministic, so the ensemble's
first member can be compared with a run without the ensemble.
"""

from __future__ import annotations

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
from tests.makers import clip, make_wavs, speech_run

EXACT = ["--set", "train.deterministic=true", "--set", "train.patience=2", "--epochs", "3"]


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "rnn_recipes.cli", *map(str, args)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_wavs(tmp_path_factory.mktemp("ensemble") / "clips", labels=("low", "mid", "high"))


def _args(clips: Path, *extra: str) -> list:
    return speech_run(clips, *EXACT, *extra)


@pytest.fixture(scope="module")
def runs(clips: Path) -> dict[str, Path]:
    out = {}
    for name, extra in (("plain", []), ("ensemble", ["--set", "train.ensemble=2"])):
        out[name] = clips.parent / name
        done = subprocess.run(
            _cli(*_args(clips, *extra), "-o", out[name]), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        (out[name] / "stdout.txt").write_text(done.stdout)
    return out


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _waves():
    import tensorflow as tf

    waves = [clip("mid", 901, 0.2), clip("low", 902, 0.2), clip("high", 903, 0.2)]
    return tf.constant(np.stack(waves), tf.float32)


def test_ensemble_run_reports_every_member_and_exports_their_average(runs: dict[str, Path]):
    plain, ensemble = _metrics(runs["plain"]), _metrics(runs["ensemble"])
    record = ensemble["ensemble"]
    members = record["members"]
    assert [m["member"] for m in members] == [1, 2]
    assert [m["seed"] for m in members] == [1337, 1338]
    # Member 1 is the plain run: same epochs, same validation, same test.
    assert members[0]["best_epoch"] == plain["train"]["best_epoch"]
    assert members[0]["validation"] == plain["validation"]
    assert members[0]["test"]["accuracy"] == plain["test"]["accuracy"]
    # The others started elsewhere: they end elsewhere.
    assert members[0]["validation"]["loss"] != members[1]["validation"]["loss"]
    # Validation and test are the average's (its loss is not any member's).
    assert ensemble["validation"]["loss"] not in [m["validation"]["loss"] for m in members]
    assert 0 <= ensemble["validation"]["accuracy"] <= 1
    assert "average" in record["note"]
    stdout = (runs["ensemble"] / "stdout.txt").read_text()
    assert "Ensemble member 2 of 2: starting weights from seed 1338" in stdout
    assert (runs["ensemble"] / "members" / "2" / "history.csv").is_file()
    assert not (runs["ensemble"] / "members" / "2" / "checkpoint").exists()
    assert not (runs["ensemble"] / "cache").exists()

    # model.keras holds both members; its output is the mean of theirs, and the
    # SavedModel (raw waveforms in) gives the same probabilities.
    import tensorflow as tf

    from rnn_recipes.export import load_keras

    full = load_keras(runs["ensemble"])
    inner = full.get_layer("speech_ensemble")
    waves = _waves()
    frames = full.get_layer("features")(waves)
    each = [np.asarray(inner.get_layer(f"member_{k}")(frames)) for k in (1, 2)]
    np.testing.assert_allclose(np.asarray(full(waves)), np.mean(each, axis=0), atol=1e-5)
    assert not np.allclose(each[0], each[1], atol=1e-3)
    served = (
        tf.saved_model.load(str(runs["ensemble"] / "saved_model"))
        .signatures["serving_default"](waveform=waves)["probabilities"]
        .numpy()
    )
    np.testing.assert_allclose(served, np.asarray(full(waves)), atol=1e-5)


@pytest.mark.slow
def test_a_run_killed_during_a_member_resumes_to_the_same_result(clips: Path, tmp_path: Path):
    args = _args(clips, "--set", "train.ensemble=2")
    full = tmp_path / "full"
    subprocess.run(_cli(*args, "-o", full), check=True, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(*args, "-o", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    state = tmp_path / ".killed.partial" / "members" / "2" / "checkpoint" / "checkpoint"
    deadline = time.monotonic() + 300
    while not state.is_file():  # member 2's first epoch is checkpointed
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "member 2 did not reach its first epoch"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(
        _cli("run", "speech", "--resume", "-o", out), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics, expected = _metrics(out), _metrics(full)
    assert metrics["ensemble"]["members"][1]["resumed_after_epoch"] >= 1
    assert metrics["test"] == expected["test"]
    assert metrics["validation"] == expected["validation"]
    assert (out / "members" / "2" / "history.csv").read_text() == (
        full / "members" / "2" / "history.csv"
    ).read_text()


@pytest.mark.parametrize(
    "sets, message",
    [
        (["train.ensemble=0"], "train.ensemble is a number of models, 1 or more"),
        (["train.ensemble=2", 'train.strategy="mirrored"'], "train.ensemble runs on one device"),
        (["train.ensemble=2", "train.refit=true"], "cannot be combined yet"),
    ],
)
def test_ensemble_settings_that_cannot_work_are_one_clear_error(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config("speech", sets=["data.path=x", *sets])


def test_tasks_without_an_ensemble_do_not_take_the_key():
    with pytest.raises(ConfigError, match="ensemble"):
        load_config("forecast", sets=["train.ensemble=2"])
