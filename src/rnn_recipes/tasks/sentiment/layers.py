"""The naive Bayes word and word-pair expert of the sentiment task.

On sentence-level sentiment a linear model over words and word pairs is a strong baseline
(multinomial naive Bayes with bigrams: 79.0 % on the rt-polarity sentences, NBSVM 79.4 %; Wang
and Manning, "Baselines and Bigrams", ACL 2012), and it is wrong on different sentences than a
recurrent network. The recipe therefore adds, to the RNN's class scores, ``weight`` times the
naive Bayes log-scores of the text:

    score(c) = log p_rnn(c | text) + weight * (log P(c) + sum over distinct features f of the
               text of log P(f | c))

Features are the token ids (words) and hashed pairs of neighbouring token ids (bigrams). The
table ``log P(f | c)`` is computed in closed form from the training split (counts of the texts
of class c containing f, add-alpha smoothed) and never trained; ``weight`` is 0 while the RNN
trains and is then chosen on the validation split (see :func:`.model.after_training`).

The table is most of the model's size (one row per word and per pair bucket), so the recipe
stores it in float16: half the bytes, and the centred log-likelihoods (magnitudes below ~10)
keep three significant digits, far below what moves a decision. Only the gathered rows are
cast to float32, so the sum runs in float32 on the CPU kernels every device has.

This module imports Keras and TensorFlow when it is imported (the layer class must exist to be
registered); the task imports it only when it builds or loads a model.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

# The pair hash: the pair's index a * vocabulary + b, reduced below 2**31, times Knuth's
# multiplicative constant, modulo the bucket count. Every product stays below 2**63 (for
# vocabularies up to ~3e9), so NumPy and TensorFlow compute the same buckets without overflow.
HASH = 2654435761
SPAN = 2**31


def pair_ids(ids: np.ndarray, vocabulary_size: int, buckets: int) -> np.ndarray:
    """Token ids [n, time] -> hashed word-pair features [n, time - 1] (0 where a side is padding),
    numbered after the vocabulary. The NumPy twin of :meth:`NaiveBayesBag.features`."""
    ids = ids.astype(np.int64)
    a, b = ids[:, :-1], ids[:, 1:]
    hashed = (a * vocabulary_size + b) % SPAN * HASH % buckets + vocabulary_size
    return np.where((a > 0) & (b > 0), hashed, 0)


def count_features(
    ids: np.ndarray, labels: np.ndarray, counts: np.ndarray, vocabulary_size: int, buckets: int
) -> None:
    """Add to ``counts`` [features, classes] the texts of each class containing each feature
    (a text counts a feature once: binary presence, the better choice for short texts)."""
    features = np.concatenate([ids.astype(np.int64), pair_ids(ids, vocabulary_size, buckets)], 1)
    size = counts.shape[0]
    rows = np.repeat(np.arange(len(features)), features.shape[1])
    keys = np.unique(rows * size + features.ravel())  # distinct (text, feature) pairs
    text, feature = keys // size, keys % size
    keep = feature > 0
    np.add.at(counts, (feature[keep], labels[text[keep]]), 1.0)


def log_likelihoods(counts: np.ndarray, class_counts: np.ndarray, alpha: float):
    """(log P(f | c) [features, classes], centred over classes; log P(c) [classes]) from the
    counts, add-``alpha`` smoothed."""
    smoothed = counts + alpha
    log_p = np.log(smoothed / smoothed.sum(axis=0, keepdims=True))
    log_p -= log_p.mean(axis=1, keepdims=True)  # only differences between classes matter
    prior = np.log(class_counts / class_counts.sum())
    return log_p.astype(np.float32), prior.astype(np.float32)


@keras.saving.register_keras_serializable(package="rnn_recipes")
class NaiveBayesBag(keras.layers.Layer):
    """Token ids [batch, time] (0 = padding) -> ``weight`` x naive Bayes class log-scores.

    Its three variables are not trained: the table and prior are set from the training split,
    the weight after training (0 until then, so the RNN trains on its own).

    Args:
        vocabulary_size: token ids below it are words; pair buckets are numbered after them.
        buckets: hash buckets for word pairs.
        classes: number of classes.
        table_dtype: how the table is stored; the recipe builds it in ``"float16"``. The
            default is float32 because models saved before the option existed stored that
            (their config does not name it), so they reload exactly.
    """

    def __init__(
        self,
        vocabulary_size: int,
        buckets: int,
        classes: int,
        table_dtype: str = "float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size, self.buckets, self.classes = vocabulary_size, buckets, classes
        self.table_dtype = table_dtype

    def build(self, input_shape):
        size = self.vocabulary_size + self.buckets
        self.table = self.add_weight(
            shape=(size, self.classes),
            initializer="zeros",
            dtype=self.table_dtype,
            trainable=False,
            name="log_likelihood",
        )
        self.prior = self.add_weight(
            shape=(self.classes,), initializer="zeros", trainable=False, name="log_prior"
        )
        self.weight = self.add_weight(shape=(), initializer="zeros", trainable=False, name="weight")

    def features(self, ids):
        ids = tf.cast(ids, tf.int64)
        a, b = ids[:, :-1], ids[:, 1:]
        pair = tf.math.floormod(a * self.vocabulary_size + b, SPAN)
        hashed = tf.math.floormod(pair * HASH, self.buckets)
        pairs = tf.where((a > 0) & (b > 0), hashed + self.vocabulary_size, tf.zeros_like(a))
        return tf.concat([ids, pairs], axis=1)

    def scores(self, ids):
        """The unweighted naive Bayes log-scores [batch, classes]."""
        features = tf.sort(self.features(ids), axis=1)
        first = tf.concat(
            [tf.ones_like(features[:, :1], tf.bool), features[:, 1:] != features[:, :-1]], axis=1
        )
        present = tf.cast(first & (features > 0), tf.float32)  # each distinct feature once
        # Gather the stored rows (float16 in the recipe), then sum in float32.
        rows = tf.cast(tf.gather(self.table, features), tf.float32)
        return tf.reduce_sum(rows * present[..., None], axis=1) + self.prior

    def call(self, ids):
        return self.weight * self.scores(ids)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.classes)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "buckets": self.buckets,
            "classes": self.classes,
            "table_dtype": self.table_dtype,
        }
