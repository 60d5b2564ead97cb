"""Speech features and pipelines: frames computed once, normalization statistics, tf.data.

The waveform -> log-mel (or MFCC) layer runs once over every clip; the frames are kept in memory
and batched by length, so validation and test epochs only pay for the recurrent network. When
``augment.*`` is on (the default), training clips are kept as waveforms instead: each epoch
changes them anew (:mod:`.augment`), batches them by their new length and runs the same feature
layer the exported model starts with over each batch. Augmentation costs little next to the RNN
(the pipeline runs ahead of training on the other core).

A data set too large for memory is streamed instead (``data.stream``): :mod:`.stream` reads the
clips inside tf.data and shares the split, logging and augmentation steps defined here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..._lazy import tf
from ...data.batching import bucketed_training, histogram_bounds
from ...errors import ConfigError
from .. import base, classification
from .augment import augment_clip, stretch_frames, tempo_factor
from .config import Config, augmenting, frame_kinds, frame_samples, kind_name, utterance_norm
from .data import Loaded, assign_splits, distinct, list_files, load_tfds, read_distinct


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
    """The waveform -> frames layer of this config (``log_mel`` forces log-mel, for plots):
    its kind, or both kinds side by side when ensemble members read different ones."""
    from .layers import AudioFeatures

    f, d = config.features, config.data
    kinds = ["log_mel"] if log_mel else frame_kinds(config)
    length, step, fft = frame_samples(config)
    return AudioFeatures(
        sample_rate=d.sample_rate,
        frame_length=length,
        frame_step=step,
        fft_length=fft,
        mel_bins=f.mel_bins,
        fmin=f.fmin,
        fmax=f.fmax,
        mfcc=f.mfcc if "mfcc" in kinds else 0,
        trim_db=f.trim_db,
        preemphasis=f.preemphasis,
        keep_log_mel=len(kinds) > 1,
        name="features",
    )


def features_name(config: Config) -> str:
    """What the frames hold, for the log: "mfcc", or "log-mel + mfcc" for a mixed ensemble."""
    return " + ".join(kind_name(kind) for kind in frame_kinds(config))


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


def concatenated(arrays: list[np.ndarray]):
    """The distinct arrays of ``arrays`` end to end as one tensor, and each item's ``[start,
    end)`` rows in it: an array listed k times is held once (``data.read_distinct``), and a
    pipeline slices its items out instead of keeping (or caching) a copy of each."""
    unique, which = distinct(arrays)
    ends = np.cumsum([len(a) for a in unique], dtype=np.int64)
    starts = ends - [len(a) for a in unique]
    joined = tf.constant(np.concatenate(unique).astype(np.float32, copy=False))
    return joined, np.stack([starts[which], ends[which]], axis=1)


def _frames_dataset(split: Split):
    """(frames, label) of every example of ``split``, in order, sliced out of one tensor."""
    frames, spans = concatenated(split.features)
    ds = tf.data.Dataset.from_tensor_slices((spans, split.labels))
    return ds.map(
        lambda span, y: (frames[span[0] : span[1]], y), num_parallel_calls=tf.data.AUTOTUNE
    )


def make_datasets(config: Config, log=print, refit: bool = False) -> Prepared:
    """Read the data, compute frame features once, and build padded, bucketed tf.data pipelines.

    With ``data.stream`` (or "auto" and more data than ``data.stream_above_mb``) only the file
    list is kept: :mod:`.stream` reads the clips inside tf.data instead. With ``refit`` the
    validation clips train too (:func:`split_classes`).
    """
    d = config.data
    if d.tfds:
        loaded = load_tfds(config, log)
    else:
        loaded = list_files(config)
        if loaded.kind == "npy" and len(frame_kinds(config)) > 1:
            raise ConfigError(
                "features.member_kinds asks for log-mel and MFCC members, but .npy frame "
                "features come precomputed, of one kind: set features.member_kinds = []"
            )
        streaming, why = stream_decision(config, loaded)
        if why:
            log(why)
        if streaming:
            from . import stream

            return stream.make_datasets(config, loaded, log, refit)
        loaded.arrays = read_distinct(config, loaded, log)
    return _in_memory(config, loaded, log, refit)


def stream_decision(config: Config, loaded: Loaded) -> tuple[bool, str]:
    """Whether to stream, and the log line saying why ("" when ``data.stream = false``).

    "auto" adds up the sizes of the distinct data files (one ``stat`` each, nothing read): a
    file listed k times is held once in memory (:func:`~.data.read_distinct`).
    """
    d = config.data
    if d.stream is True:
        return True, "streaming: data.stream = true"
    if d.stream is False:
        return False, ""
    total = sum(os.stat(n).st_size for n in dict.fromkeys(loaded.names)) / 2**20
    size = f"{total / 1024:.1f} GB" if total >= 1024 else f"{total:.1f} MB"
    if total > d.stream_above_mb:
        return True, f"streaming: {size} of data files > data.stream_above_mb={d.stream_above_mb:g}"
    return False, f"in memory: {size} of data files <= data.stream_above_mb={d.stream_above_mb:g}"


def split_classes(
    config: Config, loaded: Loaded, log, refit: bool = False
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Split indices and class names, checked: every class in train, no unknown class elsewhere.

    With ``refit`` the training split also holds the validation clips (``train.refit``): the
    feature statistics, the training pipeline and its augmentation then cover them too.
    """
    parts = assign_splits(loaded, config, log)
    if refit:
        parts["train"] = np.concatenate([parts["train"], parts["validation"]])
        log(f"  refit: the {len(parts['validation'])} validation examples train too")
    hint = "give more speakers or files per class"
    train_labels = [loaded.labels[i] for i in parts["train"]]
    class_names = classification.class_names_for(
        train_labels, config.data.classes, "training split", hint
    )
    for name, idx in parts.items():
        labels = [loaded.labels[i] for i in idx]
        classification.check_split(name, labels, class_names, "give every class examples in train")
    log(f"Loaded {loaded.source}")
    return parts, class_names


