"""Speech data that does not fit in memory: clips read and features computed inside tf.data.

Only the file list (paths, labels, speakers: a few hundred bytes a clip) is held. The splits
are assigned on it exactly as in memory (same rules, same seed, so ``stream = true`` and
``false`` split a data set the same way). Each clip's length comes from its WAV header (or
``.npy`` header), so the length buckets are known before any audio is decoded, and every file
is checked as far as its header allows before training starts.

Then, per split, a tf.data pipeline reads the files with a parallel map (the same
:func:`~rnn_recipes.data.audio.read_wav` as the in-memory path, so the same resampling,
down-mixing and cropping), runs the feature layer the exported model starts with over each clip,
and keeps the frames in ``data.cache`` ("disk": the run folder's ``cache/``). The Normalization
layer's statistics come from one streaming pass over the training frames, which also fills the
training cache. Training batches come from a shuffle buffer of ``data.shuffle_buffer`` frame
sequences, bucketed by length; with ``augment.*`` on, the training clips are read again every
epoch (only their paths are shuffled) and changed as in memory, never cached.

Memory is bounded by ``data.shuffle_buffer``, the batch size, the length buckets (up to one
batch each) and the prefetch, not by the number of clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._lazy import tf
from ...data import audio
from ...data.cache import cache_folder
from .config import Config, frame_samples, utterance_norm
from .data import Loaded, probe_lengths, read_clip
from .pipeline import (
    Prepared,
    Spec,
    augment_note,
    augmented_training,
    feature_layer,
    features_name,
    frame_bounds,
    log_augment,
    make_splits,
    split_classes,
)

# Statistics pass: frame sequences summed per batch (padded frames are masked out).
STATS_BATCH = 256


def wav_reader(config: Config):
    """tf.data function: a WAV path -> its float32 waveform at the model's rate (1-D)."""
    d = config.data

    def read(path: bytes) -> np.ndarray:
        return audio.read_wav(
            Path(path.decode()),
            d.sample_rate,
            d.resample,
            max_seconds=d.max_seconds or None,
            crop=d.crop,
        )

    def reader(path):
        wave = tf.numpy_function(read, [path], tf.float32, stateful=False)
        wave.set_shape([None])
        return wave

    return reader


def npy_reader(features: int):
    """tf.data function: a ``.npy`` path -> its ``[frames, features]`` float32 array."""

    def read(path: bytes) -> np.ndarray:
        return audio.read_npy(Path(path.decode()))

    def reader(path):
        frames = tf.numpy_function(read, [path], tf.float32, stateful=False)
        frames.set_shape([None, features])
        return frames

    return reader


