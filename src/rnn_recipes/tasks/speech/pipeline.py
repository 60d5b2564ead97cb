"""Speech features and pipelines: frames computed once, normalization statistics, tf.data.

The waveform -> log-mel (or MFCC) layer runs once over every clip; the frames are kept in memory
and batched by length, so validation and test epochs only pay for the recurrent network. When
``augment.*`` is on (the default), training clips are kept as waveforms instead: each epoch
changes them anew (:mod:`.augment`), batches them by their new length and runs the same feature
layer the exported model starts with over each batch. Augmentation costs little next to the RNN
(the pipeline runs ahead of training on the other core).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._lazy import tf
from ...data.batching import bucketed_training
from .. import base, classification
from .augment import augment_clip
from .config import Config, augmenting, frame_samples, utterance_norm
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
    protocol: dict[str, str] | None = None  # validation/test: speaker-disjoint or not
    augmented: bool = False  # training clips augmented on the fly


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
        trim_db=f.trim_db,
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
            if layer.trim_db > 0:  # endpointing moved the clip's frames to the start
                nonzero = np.flatnonzero(np.any(frames[row, :n] != 0, axis=1))
                n = int(nonzero[-1]) + 1 if len(nonzero) else 1
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
    parts = assign_splits(loaded, config, log)

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
    protocol = {
        name: split_protocol(splits["train"], splits[name]) for name in ("validation", "test")
    }
    who = sorted({s for s in splits["validation"].speakers if s is not None})
    if protocol["validation"] == "speaker-disjoint":
        names = ", ".join(who[:6]) + ", ..." * (len(who) > 6)
        log(f"  validation: speaker-disjoint ({len(who)} speaker(s): {names})")
    else:
        log(f"  validation: {protocol['validation']} with training")
    if d.group_by == "speaker" and protocol["test"] == "shared speakers":
        # the test split came from a split column or data.test_regex, not by speaker
        shared = {s for s in splits["train"].speakers} & set(splits["test"].speakers)
        log(
            f"  note: {len(shared)} speaker(s) are in both train and test (the test split "
            "was given, not carved by speaker)"
        )

    # Statistics of what the Normalization layer will see: training frames after the
    # per-clip step (never validation or test frames, never augmented ones).
    norm = utterance_norm(config)
    train_features = splits["train"].features
    if norm != "none":
        from .layers import utterance_normalize

        train_features = [utterance_normalize(f, norm == "mean_var") for f in train_features]
    frames = np.concatenate(train_features)
    mean, variance = frames.mean(axis=0), frames.var(axis=0)
    log(f"Features: {what}; normalization adapted on {len(frames):,} training frames")

    lengths = np.array([len(f) for f in splits["train"].features])
    augment = augmenting(config)
    if augment and loaded.kind != "wav":
        augment = False
        log(
            "  note: augment.speed/noise_snr change waveforms; precomputed frames are not "
            "augmented (features.time_masks/freq_masks still apply)"
        )
    if augment:
        waves = [loaded.arrays[i] for i in parts["train"]]
        train = augmented_training(config, layer, waves, splits["train"].labels, lengths)
        a = config.augment
        log(
            f"  augment (training clips, anew every epoch): speed {a.speed[0]:g}-{a.speed[1]:g}"
            + (
                f", noise {a.noise_snr[0]:g}-{a.noise_snr[1]:g} dB SNR on "
                f"{a.noise_prob:.0%} of clips"
                if a.noise_snr and a.noise_prob > 0
                else ", no noise"
            )
        )
    else:
        train_frames = _frames_dataset(splits["train"])
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
        protocol=protocol,
        augmented=augment,
    )


def split_protocol(train: Split, other: Split) -> str:
    """How ``other`` relates to training: "speaker-disjoint", "shared speakers" or unknown."""
    if any(s is None for s in train.speakers + other.speakers):
        return "speakers unknown"
    if set(train.speakers) & set(other.speakers):
        return "shared speakers"
    return "speaker-disjoint"


def frame_bounds(lengths: np.ndarray) -> list[int]:
    """Bucket boundaries in frames: the 20/40/60/80 % quantiles (as ``bucketed_training``)."""
    return sorted({int(q) for q in np.quantile(lengths, [0.2, 0.4, 0.6, 0.8]) if q > 1})


def augmented_training(
    config: Config, layer, waves: list[np.ndarray], labels: np.ndarray, frame_lengths: np.ndarray
):
    """Training batches of augmented clips: shuffle, augment, bucket, then features per batch.

    Each clip is changed with draws keyed by (a per-epoch random value, its index), both from
    the run's seed, so every epoch differs and a resumed run replays the same epochs. Batching
    comes after augmentation (a faster clip is shorter) and pads with zeros at the end, which
    the feature layer turns into exactly-zero frames, as in the cached pipelines.

    Args:
        config: the run's settings (``augment.*``, ``train.seed``, ``train.batch_size``).
        layer: the waveform -> frames layer the exported model starts with.
        waves: the training clips at the model's rate.
        labels: their class indices.
        frame_lengths: their frame counts, for the bucket boundaries.
    """
    t, settings = config.train, config.augment
    length, step, _ = frame_samples(config)
    bounds = [b * step + length for b in frame_bounds(frame_lengths)]  # in samples
    ragged = tf.RaggedTensor.from_row_lengths(
        np.concatenate(waves).astype(np.float32), [len(w) for w in waves]
    )
    index = np.arange(len(waves), dtype=np.int64)
    clips = tf.data.Dataset.from_tensor_slices((ragged, labels, index)).cache()
    # The draws are keyed by (clip, its position this epoch, a second per-epoch permutation),
    # all from seeded shuffles that redraw for every iterator (epoch) of the pipeline: the
    # runner replays those on --resume, so a resumed run augments as the uninterrupted one.
    # (A clip meets the same key again with odds of about 1 in n**2 per epoch.)
    n = len(waves)
    order = clips.shuffle(n, seed=t.seed, reshuffle_each_iteration=True).enumerate()
    second = tf.data.Dataset.range(n).shuffle(n, seed=t.seed + 1, reshuffle_each_iteration=True)

    def augment(numbered, draw):
        position, (wave, label, i) = numbered
        wave = wave.to_tensor() if isinstance(wave, tf.RaggedTensor) else wave
        key = tf.stack([draw, i * n + position])
        return augment_clip(wave, key, settings), label

    features = tf.function(layer.__call__)
    return (
        tf.data.Dataset.zip(order, second)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .bucket_by_sequence_length(
            lambda x, y: tf.shape(x)[0],
            bucket_boundaries=[b + 1 for b in bounds],
            bucket_batch_sizes=[t.batch_size] * (len(bounds) + 1),
        )
        .map(lambda x, y: (features(x), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
