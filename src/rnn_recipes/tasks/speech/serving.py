"""Speech serving: the exported signatures, and predict / evaluate on an exported run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import tf
from ...errors import RecipeError
from .. import classification
from .config import Config
from .data import listing_for, read_files
from .pipeline import Prepared


def serving(config: Config, data: Prepared, full_model):
    """The ``serving_default`` function: raw input -> probabilities and label names.

    Audio runs take ``waveform``: float32 ``[batch, samples]`` at ``data.sample_rate``, each row
    zero-padded at the end. Frame-feature runs take ``frames``: float32
    ``[batch, frames, features]``, zero-padded. (:func:`serving_with_lengths` adds ``lengths``.)
    """

    def outputs(probabilities):
        return classification.serving_outputs(probabilities, data.spec.class_names)

    if data.kind == "npy":

        def serve_frames(frames):
            return outputs(full_model(frames, training=False))

        spec = tf.TensorSpec([None, None, data.spec.feature_count], tf.float32, name="frames")
        return serve_frames, [spec]

    def serve(waveform):
        return outputs(full_model(waveform, training=False))

    return serve, [tf.TensorSpec([None, None], tf.float32, name="waveform")]


def extra_serving(config: Config, data: Prepared, full_model) -> dict[str, tuple]:
    """More signatures: ``serving_with_lengths`` takes ``waveform`` plus int32 ``lengths``.

    Samples past a row's length are ignored (zeroed), so the padding need not be zeros.
    """
    serve, _ = serving(config, data, full_model)
    if data.kind == "npy":
        return {}

    def serve_lengths(waveform, lengths):
        keep = tf.sequence_mask(lengths, tf.shape(waveform)[1], dtype=waveform.dtype)
        return serve(waveform * keep)

    return {
        "serving_with_lengths": (
            serve_lengths,
            [
                tf.TensorSpec([None, None], tf.float32, name="waveform"),
                tf.TensorSpec([None], tf.int32, name="lengths"),
            ],
        )
    }


def _input_kind(serve) -> str:
    spec = serve.structured_input_signature[1]
    return "npy" if "frames" in spec else "wav"


def _serve_arrays(serve, kind: str, arrays: list[np.ndarray], names: list[str]) -> list[dict]:
    out = []
    for start in range(0, len(arrays), 64):
        chunk = arrays[start : start + 64]
        width = max(len(a) for a in chunk)
        if kind == "npy":
            padded = np.zeros((len(chunk), width, chunk[0].shape[1]), np.float32)
        else:
            padded = np.zeros((len(chunk), width), np.float32)
        for row, a in enumerate(chunk):
            padded[row, : len(a)] = a
        key = "frames" if kind == "npy" else "waveform"
        result = serve(**{key: tf.constant(padded)})
        out.extend(classification.records(names[start : start + 64], result))
    return out


def _read_for(serve, config: Config, paths: list[Path]) -> tuple[str, list[np.ndarray]]:
    kind = _input_kind(serve)
    suffix = ".npy" if kind == "npy" else ".wav"
    for p in paths:
        if p.suffix.lower() != suffix:
            what = "frame features (.npy)" if kind == "npy" else "audio (.wav)"
            raise RecipeError(f"{p} is not a {suffix} file; this run's model takes {what}")
    arrays = read_files(config, paths, kind, log=lambda *_: None)
    if kind == "npy":
        want = serve.structured_input_signature[1]["frames"].shape[-1]
        for a, p in zip(arrays, paths):
            if a.shape[1] != want:
                raise RecipeError(
                    f"{p} has {a.shape[1]} features per frame; this run's model takes {want}"
                )
    return kind, arrays


def predict(serve, config: Config, inputs: list[str], output=None) -> list[dict[str, Any]]:
    """Label and probabilities for each .wav (or .npy) file; one record per file."""
    paths = [Path(x) for x in inputs]
    for p in paths:
        if p.is_dir():
            raise RecipeError(
                f"{p} is a folder; predict takes .wav or .npy files: give them, e.g. {p}/*.wav"
            )
        if not p.is_file():
            raise RecipeError(f"input file not found: {p} (predict takes .wav or .npy file paths)")
    kind, arrays = _read_for(serve, config, paths)
    return _serve_arrays(serve, kind, arrays, list(inputs))


def evaluate_exported(serve, config: Config, path: str) -> dict[str, Any]:
    """The run's metrics on a labelled folder or manifest, read with the run's label rules."""
    listing = listing_for(config, path)
    paths = [it.path for it in listing.items]
    kind, arrays = _read_for(serve, config, paths)
    recs = _serve_arrays(serve, kind, arrays, [str(p) for p in paths])
    return classification.evaluate_records(recs, [it.label for it in listing.items], path)


format_prediction = classification.format_prediction
format_metrics = classification.format_metrics