def make_splits(
    config: Config,
    loaded: Loaded,
    parts: dict[str, np.ndarray],
    class_names: list[str],
    features: list[np.ndarray] | None,
    log,
) -> tuple[dict[str, Split], dict[str, dict[str, int]], dict[str, str]]:
    """The splits (with their frames when ``features`` is given), class counts and protocols,
    each logged."""
    index = {c: i for i, c in enumerate(class_names)}
    splits: dict[str, Split] = {}
    counts: dict[str, dict[str, int]] = {}
    for name, idx in parts.items():
        y = np.array([index[loaded.labels[i]] for i in idx], dtype=np.int32)
        splits[name] = Split(
            [features[i] for i in idx] if features is not None else [],
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
    if config.data.group_by == "speaker" and protocol["test"] == "shared speakers":
        # the test split came from a split column or data.test_regex, not by speaker
        shared = {s for s in splits["train"].speakers} & set(splits["test"].speakers)
        log(
            f"  note: {len(shared)} speaker(s) are in both train and test (the test split "
            "was given, not carved by speaker)"
        )
    return splits, counts, protocol


def augment_note(config: Config, kind: str, log) -> bool:
    """Whether training clips are augmented; says so when the settings cannot apply."""
    augment = augmenting(config)
    if augment and kind != "wav":
        log(
            "  note: augment.speed/noise_snr/tempo apply to waveform clips; precomputed frames "
            "are not augmented (features.time_masks/freq_masks still apply)"
        )
        return False
    return augment


def log_augment(config: Config, log) -> None:
    a = config.augment
    log(
        f"  augment (training clips, anew every epoch): speed {a.speed[0]:g}-{a.speed[1]:g}"
        + (f", tempo {a.tempo[0]:g}-{a.tempo[1]:g}" if a.changes_tempo else "")
        + (
            f", noise {a.noise_snr[0]:g}-{a.noise_snr[1]:g} dB SNR on {a.noise_prob:.0%} of clips"
            if a.noise_snr and a.noise_prob > 0
            else ", no noise"
        )
    )


def _in_memory(config: Config, loaded: Loaded, log, refit: bool = False) -> Prepared:
    """Every distinct clip in memory once: frames computed once, batches sliced out of them."""
    t = config.train
    parts, class_names = split_classes(config, loaded, log, refit)
    if loaded.kind == "wav":
        layer = feature_layer(config)
        # A clip listed k times is one array (read_distinct): its frames are computed once and
        # shared by the k examples.
        unique, which = distinct(loaded.arrays)
        unique_features = compute_features(layer, unique)
        features = [unique_features[j] for j in which]
        what = f"{features_name(config)} ({layer.features} per frame)"
    else:
        features = loaded.arrays
        what = f"precomputed frame features ({features[0].shape[1]} per frame)"
    splits, counts, protocol = make_splits(config, loaded, parts, class_names, features, log)

    # Statistics of what the Normalization layer will see: training frames after the
    # per-clip step (never validation or test frames, never augmented ones).
    mean, variance, frame_count = training_statistics(
        splits["train"].features, utterance_norm(config)
    )
    log(f"Features: {what}; normalization adapted on {frame_count:,} training frames")

    lengths = np.array([len(f) for f in splits["train"].features])
    augment = augment_note(config, loaded.kind, log)
    if augment:
        waves = [loaded.arrays[i] for i in parts["train"]]
        train = augmented_training(config, layer, waves, splits["train"].labels, lengths)
        log_augment(config, log)
    else:
        # Bucket boundaries from the length histogram (as sentiment's): up to 16 buckets pad
        # a long tail of clip lengths far less than 5 quantile buckets, and a padded step
        # costs the RNN as much as a real one. Only the batches change, never the model.
        train_frames = _frames_dataset(splits["train"])
        train = bucketed_training(
            train_frames,
            lengths,
            t.batch_size,
            t.seed,
            histogram_bounds(lengths, t.batch_size),
        )

    def eval_ds(split: Split):
        return (
            _frames_dataset(split).padded_batch(max(t.batch_size, 128)).prefetch(tf.data.AUTOTUNE)
        )

    first = parts["test"][0]
    return Prepared(
        train=train,
        validation=eval_ds(splits["validation"]),
        test=eval_ds(splits["test"]),
        counts=counts,
        train_examples=len(splits["train"].labels),
        spec=Spec(class_names, loaded.kind, int(mean.shape[0]), mean, variance),
        class_names=class_names,
        kind=loaded.kind,
        splits=splits,
        example=(loaded.names[first], loaded.arrays[first]),
        protocol=protocol,
        augmented=augment,
    )


def training_statistics(
    features: list[np.ndarray], norm: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and variance per feature of the training frames after the per-clip step ``norm``,
    and the frame count; a clip listed k times (the same array k times) counts k times but is
    normalized and held once."""
    unique, which = distinct(features)
    if norm != "none":
        from .layers import utterance_normalize

        unique = [utterance_normalize(f, norm == "mean_var") for f in unique]
    frames = np.concatenate(unique)
    if len(unique) == len(features):
        return frames.mean(axis=0), frames.var(axis=0), len(frames)
    repeats = np.bincount(which, minlength=len(unique))
    weights = np.repeat(repeats, [len(f) for f in unique])
    mean = np.average(frames, axis=0, weights=weights)
    variance = np.average(np.square(frames - mean), axis=0, weights=weights)
    return mean.astype(np.float32), variance.astype(np.float32), int(weights.sum())


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
    config: Config,
    layer,
    waves: list[np.ndarray] | list[str],
    labels: np.ndarray,
    frame_lengths: np.ndarray,
    read=None,
):
    """Training batches of augmented clips: shuffle, augment, bucket, then features per batch.

    Each clip is changed with draws keyed by (a per-epoch random value, its index), both from
    the run's seed, so every epoch differs and a resumed run replays the same epochs. Batching
    comes after augmentation and pads with zeros at the end, which the feature layer turns into
    exactly-zero frames, as in the cached pipelines. Clips are bucketed by their *original*
    length, not the augmented one: every epoch then has the same number of batches. (Bucketed
    by the augmented length, an epoch could have more batches than the first, and Keras, which
    learns an unknown-size pipeline's batch count from the first epoch of a ``fit``, cut such an
    epoch short and drew one more shuffle order than a resumed run did at that epoch.)

    Args:
        config: the run's settings (``augment.*``, ``train.seed``, ``train.batch_size``).
        layer: the waveform -> frames layer the exported model starts with.
        waves: the training clips at the model's rate (a clip listed k times may be one array
            k times: it is held once), or (streaming) their file paths.
        labels: their class indices.
        frame_lengths: their frame counts, for the bucket boundaries.
        read: when ``waves`` are paths, the tf.data function path -> waveform; each clip is
            then read in the (parallel) augmentation step of every epoch, never kept.
    """
    t, settings = config.train, config.augment
    bounds = frame_bounds(frame_lengths)  # in frames of the clips as they are
    original = tf.constant(np.asarray(frame_lengths, dtype=np.int32))
    index = np.arange(len(waves), dtype=np.int64)
    if read is None:
        # The distinct clips once, end to end, and per example where its clip starts and ends:
        # a clip listed k times is held once (not k times, nor again in a cache); an epoch
        # shuffles these small rows in the same seeded order as the streaming path's paths.
        samples, spans = concatenated(waves)
        clips = tf.data.Dataset.from_tensor_slices((spans, labels, index))

        def read(span):
            return samples[span[0] : span[1]]

    else:
        # Only the paths are shuffled (in full: they are small), in the same seeded order as
        # the clips of the in-memory path.
        clips = tf.data.Dataset.from_tensor_slices((np.asarray(waves), labels, index))
    # The draws are keyed by (clip, its position this epoch, a second per-epoch permutation),
    # all from seeded shuffles that redraw for every iterator (epoch) of the pipeline: the
    # runner replays those on --resume, so a resumed run augments as the uninterrupted one.
    # (A clip meets the same key again with odds of about 1 in n**2 per epoch.)
    n = len(waves)
    order = clips.shuffle(n, seed=t.seed, reshuffle_each_iteration=True).enumerate()
    second = tf.data.Dataset.range(n).shuffle(n, seed=t.seed + 1, reshuffle_each_iteration=True)

    def augment(numbered, draw):
        position, (wave, label, i) = numbered
        wave = read(wave)
        key = tf.stack([draw, i * n + position])
        return augment_clip(wave, key, settings), label, original[i], tempo_factor(key, settings)

    features = tf.function(layer.__call__)

    def frames_of(x, y, frames, factor):
        out = features(x)
        return (stretch_frames(out, factor) if settings.changes_tempo else out), y

    return (
        tf.data.Dataset.zip(order, second)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .bucket_by_sequence_length(
            lambda x, y, frames, factor: frames,
            bucket_boundaries=[b + 1 for b in bounds],
            bucket_batch_sizes=[t.batch_size] * (len(bounds) + 1),
        )
        .map(frames_of, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
