"""The strong hand-written references of bench/references.py: they run, and batch without padding
to a global maximum (each batch is as long as its longest item, never longer)."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import numpy as np
import pytest

from bench import references

WORDS = [
    "good",
    "bad",
    "fine",
    "dull",
    "great",
    "awful",
    "the",
    "film",
    "was",
    "a",
    "story",
    "plot",
    "and",
    "quite",
]


def write_rt_polarity(folder: Path, n: int = 60, seed: int = 0) -> Path:
    """Tiny rt-polarity look-alike: lengths 1..25 words, so buckets differ in length."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        lines = [" ".join(rng.choices(WORDS, k=rng.randint(1, 25))) for _ in range(n)]
        (folder / name).write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    return folder


def write_fsdd(folder: Path, seed: int = 0) -> Path:
    """Tiny FSDD look-alike: 2 speakers x 10 digits x 7 takes of 0.05-0.6 s at 8 kHz."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for speaker in ("ann", "bob"):
        for digit in range(10):
            for take in range(7):
                n = int(rng.integers(400, 4800))
                tone = np.sin(np.arange(n) * (0.05 + 0.02 * digit)) * 0.5
                pcm = (tone * 32767).astype("<i2")
                with wave.open(str(folder / f"{digit}_{speaker}_{take}.wav"), "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(8000)
                    w.writeframes(pcm.tobytes())
    return folder


def real_lengths(batch: np.ndarray) -> np.ndarray:
    """Unpadded length of each row: the count of steps that are not all zero."""
    steps = batch != 0 if batch.ndim == 2 else np.any(batch != 0, axis=-1)
    return steps.sum(axis=1)


@pytest.mark.parametrize("mode", ["mask", "prepad", "exact"])
def test_sentiment_batches_are_as_long_as_their_longest_item(tmp_path: Path, mode: str):
    splits = references.read_rt_polarity(write_rt_polarity(tmp_path / "rt"))
    data = references.sentiment_data(splits, batch_size=8, mode=mode, buckets=4)
    seen, widths = 0, set()
    for x, y in data["train"].as_numpy_iterator():
        lengths = real_lengths(x)
        assert x.shape[1] == lengths.max(), "padded past the batch's longest item"
        if mode == "mask":  # right-padded: every row starts with its tokens
            assert (x[:, 0] != 0).all()
        if mode == "prepad":  # left-padded: every row ends with its last token
            assert (x[:, -1] != 0).all()
        if mode == "exact":  # one length per batch: no padding at all
            assert (lengths == x.shape[1]).all()
        seen += len(y)
        widths.add(x.shape[1])
    assert seen == data["examples"]
    assert len(widths) > 1  # batches of different lengths, not one global width


def test_sentiment_reference_trains_two_epochs(tmp_path: Path):
    result = references.sentiment(write_rt_polarity(tmp_path / "rt"), epochs=2, buckets=4)
    assert len(result["epoch_seconds"]) == 2
    assert result["examples"] == 98  # 2 x (60 - 6 test) lines = 108, 10 held out
    assert result["examples_per_s"] > 0 and 0.0 <= result["accuracy"] <= 1.0


def test_speech_batches_and_reference(tmp_path: Path):
    folder = write_fsdd(tmp_path / "fsdd")
    splits = references.read_fsdd(folder)
    assert len(splits["train"][0]) == 2 * 10 * 2 and len(splits["test"][0]) == 2 * 10 * 5
    data = references.speech_data(splits, batch_size=8, buckets=3)
    widths = set()
    for x, _ in data["train"].as_numpy_iterator():
        assert x.shape[1] == real_lengths(x).max()
        assert x.shape[2] == 13
        widths.add(x.shape[1])
    assert len(widths) > 1
    result = references.speech(folder, epochs=2, buckets=3)
    assert len(result["epoch_seconds"]) == 2 and 0.0 <= result["accuracy"] <= 1.0


def test_forecast_windows_are_gathered_from_the_series(tmp_path: Path):
    values = np.arange(200, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], np.float32)
    data = references.forecast_data(values, (120, 40, 40), lookback=16, horizon=4, batch_size=32)
    assert data["train_windows"] == 120 - 16 - 4 + 1
    assert data["test_windows"] == 40 - 4 + 1  # starts lookback rows early: every row forecast
    x, y = next(iter(data["test"]))
    mean, std = values[:120].mean(axis=0), values[:120].std(axis=0)
    scaled = (values - mean) / std
    np.testing.assert_allclose(x[0], scaled[160 - 16 : 160], rtol=1e-6)
    np.testing.assert_allclose(y[0], scaled[160:164], rtol=1e-6)
    batches = list(data["train"].as_numpy_iterator())
    starts = [int(np.argmin(np.abs(scaled[:, 0] - xb[0, 0, 0]))) for xb, _ in batches]
    assert sum(len(xb) for xb, _ in batches) == data["train_windows"]
    assert starts != sorted(starts)  # training windows are shuffled


@pytest.mark.parametrize("arch", ["segrnn", "lstm"])
def test_forecast_reference_trains(tmp_path: Path, arch: str):
    path = tmp_path / "series.csv"
    rows = ["date,a,OT"] + [f"t{i},{np.sin(i / 5):.4f},{np.cos(i / 7):.4f}" for i in range(200)]
    path.write_text("\n".join(rows) + "\n")
    result = references.forecast(
        path, epochs=2, lookback=16, horizon=4, split=(120, 40, 40), arch=arch, segment=4, units=8
    )
    assert result["examples"] == 101 and len(result["epoch_seconds"]) == 2
    assert np.isfinite(result["mse"]) and result["arch"] == arch
    assert len(result["epoch_cpu_seconds"]) == 2


def test_segrnn_reference_is_the_recipes_model():
    """The matched reference computes what the recipe's SegRNN (its defaults: last value
    subtracted, GRU, no blend) computes with the same weights: same parameters, same outputs."""
    from rnn_recipes.tasks.forecast.layers import SegRNN

    lookback, horizon, channels, units, segment = 20, 7, 3, 8, 6  # both padded and cut
    reference = references.segrnn_model(lookback, horizon, channels, units, segment, dropout=0.5)
    layer = SegRNN(
        lookback,
        horizon,
        channels,
        channels,
        "gru",
        units,
        1,
        segment,
        0.5,
        revin=False,
        subtract_last=True,
    )
    x = np.random.default_rng(1).normal(size=(4, lookback, channels)).astype(np.float32)
    layer(x)
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == sum(
        int(np.prod(w.shape)) for w in reference.trainable_weights
    )
    rng = np.random.default_rng(2)  # weights away from their initial values
    pairs = [(reference.embed, layer.embed), (reference.gru, layer.rnns[0])]
    for ref_part, recipe_part in [*pairs, (reference.project, layer.project)]:
        weights = [rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in ref_part.weights]
        ref_part.set_weights(weights)
        recipe_part.set_weights(weights)
    layer.position.assign(reference.position)
    layer.channel.assign(reference.channel)
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(reference(x)), rtol=1e-5, atol=1e-5)


def test_bucket_bounds_split_the_lengths_evenly():
    assert references.bucket_bounds(np.arange(1, 101), 4) == [26, 51, 76]
    assert references.bucket_bounds(np.full(50, 7), 4) == [8]  # one length: one bound


def test_model_trained_on_exact_length_batches_serves_padded_input_identically(tmp_path: Path):
    """The correctness condition of issue 15: train without a mask on exact-length batches, copy
    the weights into the masked model, and a right-padded batch of mixed lengths scores every
    item as that item alone does (and as the unmasked training model does on it unpadded)."""
    splits = references.read_rt_polarity(write_rt_polarity(tmp_path / "rt", n=40))
    data = references.sentiment_data(splits, batch_size=8, mode="exact")
    trained = references.sentiment_model(data["vocabulary"], mask=False, embedding_dim=8, units=4)
    trained.fit(data["train"], epochs=1, verbose=0)
    serving = references.sentiment_model(data["vocabulary"], mask=True, embedding_dim=8, units=4)
    serving.set_weights(trained.get_weights())
    x, _ = next(data["test"].as_numpy_iterator())  # right-padded to the batch's longest
    lengths = real_lengths(x)
    assert len(set(lengths)) > 1
    padded = np.asarray(serving(x))[:, 0]
    for row, n in zip(range(len(x)), lengths):
        alone = x[row : row + 1, :n]
        np.testing.assert_allclose(padded[row], np.asarray(serving(alone))[0, 0], atol=1e-5)
        np.testing.assert_allclose(padded[row], np.asarray(trained(alone))[0, 0], atol=1e-5)
