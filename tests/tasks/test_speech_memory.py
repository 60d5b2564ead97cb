"""Speech memory: a clip listed many times is held once, and the batches stay what they were.

Issue 15: a manifest naming each training clip k times (the scaling benchmark's replicated data,
or a user weighting clips) used to decode, featurise and cache every listing, so the in-memory
path grew with the listing instead of the distinct audio. Fixtures are the tiny generated tone
clips of :mod:`tests.makers`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.data import audio
from rnn_recipes.tasks.speech import pipeline as speech
from tests.makers import SPEECH_TINY, make_wavs, write_manifest

QUIET = lambda *_: None  # noqa: E731
NO_AUGMENT = ("augment.speed=[1, 1]", "augment.noise_snr=[]")
REPEATS = 3


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[int, Path]:
    """The same clips as two manifests: training clips listed once, and REPEATS times."""
    root = tmp_path_factory.mktemp("memory")
    folder = make_wavs(root / "clips", takes=4)
    rows = []
    for p in sorted(folder.glob("*.wav")):
        label, speaker, take = p.stem.split("_")
        split = {"0": "test", "1": "validation"}.get(take, "train")
        rows.append({"path": f"clips/{p.name}", "label": label, "speaker": speaker, "split": split})
    train = [r for r in rows if r["split"] == "train"]
    rest = [r for r in rows if r["split"] != "train"]
    return {
        1: write_manifest(root / "once.csv", rows),
        REPEATS: write_manifest(root / "repeated.csv", train * REPEATS + rest),
    }


def _prepared(manifest: Path, *sets: str):
    config = load_config(
        "speech",
        sets=[*SPEECH_TINY[1::2], "data.sample_rate=8000", f"data.manifest={manifest}", *sets],
    ).config
    return speech.make_datasets(config, log=QUIET)


def _epoch(ds) -> list:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_a_clip_listed_k_times_is_read_and_featurised_once(manifests, monkeypatch):
    reads: list[str] = []
    real = audio.read_wav

    def counting(path, *args, **kw):
        reads.append(Path(path).name)
        return real(path, *args, **kw)

    monkeypatch.setattr(audio, "read_wav", counting)
    data = _prepared(manifests[REPEATS], "data.stream=false")
    names = [n for split in data.splits.values() for n in split.names]
    assert len(names) > len(set(names))  # the manifest repeats clips
    assert sorted(reads) == sorted({Path(n).name for n in names})  # each file decoded once
    train = data.splits["train"]
    # the k listings of a clip share one frames array
    first: dict[str, np.ndarray] = {}
    for name, frames in zip(train.names, train.features):
        assert first.setdefault(name, frames) is frames
    # and every listing is trained on: k times a clip per epoch
    labels = np.concatenate([y for _, y in _epoch(data.train)])
    np.testing.assert_array_equal(np.sort(labels), np.sort(train.labels))
    assert len(labels) == data.train_examples == REPEATS * len(set(train.names))


def test_repeated_clips_weigh_the_normalization_statistics_k_times():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(2, 1, (7, 3)).astype(np.float32)
    for norm in ("none", "mean", "mean_var"):
        shared = speech.training_statistics([a, b, a, a], norm)
        copies = speech.training_statistics([a, b, a.copy(), a.copy()], norm)  # no repeats
        assert shared[2] == copies[2] == 22
        np.testing.assert_allclose(shared[0], copies[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(shared[1], copies[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [1, REPEATS])
def test_in_memory_augmented_epochs_equal_the_streamed_ones(manifests, k):
    """Same examples in the same order for the same seed, whether clips are held (once) or read
    per listing from the files every epoch: the in-memory path reorders nothing."""
    memory = _prepared(manifests[k], "data.stream=false")
    streamed = _prepared(manifests[k], "data.stream=true")
    assert memory.augmented and streamed.augmented
    for _ in range(2):  # two epochs: the reshuffle and the fresh draws match too
        a, b = _epoch(memory.train), _epoch(streamed.train)
        assert len(a) == len(b)
        for (xa, ya), (xb, yb) in zip(a, b):
            np.testing.assert_array_equal(ya, yb)
            np.testing.assert_allclose(xa, xb, atol=1e-5)


def test_unaugmented_batches_of_repeated_clips_are_the_listed_frames(manifests):
    data = _prepared(manifests[REPEATS], *NO_AUGMENT, "data.stream=false")
    assert not data.augmented
    # every listed example once per epoch, frames as computed (sums identify them)
    seen = sorted(float(x[i].sum()) for x, _ in _epoch(data.train) for i in range(len(x)))
    listed = sorted(float(f.sum()) for f in data.splits["train"].features)
    np.testing.assert_allclose(seen, listed, rtol=1e-5)
    # validation in split order, every example once, its frames unpadded at the start
    batches = _epoch(data.validation)
    split = data.splits["validation"]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), split.labels)
    x = np.concatenate([np.pad(b, ((0, 0), (0, 64 - b.shape[1]), (0, 0))) for b, _ in batches])
    for row, frames in zip(x, split.features):
        np.testing.assert_array_equal(row[: len(frames)], frames)


@pytest.mark.parametrize("sets", [(), NO_AUGMENT])
def test_batches_of_every_length_share_one_train_step_signature(manifests, sets):
    """Memory over epochs: augmented batches have a new width almost every step, but the
    pipelines declare the time axis unknown, so Keras traces the train step once for all of them
    (a concrete function per width would grow with the epochs)."""
    data = _prepared(manifests[1], *sets)
    features = data.spec.feature_count
    for name in ("train", "validation", "test"):
        x_spec, y_spec = getattr(data, name).element_spec
        assert x_spec.shape.as_list() == [None, None, features], name
        assert y_spec.shape.as_list() == [None], name
    widths = {x.shape[1] for x, _ in data.train}
    assert len(widths) > 1  # the batches do differ in length


def test_auto_streaming_counts_a_repeated_file_once(manifests):
    """In memory a file listed k times is held once, so "auto" weighs the distinct files."""
    once = sum(p.stat().st_size for p in (manifests[1].parent / "clips").glob("*.wav"))
    threshold = 1.5 * once / 2**20  # above the distinct files, below the k listings
    lines: list[str] = []
    config = load_config(
        "speech",
        sets=[
            *SPEECH_TINY[1::2],
            "data.sample_rate=8000",
            f"data.manifest={manifests[REPEATS]}",
            f"data.stream_above_mb={threshold}",
        ],
    ).config
    data = speech.make_datasets(config, log=lines.append)
    assert any(line.startswith("in memory: ") for line in lines), lines
    assert len(data.splits["train"].features) == data.train_examples
