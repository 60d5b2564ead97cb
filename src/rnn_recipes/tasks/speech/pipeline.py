"""Speech features and pipelines: frames computed once, normalization statistics, tf.data.

The waveform -> log-mel (or MFCC) layer runs once over every clip; the frames are kept in memory
and batched by length, so epochs only pay for the recurrent network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._lazy import tf
from ...data.batching import bucketed_training
from .. import base, classification
from .config import Config, frame_samples
from .data import assign_splits, load_files, load_tfds


@dataclass
class Split:
    features: list[np.ndarray]  # [frames, features] per example (log-mel/MFCC or .npy)
    labels: np.ndarray  # class indices
    speakers: list[str | None]
    names: list[str]


@dataclass
class Spec:
    """The explicit sizes and statistics the speech model is built from."""

    class_names: list[str]
    kind: str  # "wav" (waveform in) or "npy" (frame features in)
    feature_count: int  # features per frame
    mean: np.ndarray  # per-feature statistics of the training frames (for Normalization)
    variance: np.ndarray


@dataclass
class Prepared(base.Prepared):
    """The pipelines (frames [batch, time, features], label), length-bucketed for training."""

    class_names: list[str]
    kind: str  # "wav" (waveform in) or "npy" (frame features in)
    splits: dict[str, Split]
    example: tuple[str, np.ndarray] | None = None  # (name, waveform or frames) for the plot


def feature_layer(config: Config, log_mel: bool = False):
    """The waveform -> frames layer of this config (``log_mel`` forces log-mel, for plots)."""
    from .layers import AudioFeatures

    f, d = config.features, config.data
    length, step, fft = frame_samples(config)
    return AudioFeatures(
        sample_rate=d.sample_rate,
        frame_length=length,
        frame_step=step,
        fft_length=fft,
        mel_bins=f.mel_bins,
        fmin=f.fmin,
        fmax=f.fmax,
        mfcc=f.mfcc if f.kind == "mfcc" and not log_mel else 0,
        name="features",
    )


def compute_features(layer, waves: list[np.ndarray], batch: int = 128) -> list[np.ndarray]:
    """Run the feature layer over clips in batches of similar length; frames per clip, unpadded."""
    fn = tf.function(layer.__call__, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    out: list[np.ndarray] = [None] * len(waves)  # type: ignore[list-item]
    order = np.argsort([len(w) for w in waves], kind="stable")
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        width = max(len(waves[i]) for i in chunk)
        padded = np.zeros((len(chunk), width), np.float32)
        for row, i in enumerate(chunk):
            padded[row, : len(waves[i])] = waves[i]
        frames = fn(tf.constant(padded)).numpy()
        for row, i in enumerate(chunk):
            n = max(1, 1 + (len(waves[i]) - layer.frame_length) // layer.frame_step)
            out[i] = frames[row, :n]
    return out


def _frames_dataset(split: Split):
    lengths = [len(f) for f in split.features]
    ragged = tf.RaggedTensor.from_row_lengths(np.concatenate(split.features), lengths)
    ds = tf.data.Dataset.from_tensor_slices((ragged, split.labels))
    return ds.map(
        lambda x, y: (x.to_tensor() if isinstance(x, tf.RaggedTensor) else x, y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def make_datasets(config: Config, log=print) -> Prepared:
    """Read the data, compute frame features once, and build padded, bucketed tf.data pipelines."""
    d, t = config.data, config.train
    loaded = load_tfds(config, log) if d.tfds else load_files(config, log)
    parts = assign_splits(loaded, config)

    hint = "give more speakers or files per class"
    train_labels = [loaded.labels[i] for i in parts["train"]]
    class_names = classification.class_names_for(train_labels, d.classes, "training split", hint)
    index = {c: i for i, c in enumerate(class_names)}
    counts: dict[str, dict[str, int]] = {}
    for name, idx in parts.items():
        labels = [loaded.labels[i] for i in idx]
        classification.check_split(name, labels, class_names, "give every class examples in train")
    log(f"Loaded {loaded.source}")

    if loaded.kind == "wav":
        layer = feature_layer(config)
        features = compute_features(layer, loaded.arrays)
        what = f"{config.features.kind.replace('_', '-')} ({layer.features} per frame)"
    else:
        features = loaded.arrays
        what = f"precomputed frame features ({features[0].shape[1]} per frame)"
    splits: dict[str, Split] = {}
    for name, idx in parts.items():
        y = np.array([index[loaded.labels[i]] for i in idx], dtype=np.int32)
        splits[name] = Split(
            [features[i] for i in idx],
            y,
            [loaded.speakers[i] for i in idx],
            [loaded.names[i] for i in idx],
        )
        counts[name] = {c: int((y == i).sum()) for i, c in enumerate(class_names)}
        per = ", ".join(f"{c}: {n}" for c, n in counts[name].items())
        speakers = {s for s in splits[name].speakers if s is not None}
        who = f", {len(speakers)} speakers" if speakers else ""
        log(f"  {name:<10} {len(y):>6} examples{who} ({per})")
    if d.group_by == "speaker":
        shared = set(splits["train"].speakers) & set(splits["test"].speakers)
        if shared:  # the test split came from a split column or data.test_regex, not by speaker
            log(
                f"  note: {len(shared)} speaker(s) are in both train and test (the test split "
                "was given, not carved by speaker)"
            )

    train_features = splits["train"].features
    if config.features.utterance_norm:  # statistics of what the Normalization layer will see
        train_features = [f - f.mean(axis=0) for f in train_features]
    frames = np.concatenate(train_features)
    mean, variance = frames.mean(axis=0), frames.var(axis=0)
    log(f"Features: {what}; normalization adapted on {len(frames):,} training frames")

    train_frames = _frames_dataset(splits["train"])
    lengths = np.array([len(f) for f in splits["train"].features])
    train = bucketed_training(train_frames.cache(), lengths, t.batch_size, t.seed)

    def eval_ds(split: Split):
        return (
            _frames_dataset(split)
            .cache()
            .padded_batch(max(t.batch_size, 128))
            .prefetch(tf.data.AUTOTUNE)
        )

    first = parts["test"][0]
    return Prepared(
        train=train,
        validation=eval_ds(splits["validation"]),
        test=eval_ds(splits["test"]),
        counts=counts,
        train_examples=len(splits["train"].labels),
        spec=Spec(class_names, loaded.kind, int(frames.shape[1]), mean, variance),
        class_names=class_names,
        kind=loaded.kind,
        splits=splits,
        example=(loaded.names[first], loaded.arrays[first]),
    )
