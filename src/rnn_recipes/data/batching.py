"""Batching shared by the sequence-classification tasks (sentiment, speech)."""

from __future__ import annotations

import numpy as np

from .._lazy import tf


def bucketed_training(examples, lengths: np.ndarray, batch_size: int, seed: int):
    """Shuffled, length-bucketed training batches of variable-length ``(sequence, label)`` pairs.

    Bucket boundaries sit at the 20/40/60/80 % quantiles of the training lengths, so each batch
    holds sequences of similar length and is padded (right, with zeros) only to its longest:
    little wasted compute, and right-padded masks keep the RNNs cuDNN-eligible. The shuffle is
    seeded and redrawn every epoch. The pipeline has no known size, so Keras makes one iterator
    of it per epoch (what ``runner`` replays on ``--resume``).

    Args:
        examples: a cached ``tf.data.Dataset`` of ``(sequence [time, ...], label)``.
        lengths: the length of each example's sequence, in order.
        batch_size: examples per batch.
        seed: the shuffle seed.
    """
    bounds = sorted({int(q) for q in np.quantile(lengths, [0.2, 0.4, 0.6, 0.8]) if q > 1})
    return (
        examples.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
        .bucket_by_sequence_length(
            lambda x, y: tf.shape(x)[0],
            bucket_boundaries=[b + 1 for b in bounds],
            bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
        )
        .prefetch(tf.data.AUTOTUNE)
    )
