"""The speech model: frames -> normalization -> (bidirectional) GRU/LSTM -> class probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._lazy import keras
from ...report import classification_metrics
from .. import classification
from .config import Config, frame_kinds, kind_columns, utterance_norm
from .pipeline import Prepared, Spec, feature_layer


def build_model(config: Config, spec: Spec):
    """Frames -> (FeatureColumns) -> PaddingMask -> (UtteranceNorm) -> Normalization ->
    (Deltas) -> (SpecAugment) -> (ConvFrontend) -> N x (Bi)GRU/LSTM -> pooling -> softmax."""
    from .layers import (
        ConvFrontend,
        Deltas,
        FeatureColumns,
        PaddingMask,
        SpecAugment,
        UtteranceNorm,
    )

    f, m = config.features, config.model
    inputs = x = keras.Input(shape=(None, spec.feature_count), name="frames")
    mean, variance = spec.mean, spec.variance
    if len(frame_kinds(config)) > 1:  # waveforms only (.npy frames are of one kind)
        # Frames hold log-mel and MFCC side by side (features.member_kinds): this model's kind.
        start, stop = kind_columns(config, f.kind)
        x = FeatureColumns(start, stop, name="feature_columns")(x)
        mean, variance = mean[start:stop], variance[start:stop]
    # Padded frames are exactly zero (the feature layer zeroes frames past a clip's end); only
    # those after a clip's last non-zero frame are masked, never a zero frame inside a clip.
    x = PaddingMask(name="padding_mask")(x)
    norm = utterance_norm(config)
    if norm != "none":
        x = UtteranceNorm(variance=norm == "mean_var", name="utterance_norm")(x)
    x = keras.layers.Normalization(
        mean=mean, variance=np.maximum(variance, 1e-6), name="normalize"
    )(x)
    if f.deltas:
        x = Deltas(order=f.deltas, name="deltas")(x)
    if f.time_masks or f.freq_masks:
        x = SpecAugment(
            f.time_masks,
            f.time_mask_width,
            f.freq_masks,
            f.freq_mask_width,
            seed=config.train.seed,
            name="spec_augment",
        )(x)
    if m.frontend == "conv":
        x = ConvFrontend(m.conv_filters, name="conv_frontend")(x)
    return classification.rnn_classifier(inputs, x, m, spec.class_names, "speech_rnn")


def compile_model(model, config: Config) -> None:
    classification.compile_classifier(model, config.train)


def end_to_end_model(config: Config, data: Prepared, model):
    """Raw waveforms in (or frame features for .npy data), probabilities out: ``model.keras``."""
    if data.kind == "npy":
        return model
    waveform = keras.Input(shape=(None,), dtype="float32", name="waveform")
    return keras.Model(waveform, model(feature_layer(config)(waveform)), name="speech")


def evaluate(config: Config, data: Prepared, model) -> dict[str, Any]:
    probabilities = model.predict(data.test, verbose=0)
    test = data.splits["test"]
    metrics = classification_metrics(test.labels, probabilities, data.class_names)
    if any(s is not None for s in test.speakers):
        right = np.argmax(probabilities, axis=-1) == test.labels
        speakers = np.array([s if s is not None else "?" for s in test.speakers])
        metrics["per_speaker"] = {
            s: {
                "examples": int((speakers == s).sum()),
                "accuracy": float(right[speakers == s].mean()),
            }
            for s in sorted(set(speakers))
        }
        metrics["speaker_counts"] = {
            name: {
                s: int(sum(1 for x in split.speakers if x == s))
                for s in sorted({x for x in split.speakers if x is not None})
            }
            for name, split in data.splits.items()
        }
    return metrics
