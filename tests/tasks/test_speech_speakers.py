"""Speech for unseen speakers: per-clip normalization, on-the-fly augmentation, speaker-disjoint
validation by default, and short precomputed clips (issue 13).

Fixtures are the tiny generated tone clips of ``tests.makers`` (5 speakers, named like FSDD).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.errors import ConfigError
from rnn_recipes.tasks.speech import config as speech_config
from rnn_recipes.tasks.speech import pipeline as speech
from tests.conftest import invoke
from tests.makers import REGEX, SPEAKERS, make_wavs, write_manifest
from tests.makers import SPEECH_TINY as TINY

QUIET = lambda *_: None  # noqa: E731
NO_AUGMENT = ("augment.speed=[1, 1]", "augment.noise_snr=[]")


def _config(*sets: str):
    return load_config("speech", sets=[*TINY[1::2], "data.sample_rate=8000", *sets]).config


def _prepared(folder: Path, *sets: str, log=QUIET):
    config = _config(f"data.path={folder}", f"data.label_regex={REGEX}", *sets)
    return speech.make_datasets(config, log=log)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_wavs(tmp_path_factory.mktemp("speakers") / "w", takes=4)


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(True, "mean"), (False, "none"), ("mean_var", "mean_var")]
)
def test_utterance_norm_reads_old_booleans(value, expected):
    config = _config(f"features.utterance_norm={json.dumps(value)}", "data.path=x")
    assert speech_config.utterance_norm(config) == expected


def test_augmentation_is_on_by_default_and_off_when_neutral():
    assert speech_config.augmenting(_config())
    assert not speech_config.augmenting(_config(*NO_AUGMENT))
    assert not speech_config.augmenting(_config("augment.speed=[1, 1]", "augment.noise_prob=0"))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("augment.speed=[1.2, 0.9]", "augment.speed [low, high] needs 0.5 <= low <= high <= 2"),
        ("augment.speed=[0.9]", "augment.speed takes [low, high] (off: [1, 1])"),
        ("augment.noise_snr=[10, 90]", "augment.noise_snr [low, high] needs -10 <= low"),
        ("augment.noise_prob=1.5", "augment.noise_prob is a fraction in [0, 1]"),
        ("model.conv_filters=[]", "model.conv_filters takes 1 to 512 channels per stage"),
        ("model.conv_filters=[16, 0]", "model.conv_filters takes 1 to 512 channels per stage"),
    ],
)
def test_augment_settings_are_checked(setting, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        speech_config.validate(_config(setting, "data.path=x"))


# --- splits: speaker-disjoint validation by default -------------------------------------------


def test_known_speakers_give_speaker_disjoint_validation_and_test(clips: Path):
    lines: list[str] = []
    data = _prepared(clips, *NO_AUGMENT, log=lines.append)
    seen = {name: set(split.speakers) for name, split in data.splits.items()}
    assert not seen["train"] & seen["validation"] and not seen["train"] & seen["test"]
    assert seen["train"] | seen["validation"] | seen["test"] == set(SPEAKERS)
    assert data.protocol == {"validation": "speaker-disjoint", "test": "speaker-disjoint"}
    assert any(line.startswith("  validation: speaker-disjoint (1 speaker(s): ") for line in lines)


def test_group_by_none_keeps_random_validation(clips: Path):
    data = _prepared(clips, "data.group_by=none", *NO_AUGMENT)
    assert data.protocol["validation"] == "shared speakers"


def test_auto_follows_a_given_test_split_that_holds_training_speakers(clips: Path):
    # FSDD's official split: takes 0-4 of every speaker are the test set.
    lines: list[str] = []
    data = _prepared(clips, r"data.test_regex=_0\.wav$", *NO_AUGMENT, log=lines.append)
    assert data.protocol == {"validation": "shared speakers", "test": "shared speakers"}
    assert any("the given test split holds training speakers" in line for line in lines)


def test_auto_without_speakers_or_with_one_speaker_per_class(tmp_path: Path):
    folders = make_wavs(tmp_path / "f", takes=4, layout="folders", speakers=("amy", "bo"))
    data = speech.make_datasets(_config(f"data.path={folders}", *NO_AUGMENT), log=QUIET)
    assert data.protocol["validation"] == "speakers unknown"
    # Speaker identification: every class is one speaker; holding speakers out would drop classes.
    rows = [
        {"path": str(p), "label": p.name.split("_")[1], "speaker": p.name.split("_")[1]}
        for p in sorted((tmp_path / "f").rglob("*.wav"))
    ]
    manifest = write_manifest(tmp_path / "f" / "m.csv", rows)
    data = speech.make_datasets(_config(f"data.manifest={manifest}", *NO_AUGMENT), log=QUIET)
    assert data.class_names == ["amy", "bo"]
    assert data.protocol["validation"] == "shared speakers"


# --- the training pipeline: augmentation on training clips only -------------------------------


def _batches(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_training_batches_change_every_epoch_validation_batches_never(clips: Path):
    data = _prepared(clips)
    assert data.augmented
    first, second = _batches(data.train), _batches(data.train)
    assert sum(len(y) for _, y in first) == data.train_examples
    # The same clips each epoch (labels are a multiset), but changed: no batch repeats.
    assert sorted(np.concatenate([y for _, y in first])) == sorted(
        np.concatenate([y for _, y in second])
    )
    seen = {x.tobytes() for x, _ in first}
    assert not any(x.tobytes() in seen for x, _ in second)
    for a, b in zip(_batches(data.validation), _batches(data.validation)):
        assert a[0].tobytes() == b[0].tobytes() and (a[1] == b[1]).all()
    for a, b in zip(_batches(data.test), _batches(data.test)):
        assert a[0].tobytes() == b[0].tobytes()


def test_augmented_epochs_replay_from_the_seed(clips: Path):
    """Two pipelines with the same seed draw the same epochs (what --resume relies on)."""
    runs = [_prepared(clips).train for _ in range(2)]
    for _epoch in range(2):
        a, b = _batches(runs[0]), _batches(runs[1])
        assert [x.tobytes() for x, _ in a] == [x.tobytes() for x, _ in b]


def test_augmented_epochs_have_the_same_number_of_batches(clips: Path):
    """Bucketed by the clips' original lengths, so speed changes never add a batch: Keras learns
    an unknown-size pipeline's batch count from the first epoch and would cut a longer epoch
    short (and draw an extra shuffle order, which a resumed run would not)."""
    data = _prepared(clips, "augment.speed=[0.6, 1.4]", "train.batch_size=3")
    counts, sizes = set(), []
    for _epoch in range(6):
        batches = _batches(data.train)
        counts.add(len(batches))
        sizes.append(sorted(len(y) for _, y in batches))
        assert sum(len(y) for _, y in batches) == data.train_examples
    assert len(counts) == 1
    assert len({tuple(s) for s in sizes}) == 1  # the same batch sizes, clip lengths aside


def test_augmentation_off_gives_the_cached_frames_and_the_same_features(clips: Path):
    off = _prepared(clips, *NO_AUGMENT)
    assert not off.augmented
    cached = {f.tobytes() for f in off.splits["train"].features}
    for x, _ in _batches(off.train):
        for row in x:
            frames = row[: np.flatnonzero(np.any(row != 0, axis=1))[-1] + 1]
            assert frames.tobytes() in cached
    # The augmenting pipeline with neutral settings computes the very same frames per batch,
    # with the feature layer the exported model starts with.
    config = _config(f"data.path={clips}", f"data.label_regex={REGEX}", *NO_AUGMENT)
    split = off.splits["train"]
    from rnn_recipes.data import audio

    waves = [audio.read_wav(Path(n), 8000) for n in split.names]
    lengths = np.array([len(f) for f in split.features])
    train = speech.augmented_training(
        config, speech.feature_layer(config), waves, split.labels, lengths
    )
    by_label = sorted(f.tobytes() for f in split.features)
    got = []
    for x, _ in _batches(train):
        for row in x:
            got.append(row[: np.flatnonzero(np.any(row != 0, axis=1))[-1] + 1])
    assert len(got) == len(by_label)
    want = {len(f): [] for f in split.features}
    for f in split.features:
        want[len(f)].append(f)
    for frames in got:
        assert any(np.allclose(frames, f, atol=1e-4) for f in want[len(frames)])


def test_stretch_frames_changes_each_clips_tempo_not_its_spectra():
    from rnn_recipes.tasks.speech.augment import stretch_frames

    batch = np.zeros((3, 9, 2), np.float32)
    batch[0, :, 0] = np.arange(9) + 1.0  # a ramp over 9 frames
    batch[0, :, 1] = 5.0  # a constant feature
    batch[1, :5] = [[1.0, 2.0]] * 5  # 5 frames, then padding
    batch[2, :1] = [[3.0, -1.0]]  # one frame
    out = stretch_frames(batch, np.array([2.0, 0.5, 1.5], np.float32)).numpy()
    assert out.shape == (3, 9, 2)  # the longest result: clip 1 slowed to 9 frames
    np.testing.assert_allclose(out[0, :5, 0], [1, 3, 5, 7, 9])  # twice as fast: 9 -> 5 frames
    np.testing.assert_allclose(out[0, :5, 1], 5.0)  # the spectrum (a constant) unchanged
    assert (out[0, 5:] == 0).all()  # exactly zero past the new end
    np.testing.assert_allclose(out[1, :9], [[1.0, 2.0]] * 9)  # half speed: 5 -> 9 frames
    np.testing.assert_allclose(out[2, :1], [[3.0, -1.0]])  # one frame stays one frame
    assert (out[2, 1:] == 0).all()
    same = stretch_frames(batch, np.ones(3, np.float32)).numpy()
    np.testing.assert_allclose(same, batch)  # factor 1 is the identity


def test_tempo_changes_training_frames_only(clips: Path):
    plain = _prepared(clips, *NO_AUGMENT)
    tempo = _prepared(clips, *NO_AUGMENT, "augment.tempo=[0.6, 0.7]")
    assert tempo.augmented and not plain.augmented
    lengths = lambda ds: sorted(  # noqa: E731
        int(np.flatnonzero(np.any(row != 0, axis=1))[-1]) + 1 for x, _ in _batches(ds) for row in x
    )
    # Slower by 0.6-0.7: every clip has about 1.4-1.7 times its frames in training...
    ratio = np.mean(lengths(tempo.train)) / np.mean(lengths(plain.train))
    assert 1.35 < ratio < 1.75
    # ...and validation and test frames are the clips' own.
    assert lengths(tempo.validation) == lengths(plain.validation)
    assert lengths(tempo.test) == lengths(plain.test)
    with pytest.raises(ConfigError, match="augment.tempo"):
        _config("augment.tempo=[1.2]")


def test_exported_model_does_not_depend_on_augment_settings(clips: Path):
    import keras

    from rnn_recipes.tasks.speech import model as speech_model

    outputs, configs = [], []
    for sets in (
        (),
        ("augment.speed=[0.7, 1.3]", "augment.noise_snr=[0, 5]", "augment.tempo=[0.8, 1.2]"),
        NO_AUGMENT,
    ):
        config = _config(f"data.path={clips}", f"data.label_regex={REGEX}", *sets)
        data = speech.make_datasets(config, log=QUIET)
        keras.utils.set_random_seed(1)
        full = speech_model.end_to_end_model(
            config, data, speech_model.build_model(config, data.spec)
        )
        wave = data.example[1][None, :].astype(np.float32)
        outputs.append(full(wave).numpy())
        layers = [type(layer).__name__ for layer in full.get_layer("speech_rnn").layers]
        configs.append([type(layer).__name__ for layer in full.layers] + layers)
    assert configs[0] == configs[1] == configs[2]
    assert not any("augment" in name.lower() and name != "SpecAugment" for name in configs[0])
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])


# --- per-clip normalization -------------------------------------------------------------------


def test_utterance_norm_mean_var_uses_each_clips_own_frames():
    import keras
    import tensorflow as tf

    from rnn_recipes.tasks.speech.layers import PaddingMask, UtteranceNorm, utterance_normalize

    rng = np.random.default_rng(0)
    long = rng.normal(3.0, 2.0, size=(6, 3)).astype(np.float32)
    short = rng.normal(-1.0, 0.5, size=(4, 3)).astype(np.float32)
    batch = np.zeros((3, 6, 3), np.float32)
    batch[0], batch[1, :4] = long, short
    batch[2, :1] = [1.0, 2.0, 3.0]  # one frame: no spread at all
    x = keras.Input((None, 3))
    model = keras.Model(x, UtteranceNorm(variance=True)(PaddingMask()(x)))
    out = model(tf.constant(batch)).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], utterance_normalize(long, True), atol=1e-5)
    np.testing.assert_allclose(out[1, :4], utterance_normalize(short, True), atol=1e-5)
    spread = short.var(axis=0)  # unit spread, but for the floor
    np.testing.assert_allclose(out[1, :4].std(axis=0), np.sqrt(spread / (spread + 1e-3)), 1e-4)
    assert (out[1, 4:] == 0).all() and (out[2] == 0).all()  # padding stays exactly zero

    layer = UtteranceNorm(variance=True, name="u")
    again = UtteranceNorm.from_config(layer.get_config())
    assert again.variance and again.name == "u"
    assert not UtteranceNorm.from_config(UtteranceNorm().get_config()).variance


# --- time derivatives -------------------------------------------------------------------------


def test_deltas_are_the_regression_slope_within_each_clip():
    import keras
    import tensorflow as tf

    from rnn_recipes.tasks.speech.layers import Deltas, PaddingMask

    batch = np.zeros((2, 7, 2), np.float32)
    batch[0, :, 0] = 2.0 * np.arange(7) + 1.0  # a ramp: slope 2 wherever +-2 frames exist
    batch[0, :, 1] = np.arange(7) ** 2  # a parabola: constant second derivative 2
    batch[1, :3] = [[1.0, -1.0], [4.0, 0.0], [2.0, 5.0]]  # 3 frames, then padding
    x = keras.Input((None, 2))
    model = keras.Model(x, Deltas(order=2)(PaddingMask()(x)))
    out = model(tf.constant(batch)).numpy()
    assert out.shape == (2, 7, 6)
    np.testing.assert_array_equal(out[:, :, :2], batch)  # the frames themselves come first
    np.testing.assert_allclose(out[0, 2:5, 2], 2.0, atol=1e-5)  # interior of the ramp
    np.testing.assert_allclose(out[0, 0, 2], (1 * 2 + 2 * 4) / 10, atol=1e-5)  # edge repeated
    np.testing.assert_allclose(out[0, 2:5, 3], 2.0 * np.arange(2, 5), atol=1e-4)  # d(t^2) = 2t

    def delta(c):  # the formula, with the clip's first and last frame repeated
        padded = np.concatenate([c[:1], c[:1], c, c[-1:], c[-1:]])
        return np.stack(
            [
                sum(n * (padded[t + 2 + n] - padded[t + 2 - n]) for n in (1, 2)) / 10
                for t in range(len(c))
            ]
        )

    short = batch[1, :3]
    np.testing.assert_allclose(out[1, :3, 2:4], delta(short), atol=1e-5)  # padding unused
    np.testing.assert_allclose(out[1, :3, 4:], delta(delta(short)), atol=1e-5)
    assert (out[1, 3:] == 0).all()  # padded frames stay exactly zero (and masked)

    again = Deltas.from_config(Deltas(order=1, width=3, name="d").get_config())
    assert (again.order, again.width, again.name) == (1, 3, "d")


def test_deltas_widen_the_rnn_input_and_bad_orders_are_refused():
    from rnn_recipes.tasks.speech import model as speech_model

    spec = speech.Spec(["a", "b"], "wav", 4, np.zeros(4), np.ones(4))
    config = _config("features.deltas=2")
    model = speech_model.build_model(config, spec)
    assert model.get_layer("deltas").output.shape[-1] == 12
    assert "deltas" not in [
        layer.name for layer in speech_model.build_model(_config(), spec).layers
    ]
    with pytest.raises(ConfigError, match="features.deltas is 0"):
        _config("features.deltas=3")


def test_npy_clips_of_four_frames_train_with_statistics_from_training_speakers(tmp_path: Path):
    rng = np.random.default_rng(0)
    rows = []
    (tmp_path / "feats").mkdir()
    for i in range(48):
        label, speaker = ("yes", "no")[i % 2], f"s{i % 4}"
        frames = rng.normal(size=(4 if i % 3 else 1, 5)).astype(np.float32)
        frames[:, 1] += 2.0 if label == "yes" else -2.0
        frames += 100.0 * (speaker == "s3")  # a speaker far off: must not sway the statistics
        np.save(tmp_path / "feats" / f"{i}.npy", frames)
        split = {"s3": "test", "s2": "validation"}.get(speaker, "train")
        rows.append({"path": f"feats/{i}.npy", "label": label, "speaker": speaker, "split": split})
    manifest = write_manifest(tmp_path / "feats.csv", rows)
    config = _config(f"data.manifest={manifest}", "features.utterance_norm=none")
    lines: list[str] = []
    data = speech.make_datasets(config, log=lines.append)
    train = np.concatenate(data.splits["train"].features)
    np.testing.assert_allclose(data.spec.mean, train.mean(axis=0), rtol=1e-5)
    assert abs(data.spec.mean[0]) < 5  # s3 (+100) is only in test
    assert not data.augmented and any("precomputed frames are not augmented" in s for s in lines)

    out = tmp_path / "run"
    result = invoke(
        "run", "speech", "--set", f"data.manifest={manifest}", *TINY, "--epochs", "1", "-o", out
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation_protocol"] == "speaker-disjoint"
    # One epoch of one: the run ended at its cap with its best epoch last, and says so.
    assert metrics["train"]["stopped_at_epoch_cap"] is True
    assert "note: training stopped at train.epochs=1 while validation loss" in result.output
    assert metrics["test"]["examples"] == 12


# --- endpointing --------------------------------------------------------------------------------


def test_trim_db_drops_leading_and_trailing_quiet_frames():
    import keras

    from rnn_recipes.tasks.speech.layers import AudioFeatures

    rng = np.random.default_rng(0)
    t = np.arange(4000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    hiss = lambda n: (1e-5 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731
    quiet = np.concatenate([hiss(80 * 30), tone, hiss(80 * 20)])  # 30 frames, then 20, of hiss
    args = dict(sample_rate=8000, frame_length=200, frame_step=80, fft_length=256, mel_bins=8)
    plain, trimmed = AudioFeatures(**args), AudioFeatures(trim_db=40.0, **args)
    batch = np.zeros((2, len(quiet)), np.float32)
    batch[0], batch[1, : len(tone)] = quiet, tone
    kept = trimmed(batch).numpy()
    whole = plain(batch).numpy()
    frames = 1 + (len(tone) - 200) // 80
    n_kept = np.flatnonzero(np.any(kept[0] != 0, axis=1))[-1] + 1
    # The hiss is gone: what is left starts with the two frames that straddle the tone's start
    # (a frame is 2.5 hops), then the tone's own frames, then the two straddling its end.
    assert n_kept == frames + 4
    np.testing.assert_allclose(kept[0, 2 : 2 + frames], whole[1, :frames], atol=1e-4)
    assert (kept[0, n_kept:] == 0).all()
    np.testing.assert_array_equal(kept[1], trimmed(batch[1:]).numpy()[0, : kept.shape[1]])
    again = AudioFeatures.from_config(trimmed.get_config())
    assert again.trim_db == 40.0
    assert isinstance(again, keras.layers.Layer)


def test_preemphasis_filters_each_clip_and_leaves_the_padding_alone():
    from rnn_recipes.tasks.speech.layers import AudioFeatures

    rng = np.random.default_rng(1)
    long = (0.3 * rng.standard_normal(2400) + 0.2).astype(np.float32)  # a DC offset of 0.2
    short = (0.3 * rng.standard_normal(1300) - 0.1).astype(np.float32)
    batch = np.zeros((2, len(long)), np.float32)
    batch[0], batch[1, : len(short)] = long, short

    def emphasized(x, a=0.97):  # y[0] = x[0], y[n] = x[n] - a x[n - 1]
        return np.concatenate([x[:1], x[1:] - a * x[:-1]]).astype(np.float32)

    args = dict(sample_rate=8000, frame_length=200, frame_step=80, fft_length=256, mel_bins=8)
    layer, plain = AudioFeatures(preemphasis=0.97, **args), AudioFeatures(**args)
    out = layer(batch).numpy()
    reference = np.zeros_like(batch)
    reference[0], reference[1, : len(short)] = emphasized(long), emphasized(short)
    np.testing.assert_allclose(out, plain(reference).numpy(), atol=1e-3)
    frames = 1 + (len(short) - 200) // 80  # the padded clip keeps its own frame count
    assert (out[1, frames:] == 0).all() and (out[1, :frames] != 0).any()
    assert not np.allclose(out, plain(batch).numpy(), atol=1e-2)  # it does change the frames
    assert AudioFeatures.from_config(layer.get_config()).preemphasis == 0.97
    with pytest.raises(ConfigError, match="features.preemphasis"):
        _config("features.preemphasis=1.0")
