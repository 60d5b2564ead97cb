"""`rnn-recipes` with subword vectors for the vocabulary (fastText-style, Bojanowski et al., TACL
2017), a prototype for the findings (session 23); not part of the package.

Each vocabulary word w gets, besides its own vector, the mean of the vectors of its character
n-grams (n = SUB_NMIN..SUB_NMAX of "<w>", at most SUB_K per word, hashed into SUB_BUCKETS
buckets); the token's input to the RNN is the sum of the two. A rare training word then shares
what its pieces learnt in other words ("unfunny" with "funny", "-ly" adverbs). Words outside the
vocabulary stay [UNK]: the model reads token ids, so unseen test words get nothing from this.
The n-gram ids of each vocabulary word are a constant table filled from the vocabulary adapted
on the training split (the patched ``initialize``); the n-gram vectors train with the rest.

It replaces the recipe's embedding layer by a subclass while ``build_model`` runs; the exported
model needs this module's class registered (importing this file does it). Screen it with

    FINDINGS_CLI=subwords.py python screen.py subwords
"""

import os
import sys
import zlib

import numpy as np

from rnn_recipes._lazy import keras, tf
from rnn_recipes.cli import main
from rnn_recipes.tasks.sentiment import model as sm

BUCKETS = int(os.environ.get("SUB_BUCKETS", "20000"))
NMIN = int(os.environ.get("SUB_NMIN", "3"))
NMAX = int(os.environ.get("SUB_NMAX", "5"))
PER_WORD = int(os.environ.get("SUB_K", "32"))
Embedding = keras.layers.Embedding


def ngram_ids(word: str) -> list[int]:
    """The word's hashed character n-grams, 1..BUCKETS (0 is "none"), at most PER_WORD."""
    s = f"<{word}>"
    seen: list[int] = []
    for n in range(NMIN, NMAX + 1):
        for i in range(len(s) - n + 1):
            h = zlib.crc32(s[i : i + n].encode()) % BUCKETS + 1
            if h not in seen:
                seen.append(h)
    return seen[:PER_WORD]


@keras.saving.register_keras_serializable(package="subwords_proto")
class SubwordEmbedding(Embedding):
    def __init__(self, input_dim, output_dim, buckets=BUCKETS, per_word=PER_WORD, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        self.buckets, self.per_word = buckets, per_word

    def build(self, input_shape=None):
        super().build(input_shape)
        self.ngram_ids = self.add_weight(
            shape=(self.input_dim, self.per_word),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="ngram_ids",
        )
        self.ngram_vectors = self.add_weight(
            shape=(self.buckets + 1, self.output_dim),
            initializer=keras.initializers.RandomUniform(-0.05, 0.05),
            name="ngram_vectors",
        )

    def call(self, inputs):
        words = super().call(inputs)
        ids = tf.gather(self.ngram_ids, tf.cast(inputs, "int32"))  # (batch, time, per_word)
        present = tf.cast(ids > 0, words.dtype)[..., None]
        vectors = tf.gather(self.ngram_vectors, ids) * present
        count = tf.maximum(tf.reduce_sum(present, axis=-2), 1.0)
        return words + tf.reduce_sum(vectors, axis=-2) / count

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets, "per_word": self.per_word}


orig_build, orig_initialize = sm.build_model, sm.initialize


def build_model(config, spec, mask=None):
    keras.layers.Embedding = SubwordEmbedding
    try:
        return orig_build(config, spec, mask)
    finally:
        keras.layers.Embedding = Embedding


def initialize(model, config, data):
    orig_initialize(model, config, data)
    vocabulary = data.vectorizer.get_vocabulary()
    table = np.zeros((len(vocabulary), PER_WORD), dtype=np.int32)
    for i, word in enumerate(vocabulary[2:], start=2):  # 0 padding, 1 [UNK]
        ids = ngram_ids(word)
        table[i, : len(ids)] = ids
    model.get_layer("embedding").ngram_ids.assign(table)
    filled = (table > 0).sum(axis=1)[2:]
    print(
        f"subwords: {len(vocabulary) - 2} words, n = {NMIN}-{NMAX}, {BUCKETS} buckets, "
        f"{filled.mean():.1f} n-grams per word (at most {PER_WORD})",
        flush=True,
    )


sm.build_model, sm.initialize = build_model, initialize
sys.exit(main())
