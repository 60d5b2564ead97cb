"""Speech data at scale: manifests given as lists or globs, and the streaming pipeline.

Fixtures are the tiny generated tone clips of :mod:`tests.makers` (one pitch per class, named
``{label}_{speaker}_{take}.wav``); the streaming tests check what streaming promises (the same
splits, no waveform held in memory, augmentation only in training, a model that predicts), not
accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.errors import RecipeError
from rnn_recipes.tasks.speech import pipeline as speech
from tests.conftest import assert_clean_failure, invoke
from tests.makers import REGEX, SPEECH_TINY, make_wavs, write_manifest

QUIET = lambda *_: None  # noqa: E731


def _config(*sets: str):
    return load_config("speech", sets=[*SPEECH_TINY[1::2], "data.sample_rate=8000", *sets]).config


def _prepared(*sets: str, log=QUIET):
    return speech.make_datasets(_config(*sets), log=log)


def _manifests(tmp_path: Path) -> list[Path]:
    """Two manifests in two folders, each listing its own clips by relative path."""
    out = []
    for part, speakers in (("one", ("amy", "bo", "cy")), ("two", ("dee", "ed"))):
        folder = make_wavs(tmp_path / part / "clips", speakers=speakers, takes=3)
        rows = []
        for p in sorted(folder.glob("*.wav")):
            label, speaker, _ = p.stem.split("_")
            rows.append({"path": f"clips/{p.name}", "label": label, "speaker": speaker})
        out.append(write_manifest(tmp_path / part / f"{part}.csv", rows))
    return out


# --- manifests as lists and globs -------------------------------------------------------------


def test_manifest_list_reads_every_manifest_relative_to_its_own_folder(tmp_path: Path):
    one, two = _manifests(tmp_path)
    data = _prepared(f'data.manifest=["{one}", "{two}"]')
    names = [n for s in data.splits.values() for n in s.names]
    assert len(names) == 2 * 5 * 3  # every clip of both manifests, once
    assert {Path(n).parent.parent.name for n in names} == {"one", "two"}
    speakers = {s for split in data.splits.values() for s in split.speakers}
    assert speakers == {"amy", "bo", "cy", "dee", "ed"}


def test_manifest_glob_and_data_path_glob(tmp_path: Path):
    _manifests(tmp_path)
    pattern = f"{tmp_path}/*/*.csv"
    for key in ("data.manifest", "data.path"):
        data = _prepared(f"{key}={pattern}")
        assert sum(len(s.names) for s in data.splits.values()) == 30, key


def test_manifest_glob_in_a_recipe_is_relative_to_the_recipe(tmp_path: Path):
    _manifests(tmp_path)
    recipe = tmp_path / "my.toml"
    recipe.write_text('task = "speech"\n[data]\nmanifest = "*/*.csv"\nsample_rate = 8000\n')
    cfg = load_config(str(recipe), sets=SPEECH_TINY[1::2]).config
    data = speech.make_datasets(cfg, log=QUIET)
    assert sum(len(s.names) for s in data.splits.values()) == 30


def test_manifest_glob_without_match_is_one_line_naming_it(tmp_path: Path):
    pattern = f"{tmp_path}/lists/*.csv"
    result = invoke("run", "speech", "--set", f"data.manifest={pattern}", "-o", tmp_path / "r")
    assert_clean_failure(result, f"no file matches {pattern} (data.manifest)")


def test_manifests_of_different_kinds_are_refused(tmp_path: Path):
    one, _ = _manifests(tmp_path)
    (tmp_path / "f").mkdir()
    np.save(tmp_path / "f" / "a.npy", np.ones((4, 3), np.float32))
    other = write_manifest(tmp_path / "f" / "f.csv", [{"path": "a.npy", "label": "low"}])
    with pytest.raises(RecipeError, match="mixes .wav"):
        _prepared(f'data.manifest=["{one}", "{other}"]')


def test_evaluate_reads_a_manifest_glob(tmp_path: Path):
    """`evaluate --data` goes through the same reader: a glob of manifests is accepted."""
    from rnn_recipes.tasks.speech.data import listing_for

    _manifests(tmp_path)
    listing = listing_for(_config(f"data.path={tmp_path}"), f"{tmp_path}/*/*.csv")
    assert len(listing.items) == 30 and listing.kind == "wav"


def test_folder_run_still_reads_label_regex(tmp_path: Path):
    folder = make_wavs(tmp_path / "w", takes=3)
    data = _prepared(f'data.path=["{folder}"]', f"data.label_regex={REGEX}")
    assert sum(len(s.names) for s in data.splits.values()) == 30


# --- streaming --------------------------------------------------------------------------------

NO_AUGMENT = ("augment.speed=[1, 1]", "augment.noise_snr=[]")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_wavs(tmp_path_factory.mktemp("stream") / "clips", takes=4)


def _source(folder: Path) -> tuple[str, str]:
    return f"data.path={folder}", f"data.label_regex={REGEX}"


def _epoch(ds) -> list:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_streaming_splits_and_frames_match_the_in_memory_path(clips: Path):
    memory = _prepared(*_source(clips), *NO_AUGMENT, "data.stream=false")
    streamed = _prepared(*_source(clips), *NO_AUGMENT, "data.stream=true")
    for name in ("train", "validation", "test"):
        assert streamed.splits[name].names == memory.splits[name].names, name
    # Validation frames are those of the in-memory path: read and featurised the same way.
    for (a, ya), (b, yb) in zip(_epoch(memory.validation), _epoch(streamed.validation)):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_allclose(a, b, atol=1e-5)
    # The Normalization statistics of the one streaming pass equal the in-memory ones.
    np.testing.assert_allclose(streamed.spec.mean, memory.spec.mean, atol=1e-4)
    np.testing.assert_allclose(streamed.spec.variance, memory.spec.variance, rtol=1e-4)
    # Every training clip once per epoch.
    assert sum(len(y) for _, y in _epoch(streamed.train)) == streamed.train_examples


def test_streaming_never_reads_every_clip_into_memory(clips: Path, monkeypatch):
    from rnn_recipes.tasks.speech import data as speech_data

    def refuse(*_args, **_kw):
        raise AssertionError("read_files holds every clip in memory")

    monkeypatch.setattr(speech_data, "read_files", refuse)  # what read_distinct calls
    data = _prepared(*_source(clips), "data.stream=true")
    assert sum(len(y) for _, y in _epoch(data.train)) == data.train_examples
    with pytest.raises(AssertionError, match="read_files"):  # the patch is in force
        _prepared(*_source(clips), "data.stream=false")


def test_streaming_augments_training_clips_only(clips: Path):
    plain = _prepared(*_source(clips), *NO_AUGMENT, "data.stream=true")
    augmented = _prepared(*_source(clips), "data.stream=true")
    assert augmented.augmented and not plain.augmented
    # validation and test are never augmented
    for split in ("validation", "test"):
        for (a, _), (b, _) in zip(_epoch(getattr(plain, split)), _epoch(getattr(augmented, split))):
            np.testing.assert_array_equal(a, b)
    # training clips change every epoch (frame sums differ), unaugmented ones do not
    sums = [sum(float(x.sum()) for x, _ in _epoch(augmented.train)) for _ in range(2)]
    assert sums[0] != sums[1]
    plain_sums = [sum(float(x.sum()) for x, _ in _epoch(plain.train)) for _ in range(2)]
    assert plain_sums[0] == pytest.approx(plain_sums[1], rel=1e-6)


def test_streaming_epochs_replay_exactly_from_the_seed(clips: Path):
    """What --resume relies on: a rebuilt pipeline yields the same epochs, augmentation included."""
    first = _prepared(*_source(clips), "data.stream=true")
    epochs = [_epoch(first.train) for _ in range(2)]
    # the runner's replay on --resume after one epoch: make (and drop) one iterator, then train
    again = _prepared(*_source(clips), "data.stream=true")
    iter(again.train)
    resumed = _epoch(again.train)
    for (a, ya), (b, yb) in zip(epochs[1], resumed, strict=True):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for (a, _), (b, _) in zip(epochs[0], epochs[1]))


def test_auto_streams_above_the_size_threshold_and_says_why(clips: Path):
    lines: list[str] = []
    data = _prepared(*_source(clips), "data.stream_above_mb=0.01", log=lines.append)
    assert any(
        line.startswith("streaming: ") and "> data.stream_above_mb=0.01" in line for line in lines
    ), lines
    assert data.splits["train"].features == []  # no frames held
    lines.clear()
    data = _prepared(*_source(clips), log=lines.append)
    assert any(line.startswith("in memory: ") for line in lines), lines
    assert len(data.splits["train"].features) == data.train_examples


def test_streaming_reads_npy_frame_features(tmp_path: Path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        label = ("low", "high")[i % 2]
        frames = rng.normal(size=(5 + i % 4, 6)).astype(np.float32) + (i % 2)
        np.save(tmp_path / f"{i}.npy", frames)
        rows.append({"path": f"{i}.npy", "label": label})
    manifest = write_manifest(tmp_path / "m.csv", rows)
    memory = _prepared(f"data.manifest={manifest}", "data.stream=false")
    streamed = _prepared(f"data.manifest={manifest}", "data.stream=true")
    assert streamed.kind == "npy" and streamed.spec.feature_count == 6
    np.testing.assert_allclose(streamed.spec.mean, memory.spec.mean, atol=1e-5)
    for (a, _), (b, _) in zip(_epoch(memory.test), _epoch(streamed.test)):
        np.testing.assert_array_equal(a, b)


def test_streaming_run_trains_caches_on_disk_exports_and_predicts(clips: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = invoke(
        *["run", "speech", "--data", clips, "--set", f"data.label_regex={REGEX}"],
        *["--set", "data.sample_rate=8000", "--set", "data.stream=true", *SPEECH_TINY],
        *["--epochs", "2", "-o", out],
    )
    assert result.exit_code == 0, result.output
    assert "streaming: data.stream = true" in result.output
    # Validation and test frames were cached on disk (training clips are augmented, so never
    # cached); the finished run folder does not keep them.
    assert "Removed the streaming cache (speech-test, speech-validation: " in result.output
    assert not (out / "cache").exists()
    wav = sorted(clips.glob("high_*.wav"))[0]
    result = invoke("predict", out, wav)
    assert result.exit_code == 0, result.output
    assert wav.name in result.output and ("high" in result.output or "low" in result.output)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('data.stream="yes"', "data.stream"),
        ("data.shuffle_buffer=0", "data.shuffle_buffer must be at least 1"),
        ('data.cache="ssd"', "data.cache"),
        ("data.stream_above_mb=0", "data.stream_above_mb must be above 0"),
    ],
)
def test_bad_streaming_settings_are_one_line(clips: Path, tmp_path: Path, setting, expected):
    result = invoke(
        *["run", "speech", "--data", clips, "--set", setting, "-o", tmp_path / "r"],
    )
    assert_clean_failure(result, expected)


def test_streaming_tfds_is_refused():
    with pytest.raises(Exception, match="data.tfds is read in memory"):
        _config("data.tfds=spoken_digit", "data.stream=true")


def test_streaming_names_a_truncated_clip_before_training(clips: Path, tmp_path: Path):
    import shutil

    folder = tmp_path / "clips"
    shutil.copytree(clips, folder)
    bad = folder / "low_amy_0.wav"
    bad.write_bytes(bad.read_bytes()[:-100])
    result = invoke(
        *["run", "speech", "--data", folder, "--set", f"data.label_regex={REGEX}"],
        *["--set", "data.stream=true", "-o", tmp_path / "r"],
    )
    assert_clean_failure(result, f"WAV file {bad} is truncated")
