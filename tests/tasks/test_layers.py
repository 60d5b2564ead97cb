"""Every custom layer of every task survives ``get_config`` -> ``from_config``.

For each layer: the clone has the same config, is registered under ``rnn_recipes>`` (so a saved
``model.keras`` names it), and, given the original's weights, computes the same outputs.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnn_recipes.tasks.forecast.layers import SegRNN
from rnn_recipes.tasks.sentiment.layers import NaiveBayesBag
from rnn_recipes.tasks.speech.layers import (
    AudioFeatures,
    ConvFrontend,
    Deltas,
    PaddingMask,
    SpecAugment,
    UtteranceNorm,
)

rng = np.random.default_rng(0)
FRAMES = rng.normal(size=(2, 7, 4)).astype(np.float32)
FRAMES[1, 5:] = 0.0  # the second clip is padded at its end

CASES = {
    "NaiveBayesBag": (
        lambda: NaiveBayesBag(vocabulary_size=20, buckets=16, classes=3, table_dtype="float16"),
        np.array([[1, 5, 7, 0], [3, 3, 19, 2]], np.int32),
    ),
    "AudioFeatures": (
        lambda: AudioFeatures(
            sample_rate=8000,
            frame_length=200,
            frame_step=80,
            fft_length=256,
            mel_bins=8,
            fmin=20.0,
            fmax=None,
            mfcc=5,
        ),
        rng.normal(size=(2, 1200)).astype(np.float32),
    ),
    "SpecAugment": (
        lambda: SpecAugment(time_masks=1, time_width=2, freq_masks=1, freq_width=2, seed=3),
        FRAMES,
    ),
    "UtteranceNorm": (lambda: UtteranceNorm(), FRAMES),
    "Deltas": (lambda: Deltas(order=2), FRAMES),
    "ConvFrontend": (lambda: ConvFrontend([3, 5]), FRAMES),
    "PaddingMask": (lambda: PaddingMask(), FRAMES),
    "SegRNN": (
        lambda: SegRNN(
            lookback=12,
            horizon=6,
            channels=3,
            targets=2,
            cell="lstm",
            units=8,
            layers=2,
            segment_length=4,
            dropout=0.1,
            revin=True,
            linear_skip=True,
            mix_channels=True,
        ),
        rng.normal(size=(2, 12, 3)).astype(np.float32),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_config_round_trip_gives_the_same_layer(name: str):
    make, x = CASES[name]
    layer = make()
    first = layer(x)
    for w in layer.weights:  # non-trivial weights, so a clone that ignored them would differ
        w.assign(rng.normal(size=w.shape).astype(w.dtype) * 0.1)
    expected = np.asarray(layer(x))

    config = layer.get_config()
    clone = type(layer).from_config(config)
    clone(x)  # build
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == config
    assert keras.saving.get_registered_name(type(layer)) == f"rnn_recipes>{name}"
    np.testing.assert_allclose(np.asarray(clone(x)), expected, rtol=1e-5, atol=1e-6)
    assert np.asarray(first).shape == expected.shape
    # Through Keras' own serialization too (what model.keras stores).
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is type(layer) and revived.get_config() == config