def clip_frames(config: Config, layer):
    """tf.data function: one waveform -> its unpadded frames, as ``compute_features`` gives them."""
    length, step, _ = frame_samples(config)
    features = tf.function(layer.__call__)

    def frames_of(wave):
        feats = features(wave[None, :])[0]
        n = tf.maximum(1, 1 + (tf.shape(wave)[0] - length) // step)
        if layer.trim_db > 0:  # endpointing moved the clip's frames to the start
            voiced = tf.where(tf.reduce_any(tf.not_equal(feats[:n], 0.0), axis=1))[:, 0]
            n = tf.cond(
                tf.size(voiced) > 0,
                lambda: tf.cast(voiced[-1], tf.int32) + 1,
                lambda: tf.constant(1, tf.int32),
            )
        return feats[:n]

    return frames_of


def _cached(ds, config: Config, name: str):
    """``ds`` kept between epochs as ``data.cache`` says."""
    how = config.data.cache
    if how == "disk":
        return ds.cache(str(cache_folder(f"speech-{name}") / "frames"))
    if how == "memory":
        return ds.cache()
    return ds


def frame_statistics(
    frames_ds, norm: str, feature_count: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and variance per feature over every frame of ``frames_ds`` (after the per-clip
    normalization ``norm``), in one pass with float64 sums; and the frame count."""
    from .layers import VARIANCE_FLOOR

    def prepare(x):
        if norm == "none":
            return x
        centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
        if norm == "mean_var":
            spread = tf.reduce_mean(tf.square(centred), axis=0, keepdims=True)
            centred = centred / tf.sqrt(spread + VARIANCE_FLOOR)
        return centred

    def sums(batch, lengths):
        mask = tf.sequence_mask(lengths, tf.shape(batch)[1], dtype=tf.float64)[:, :, None]
        x = tf.cast(batch, tf.float64) * mask
        return tf.reduce_sum(x, axis=[0, 1]), tf.reduce_sum(tf.square(x), axis=[0, 1])

    total = np.zeros(feature_count)
    squares = np.zeros(feature_count)
    count = 0
    batches = frames_ds.map(
        lambda x, y: (prepare(x), tf.shape(x)[0]), num_parallel_calls=tf.data.AUTOTUNE
    ).padded_batch(STATS_BATCH)
    for batch, lengths in batches:
        s, q = sums(batch, lengths)
        total += s.numpy()
        squares += q.numpy()
        count += int(tf.reduce_sum(lengths))
    mean = total / count
    variance = np.maximum(squares / count - mean**2, 0.0)
    return mean.astype(np.float32), variance.astype(np.float32), count


def make_datasets(config: Config, loaded: Loaded, log=print, refit: bool = False) -> Prepared:
    """The speech pipelines, streamed from the files of ``loaded`` (a file list, nothing read)."""
    d, t = config.data, config.train
    lengths, feature_count = probe_lengths(config, loaded, log)
    parts, class_names = split_classes(config, loaded, log, refit)
    splits, counts, protocol = make_splits(config, loaded, parts, class_names, None, log)
    names = np.asarray(loaded.names)
    parallel = tf.data.AUTOTUNE

    if loaded.kind == "wav":
        layer = feature_layer(config)
        read_wave = wav_reader(config)
        frames_of = clip_frames(config, layer)
        feature_count = layer.features

        def read_frames(path):
            return frames_of(read_wave(path))

        length, step, _ = frame_samples(config)
        frame_lengths = np.maximum(1, 1 + (lengths - length) // step)
        what = f"{features_name(config)} ({feature_count} per frame)"
    else:
        read_frames = npy_reader(feature_count)
        frame_lengths = lengths
        what = f"precomputed frame features ({feature_count} per frame)"

    def frames_dataset(name: str, order: np.ndarray, cache: bool = True):
        idx = parts[name][order]
        y = splits[name].labels[order]
        ds = tf.data.Dataset.from_tensor_slices((names[idx], y))
        ds = ds.map(
            lambda path, label: (read_frames(path), label),
            num_parallel_calls=parallel,
            deterministic=True,
        )
        return _cached(ds, config, name) if cache else ds

    # The training frames are cached in one seeded random order, so that a shuffle buffer
    # smaller than the data still mixes classes and speakers (a folder lists them in runs).
    train_order = np.random.default_rng(t.seed).permutation(len(parts["train"]))
    augment = augment_note(config, loaded.kind, log)
    # The augmented pipeline reads the clips itself every epoch: unchanged training frames are
    # only needed once, for the statistics, and are not cached.
    train_frames = frames_dataset("train", train_order, cache=not augment)
    mean, variance, count = frame_statistics(train_frames, utterance_norm(config), feature_count)
    log(
        f"Features: {what}, computed while streaming; normalization adapted on {count:,} "
        f"training frames (one pass)"
    )
    log(
        f"  streaming: shuffle buffer {d.shuffle_buffer:,} clips, features cached in "
        + {"disk": "the run folder's cache/", "memory": "memory", "none": "no cache"}[d.cache]
    )

    if augment:
        train = augmented_training(
            config,
            layer,
            [loaded.names[i] for i in parts["train"]],
            splits["train"].labels,
            frame_lengths[parts["train"]],
            read=read_wave,
        )
        log_augment(config, log)
    else:
        bounds = frame_bounds(frame_lengths[parts["train"]])
        train = (
            train_frames.shuffle(d.shuffle_buffer, seed=t.seed, reshuffle_each_iteration=True)
            .bucket_by_sequence_length(
                lambda x, y: tf.shape(x)[0],
                bucket_boundaries=[b + 1 for b in bounds],
                bucket_batch_sizes=[t.batch_size] * (len(bounds) + 1),
            )
            .prefetch(tf.data.AUTOTUNE)
        )

    def eval_ds(name: str):
        order = np.arange(len(parts[name]))  # in split order: metrics pair them with labels
        return frames_dataset(name, order).padded_batch(max(t.batch_size, 128)).prefetch(parallel)

    first = parts["test"][0]
    example = Path(loaded.names[first])
    array = audio.read_npy(example) if loaded.kind == "npy" else read_clip(config, example)
    return Prepared(
        train=train,
        validation=eval_ds("validation"),
        test=eval_ds("test"),
        counts=counts,
        train_examples=len(splits["train"].labels),
        spec=Spec(class_names, loaded.kind, int(feature_count), mean, variance),
        class_names=class_names,
        kind=loaded.kind,
        splits=splits,
        example=(loaded.names[first], array),
        protocol=protocol,
        augmented=augment,
    )
