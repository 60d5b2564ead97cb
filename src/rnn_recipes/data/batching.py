"""Batching shared by the sequence-classification tasks (sentiment, speech)."""

from __future__ import annotations

import math

import numpy as np

from .._lazy import tf

# Exact-length batching pays one partial batch per distinct length; "auto" takes it while the
# distinct lengths are at most this share of the batches an epoch has (rt-polarity: 52 lengths
# for 270 batches, 0.19).
EXACT_SHARE = 0.2
MAX_BUCKETS = 16  # more buckets pad less, but each adds a partial batch per epoch
MIN_BATCHES_PER_BUCKET = 4  # a bucket emptier than this is mostly a partial batch


def choose_batching(setting: str, lengths: np.ndarray, batch_size: int) -> tuple[str, str]:
    """``"exact"`` or ``"bucketed"`` for ``data.batching = setting``, and why (for the log).

    ``"auto"`` picks exact-length batches when the number of distinct training lengths is at
    most :data:`EXACT_SHARE` of the number of batches: each length ends its epoch with a
    partial batch, so few lengths cost little and every batch runs without padding or mask.
    """
    _, counts = np.unique(lengths, return_counts=True)
    distinct = len(counts)
    batches = max(math.ceil(len(lengths) / batch_size), 1)
    why = f"{distinct} distinct training lengths, {batches} batches of {batch_size}"
    # One partial batch per length: the steps an epoch of exact-length batches really takes.
    exact = int(np.sum(-(-counts // batch_size)))
    if setting == "exact" or (setting == "auto" and distinct <= EXACT_SHARE * batches):
        why += f" if lengths mixed; {exact} of one length each"
    if setting != "auto":
        return setting, f"data.batching = {setting!r} ({why})"
    if distinct <= EXACT_SHARE * batches:
        return "exact", f"exact-length batches, no mask: {why} (data.batching = 'auto')"
    return "bucketed", (
        f"length buckets: {why}, more than {EXACT_SHARE:.0%} of the batches "
        "(data.batching = 'auto')"
    )


def histogram_bounds(lengths: np.ndarray, batch_size: int) -> list[int]:
    """Bucket boundaries (exclusive upper lengths) read off the length histogram.

    Walks the distinct lengths in order and closes a bucket once it holds the larger of
    :data:`MIN_BATCHES_PER_BUCKET` batches and an equal share of the examples left for the
    buckets still to make, so there are at most :data:`MAX_BUCKETS` buckets, none is mostly a
    partial batch, and a common length is never split between buckets.
    """
    values, counts = np.unique(np.asarray(lengths), return_counts=True)
    least = MIN_BATCHES_PER_BUCKET * batch_size
    bounds, held, left = [], 0, len(lengths)
    for value, count in zip(values, counts):
        held += int(count)
        # An equal share of what is left over the buckets still to make, and never too few.
        if held >= max(least, left / max(MAX_BUCKETS - len(bounds), 1)):
            bounds.append(int(value) + 1)
            left -= held
            held = 0
    # The last bucket is what follows the last bound: too small, it joins the one before; and a
    # bound above the longest example would only add an empty bucket.
    if bounds and (0 < held < least or bounds[-1] > values[-1]):
        bounds.pop()
    return bounds


def quantile_bounds(lengths: np.ndarray) -> list[int]:
    """Boundaries at the 20/40/60/80 % quantiles of the lengths (5 buckets; speech's)."""
    return [
        b + 1 for b in sorted({int(q) for q in np.quantile(lengths, [0.2, 0.4, 0.6, 0.8]) if q > 1})
    ]


def bucketed_training(
    examples, lengths: np.ndarray, batch_size: int, seed: int, bounds: list[int] | None = None
):
    """Shuffled, length-bucketed training batches of variable-length ``(sequence, label)`` pairs.

    Each batch holds sequences of similar length and is padded (right, with zeros) only to its
    longest: little wasted compute, and right-padded masks keep the RNNs cuDNN-eligible. The
    shuffle is seeded and redrawn every epoch. The pipeline has no known size, so Keras makes
    one iterator of it per epoch (what ``runner`` replays on ``--resume``).

    Args:
        examples: a cached ``tf.data.Dataset`` of ``(sequence [time, ...], label)``.
        lengths: the length of each example's sequence, in order.
        batch_size: examples per batch.
        seed: the shuffle seed.
        bounds: bucket boundaries (exclusive upper lengths); default :func:`quantile_bounds`
            (sentiment passes :func:`histogram_bounds`).
    """
    bounds = quantile_bounds(lengths) if bounds is None else bounds
    return (
        examples.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
        .bucket_by_sequence_length(
            lambda x, y: tf.shape(x)[0],
            bucket_boundaries=bounds,
            bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
        )
        .prefetch(tf.data.AUTOTUNE)
    )


def _length_key(x, y):
    return tf.cast(tf.shape(x)[0], tf.int64)


def exact_length_batches(examples, batch_size: int):
    """Batches in which every sequence has the same length: no padding, so no mask is needed.

    Examples are grouped by length in the order they come (a group is emitted once it holds
    ``batch_size``; the rest at the end), so the order is deterministic for a fixed input.
    """
    return examples.group_by_window(
        _length_key, lambda key, window: window.batch(batch_size), window_size=batch_size
    )


def exact_length_training(examples, lengths: np.ndarray, batch_size: int, seed: int):
    """Shuffled training batches of exactly equal length (one partial batch per length).

    The model can train without a mask on them: every step is a real token, so the fast
    (unmasked) RNN kernels run. Seeded shuffle, redrawn every epoch; unknown size, like
    :func:`bucketed_training` (one iterator per epoch).
    """
    shuffled = examples.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
    return exact_length_batches(shuffled, batch_size).prefetch(tf.data.AUTOTUNE)
