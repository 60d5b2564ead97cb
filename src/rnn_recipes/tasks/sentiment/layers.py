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


def features(ids, vocabulary_size: int, buckets: int):
    """Token ids [batch, time] -> features [batch, 2 x time - 1]: the word ids, then the hashed
    pairs (previous token, token), 0 where a side is padding. The TensorFlow twin of
    :func:`pair_ids`, shared by the expert (:class:`NaiveBayesBag`) and the RNN's inputs
    (:class:`NaiveBayesFeatures`)."""
    ids = tf.cast(ids, tf.int64)
    a, b = ids[:, :-1], ids[:, 1:]
    pair = tf.math.floormod(a * vocabulary_size + b, SPAN)
    hashed = tf.math.floormod(pair * HASH, buckets)
    pairs = tf.where((a > 0) & (b > 0), hashed + vocabulary_size, tf.zeros_like(a))
    return tf.concat([ids, pairs], axis=1)


def distinct(sorted_features):
    """1.0 at the first occurrence of each present feature of a row sorted ascending, else 0.0
    (binary presence: how :func:`count_features` counts a text)."""
    first = tf.concat(
        [
            tf.ones_like(sorted_features[:, :1], tf.bool),
            sorted_features[:, 1:] != sorted_features[:, :-1],
        ],
        axis=1,
    )
    return tf.cast(first & (sorted_features > 0), tf.float32)


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
        """Token ids [batch, time] -> their features [batch, 2 x time - 1]: the word ids, then
        the hashed pairs (:func:`features`)."""
        return features(ids, self.vocabulary_size, self.buckets)

    def scores(self, ids):
        """The unweighted naive Bayes log-scores [batch, classes]."""
        features = tf.sort(self.features(ids), axis=1)
        present = distinct(features)  # each distinct feature once
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


@keras.saving.register_keras_serializable(package="rnn_recipes")
class NaiveBayesFeatures(keras.layers.Layer):
    """(token ids [batch, time], own label [batch]) -> naive Bayes rows [batch, time, 2 x classes].

    For every token, the centred log-likelihood row of the word and of the hashed pair
    (previous token, token) it closes, from the training split's feature counts (NBSVM's
    features, Wang and Manning 2012, given to the RNN in order):

        row(f, c) = l(f, c) - mean over classes c' of l(f, c'),
        l(f, c)   = log(n(f, c) - own(f, c) + alpha) - log(N(c) - own(c) + alpha x features)

    ``n(f, c)`` counts the training texts of class c containing f (binary presence, as
    :func:`count_features` counts them), ``N(c)`` their sum over features. Leave-one-out: where
    ``own_label`` y >= 0 (a training example fed with its own label), ``own(f, y)`` is 1 for
    each feature the text contains and ``own(y)`` the number of its distinct features, so the
    row is exactly what the counts of the training split *without that text* give; the RNN
    never sees statistics its own label made (without it, the rows of rare words state the
    label and the RNN learns to trust them). ``own_label = -1`` (validation, test, serving):
    the full counts. Rows are 0 for padding and for the first token (it closes no pair). No
    gradient flows through them; nothing here is trained.

    The counts are stored in float16 (half the bytes, most of this layer's size): counts above
    2048 (very common words on large corpora) are rounded to float16's spacing, which moves
    their log-likelihoods by less than 0.1 %; smaller counts are exact. Rows are computed in
    float32.

    Args:
        vocabulary_size: token ids below it are words; pair buckets are numbered after them.
        buckets: hash buckets for word pairs (the expert's, :class:`NaiveBayesBag`).
        classes: number of classes.
        alpha: add-alpha smoothing of the counts (``model.nb_alpha``).
        counts_dtype: how the counts are stored.
        mask_zero: give the output the padding mask (``ids != 0``), as the embedding it is
            concatenated with has. Needed: Keras' ``Concatenate`` keeps a step where *any*
            input is unmasked (an input without a mask counts as unmasked everywhere), so rows
            without the mask would unmask the padding for the RNN.
    """

    def __init__(
        self,
        vocabulary_size: int,
        buckets: int,
        classes: int,
        alpha: float = 1.0,
        counts_dtype: str = "float16",
        mask_zero: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size, self.buckets, self.classes = vocabulary_size, buckets, classes
        self.alpha, self.counts_dtype = float(alpha), counts_dtype
        self.mask_zero = mask_zero

    def build(self, ids_shape, own_label_shape=None):
        self.counts = self.add_weight(
            shape=(self.vocabulary_size + self.buckets, self.classes),
            initializer="zeros",
            dtype=self.counts_dtype,
            trainable=False,
            name="counts",
        )
        self.totals = self.add_weight(
            shape=(self.classes,), initializer="zeros", trainable=False, name="totals"
        )

    def call(self, ids, own_label):
        time = tf.shape(ids)[1]
        every = features(ids, self.vocabulary_size, self.buckets)  # [batch, 2 x time - 1]
        # Token t's pair is (t - 1, t): the first token closes none.
        pairs = tf.pad(every[:, time:], [[0, 0], [1, 0]])
        label = tf.reshape(tf.cast(own_label, tf.int32), [-1])
        own = (
            tf.one_hot(tf.maximum(label, 0), self.classes)
            * tf.cast(label >= 0, tf.float32)[:, None]
        )  # [batch, classes]: one-hot of the own class, zeros for -1
        size = self.vocabulary_size + self.buckets
        distinct_count = tf.reduce_sum(distinct(tf.sort(every, axis=1)), axis=1)  # [batch]
        totals = self.totals[None, :] - own * distinct_count[:, None]
        log_total = tf.math.log(totals + self.alpha * size)[:, None, :]  # [batch, 1, classes]

        def rows(f):
            present = tf.cast(f > 0, tf.float32)[..., None]
            n = tf.cast(tf.gather(self.counts, f), tf.float32) - own[:, None, :] * present
            ll = tf.math.log(n + self.alpha) - log_total
            return (ll - tf.reduce_mean(ll, axis=-1, keepdims=True)) * present

        return tf.stop_gradient(tf.concat([rows(every[:, :time]), rows(pairs)], axis=-1))

    def compute_mask(self, ids, previous_mask=None):
        return keras.ops.not_equal(ids, 0) if self.mask_zero else None

    def compute_output_shape(self, ids_shape, own_label_shape=None):
        return (*ids_shape, 2 * self.classes)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "buckets": self.buckets,
            "classes": self.classes,
            "alpha": self.alpha,
            "counts_dtype": self.counts_dtype,
            "mask_zero": self.mask_zero,
        }
