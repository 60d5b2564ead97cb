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
from tests.makers import clip, make_wavs, speech_run, write_manifest

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
    # The tiny model's 8 mel bands: 4 MFCCs.
    mixed = ["--set", "train.ensemble=2", "--set", 'features.member_kinds=["log_mel", "mfcc"]']
    mixed += ["--set", "features.mfcc=4"]
    for name, extra in (
        ("plain", []),
        ("ensemble", ["--set", "train.ensemble=2"]),
        ("mixed", mixed),
    ):
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


def test_members_on_different_features_read_their_own_from_frames_holding_both(runs):
    plain, mixed = _metrics(runs["plain"]), _metrics(runs["mixed"])
    members = mixed["ensemble"]["members"]
    assert [m.get("settings") for m in members] == ["log-mel features", "mfcc features"]
    assert "but for their settings (in members)" in mixed["ensemble"]["note"]
    # Member 1 reads the log-mel columns of the two-kind frames: exactly the plain run.
    assert members[0]["validation"] == plain["validation"]
    assert members[0]["test"]["accuracy"] == plain["test"]["accuracy"]
    stdout = (runs["mixed"] / "stdout.txt").read_text()
    assert "log-mel + mfcc (12 per frame)" in stdout
    assert "Ensemble member 2 of 2: starting weights from seed 1338, mfcc features" in stdout

    import tensorflow as tf

    from rnn_recipes.export import load_keras

    full = load_keras(runs["mixed"])
    waves = _waves()
    frames = full.get_layer("features")(waves)
    assert frames.shape[-1] == 8 + 4
    inner = full.get_layer("speech_ensemble")
    columns = [inner.get_layer(f"member_{k}").get_layer("feature_columns") for k in (1, 2)]
    assert [(c.start, c.stop) for c in columns] == [(0, 8), (8, 12)]
    each = [np.asarray(inner.get_layer(f"member_{k}")(frames)) for k in (1, 2)]
    np.testing.assert_allclose(np.asarray(full(waves)), np.mean(each, axis=0), atol=1e-5)
    # The plain run's model on log-mel frames gives member 1's probabilities.
    alone = load_keras(runs["plain"])
    np.testing.assert_allclose(np.asarray(alone(waves)), each[0], atol=1e-5)
    served = (
        tf.saved_model.load(str(runs["mixed"] / "saved_model"))
        .signatures["serving_default"](waveform=waves)["probabilities"]
        .numpy()
    )
    np.testing.assert_allclose(served, np.asarray(full(waves)), atol=1e-5)


def test_frames_holding_both_kinds_are_log_mel_then_mfcc():
    from rnn_recipes.tasks.speech.layers import AudioFeatures

    waves = _waves()
    both = AudioFeatures(sample_rate=8000, mfcc=13, keep_log_mel=True)(waves)
    log_mel = AudioFeatures(sample_rate=8000)(waves)
    mfcc = AudioFeatures(sample_rate=8000, mfcc=13)(waves)
    assert both.shape[-1] == 53
    np.testing.assert_array_equal(both[..., :40], log_mel)
    np.testing.assert_array_equal(both[..., 40:], mfcc)


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
        (
            ["train.ensemble=2", 'features.member_kinds=["log_mel", "spectrogram"]'],
            "takes 'log_mel' or 'mfcc' per member, got 'spectrogram'",
        ),
        (
            ["train.ensemble=2", 'features.member_kinds=["mfcc", "log_mel"]'],
            "member 1's kind, which features.kind sets: 'mfcc' against 'log_mel'",
        ),
    ],
)
def test_ensemble_settings_that_cannot_work_are_one_clear_error(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config("speech", sets=["data.path=x", *sets])


@pytest.mark.parametrize(
    "ensemble, kinds, frames, members",
    [
        (3, [], ["log_mel"], ["log_mel"] * 3),
        (3, ["mfcc", "mfcc", "log_mel"], ["log_mel", "mfcc"], ["mfcc", "mfcc", "log_mel"]),
        # A quick one-model run of such a recipe computes its one kind only.
        (1, ["mfcc", "mfcc", "log_mel"], ["mfcc"], ["mfcc"]),
        (2, ["mfcc", "mfcc", "log_mel"], ["mfcc"], ["mfcc", "mfcc"]),
        # The kinds repeat in turn when the ensemble has more members.
        (4, ["mfcc", "log_mel"], ["log_mel", "mfcc"], ["mfcc", "log_mel", "mfcc", "log_mel"]),
    ],
)
def test_member_kinds_are_taken_in_turn(ensemble, kinds, frames, members):
    from rnn_recipes.tasks.speech.config import frame_kinds, member_config

    kind = kinds[0] if kinds else "log_mel"
    sets = [f"train.ensemble={ensemble}", f'features.kind="{kind}"']
    config = load_config(
        "speech", sets=["data.path=x", *sets, f"features.member_kinds={kinds}"]
    ).config
    assert frame_kinds(config) == frames
    configs = [member_config(config, k) for k in range(1, ensemble + 1)]
    assert [c.features.kind for c, _ in configs] == members
    # Members are told apart (logs, metrics.json) only when their features differ.
    assert all(bool(note) == (len(frames) > 1) for _, note in configs)


def test_precomputed_frames_cannot_hold_two_kinds_one_clear_error(tmp_path: Path):
    (tmp_path / "feats").mkdir()
    rows = []
    for i in range(8):
        np.save(tmp_path / "feats" / f"{i}.npy", np.ones((5, 13), np.float32))
        rows.append({"path": f"feats/{i}.npy", "label": ("yes", "no")[i % 2]})
    manifest = write_manifest(tmp_path / "feats.csv", rows)
    done = subprocess.run(
        _cli(
            "run",
            "speech",
            "--set",
            f"data.manifest={manifest}",
            "--set",
            "train.ensemble=2",
            "--set",
            'features.member_kinds=["log_mel", "mfcc"]',
            "-o",
            tmp_path / "run",
        ),
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "features come precomputed, of one kind: set features.member_kinds = []" in done.stderr
    assert not (tmp_path / "run").exists()


def test_tasks_without_an_ensemble_do_not_take_the_key():
    with pytest.raises(ConfigError, match="ensemble"):
        load_config("forecast", sets=["train.ensemble=2"])
