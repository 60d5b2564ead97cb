"""Prototype for issue 14: what makes the sentiment RNN itself stronger on rt-polarity.

Uses the recipe's own data step (recipes/rt-polarity.toml, fold k, validation carved from the
training folds) and its model builder, then trains variants of the RNN alone and prints one JSON
line per (variant, fold, seed) with validation and test accuracy and probabilities' file. Choices
are read from the validation column; the test column is for the record.

    python bench/findings/sentiment-rnn/proto.py --variant base --folds 0 1 2 --seeds 1337
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from rnn_recipes import tasks  # noqa: E402
from rnn_recipes.config import load_config  # noqa: E402
from rnn_recipes.tasks.sentiment import model as smodel  # noqa: E402

# Where runs write their JSON lines and saved probabilities (outside the repository).
OUT = Path(os.environ.get("PROTO_OUT", Path(tempfile.gettempdir()) / "sentiment-proto"))


def prepare(fold: int, seed: int, sets=()):
    # The data split and shuffle keep the recipe's seed (so runs of several seeds can be
    # averaged example by example); ``seed`` starts the weights.
    resolved = load_config(
        str(ROOT / "recipes/rt-polarity.toml"),
        sets=[f"data.test_fold={fold}", "model.naive_bayes=false", *sets],
    )
    config = resolved.config if hasattr(resolved, "config") else resolved
    task = tasks.get("sentiment")
    data = task.make_datasets(config, log=lambda *a: None)
    return config, data


def probs(model, ds):
    p = model.predict(ds.map(lambda x, y: x), verbose=0)
    y = np.concatenate([np.asarray(b) for _, b in ds])
    return np.asarray(p), y


def fit(model, config, train, validation, epochs=30, patience=5, lr=1e-3):
    model.compile(
        optimizer=keras.optimizers.Adam(lr, clipnorm=1.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    h = model.fit(train, validation_data=validation, epochs=epochs, callbacks=[stop], verbose=0)
    return int(np.argmin(h.history["val_loss"])) + 1, len(h.history["val_loss"])


def word_dropout(train, rate: float, oov: int = 1):
    """Replace each token (not padding, not the start id) by the OOV id with probability rate."""

    def drop(ids, y):
        keep = tf.random.uniform(tf.shape(ids)) >= rate
        special = ids <= 2  # 0 padding, 1 OOV, 2 start (see data.START_ID)
        return tf.where(keep | special, ids, tf.fill(tf.shape(ids), tf.cast(oov, ids.dtype))), y

    return train.map(drop)


def lm_pretrain(config, data, epochs: int, units: int, emb: int, seed: int, log):
    """A forward and a backward GRU language model over the training texts (next / previous
    token), sharing one embedding; returns (embedding, forward GRU, backward GRU) weights."""
    keras.utils.set_random_seed(seed)
    V = data.spec.vocabulary_size
    ids = keras.Input(shape=(None,), dtype="int32")
    e = keras.layers.Embedding(V, emb, mask_zero=True, name="embedding")(ids)
    e = keras.layers.Dropout(config.model.dropout)(e)
    f = keras.layers.GRU(units, return_sequences=True, name="fwd")(e)
    b = keras.layers.GRU(units, return_sequences=True, go_backwards=True, name="bwd")(e)
    b = keras.ops.flip(b, axis=1)
    head = keras.layers.Dense(V, name="head")  # tied across directions
    of = head(keras.layers.Dropout(0.3)(f))
    ob = head(keras.layers.Dropout(0.3)(b))
    lm = keras.Model(ids, [of, ob])

    def targets(x, y):
        nxt = tf.concat([x[:, 1:], tf.zeros_like(x[:, :1])], 1)  # token t+1 (0 = none)
        prv = tf.concat([tf.zeros_like(x[:, :1]), x[:, :-1]], 1)  # token t-1
        prv = tf.where(prv == 2, tf.zeros_like(prv), prv)  # do not predict the start id
        return x, (nxt, prv), (tf.cast(nxt > 0, tf.float32), tf.cast(prv > 0, tf.float32))

    lm.compile(
        optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
        loss=[
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ],
    )
    val = data.validation.map(targets)
    h = lm.fit(data.train.map(targets), validation_data=val, epochs=epochs, verbose=0)
    log(f"LM val loss per epoch {[round(v, 3) for v in h.history['val_loss']]}")
    g = {layer.name: layer for layer in lm.layers}
    return g["embedding"].get_weights(), g["fwd"].get_weights(), g["bwd"].get_weights()


def gram_matrix(vocabulary, buckets: int, n_min=3, n_max=5):
    """[V, G] hashed character n-gram ids (1..buckets, 0 = none) of each vocabulary word, with
    the fastText boundary marks < and >; special entries get none."""
    import zlib

    rows = []
    for i, w in enumerate(vocabulary):
        grams = []
        if i > 1 and w:
            t = f"<{w}>"
            for n in range(n_min, n_max + 1):
                grams += [t[j : j + n] for j in range(len(t) - n + 1)]
        rows.append([zlib.crc32(g.encode()) % buckets + 1 for g in dict.fromkeys(grams)])
    G = max(1, max(len(r) for r in rows))
    out = np.zeros((len(rows), G), np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class SubwordEmbedding(keras.layers.Layer):
    """Word vector = its own vector + the mean of its character n-gram vectors (fastText)."""

    def __init__(self, grams, dim, buckets, **kw):
        super().__init__(**kw)
        self.grams = tf.constant(grams)
        self.dim, self.buckets = dim, buckets
        self.supports_masking = True

    def build(self, shape):
        V = int(self.grams.shape[0])
        self.words = self.add_weight(shape=(V, self.dim), initializer="random_normal", name="w")
        self.ngrams = self.add_weight(
            shape=(self.buckets + 1, self.dim), initializer="random_normal", name="g"
        )

    def call(self, ids):
        present = tf.cast(self.grams > 0, tf.float32)[..., None]
        g = tf.gather(self.ngrams, self.grams) * present
        n = tf.maximum(tf.reduce_sum(present, 1), 1.0)
        table = self.words + tf.reduce_sum(g, 1) / n
        return tf.gather(table, ids)

    def compute_mask(self, ids, mask=None):
        return keras.ops.not_equal(ids, 0)


def subword_model(config, data, buckets):
    from rnn_recipes.tasks import classification

    m = config.model
    grams = gram_matrix(data.vectorizer.get_vocabulary(), buckets)
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = SubwordEmbedding(grams, smodel.embedding_dim(config, data.spec), buckets, name="emb")(
        inputs
    )
    x = keras.layers.Dropout(m.dropout)(x)
    return classification.rnn_classifier(inputs, x, m, data.spec.class_names, "sub")


class NBTokenFeatures(keras.layers.Layer):
    """Per token: the naive Bayes table's row of the word and of the pair (previous word, word),
    [batch, time, 2 x classes] (NBSVM-style log-count ratios as RNN inputs)."""

    def __init__(self, nb, **kw):
        super().__init__(**kw)
        self.nb = nb

    def call(self, ids):
        ids64 = tf.cast(ids, tf.int64)
        a, b = ids64[:, :-1], ids64[:, 1:]
        pair = tf.math.floormod(a * self.nb.vocabulary_size + b, 2**31)
        hashed = tf.math.floormod(pair * 2654435761, self.nb.buckets) + self.nb.vocabulary_size
        pairs = tf.where((a > 0) & (b > 0), hashed, tf.zeros_like(a))
        pairs = tf.concat([tf.zeros_like(ids64[:, :1]), pairs], 1)
        table = tf.cast(self.nb.table, tf.float32)
        word = tf.gather(table, ids64) * tf.cast(ids64 > 0, tf.float32)[..., None]
        two = tf.gather(table, pairs) * tf.cast(pairs > 0, tf.float32)[..., None]
        return tf.stop_gradient(tf.concat([word, two], -1))


def nb_input_model(config, data):
    """The recipe's model with the naive Bayes rows of each word and pair as extra RNN inputs;
    the expert's own score stays off (weight 0)."""
    from rnn_recipes.tasks import classification
    from rnn_recipes.tasks.sentiment.layers import NaiveBayesBag

    m = config.model
    spec = data.spec
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        spec.vocabulary_size,
        smodel.embedding_dim(config, spec),
        mask_zero=spec.train_mask,
        name="embedding",
    )(inputs)
    x = keras.layers.Dropout(m.dropout, name="embedding_dropout")(x)
    nb = NaiveBayesBag(
        spec.vocabulary_size, m.nb_buckets, len(spec.class_names), name="naive_bayes"
    )
    extra = nb(inputs)  # weight 0: adds nothing, builds the table
    f = NBTokenFeatures(nb, name="nb_features")(inputs)
    x = keras.layers.Concatenate(name="with_nb")([x, f])
    return classification.rnn_classifier(inputs, x, m, spec.class_names, "nbin", extra_scores=extra)


class LOOFeatures(keras.layers.Layer):
    """Per token, from the training counts: centred log P(word | c) and log P(pair | c), with the
    example's own count taken out when its label is given (label >= 0: training), so the RNN
    never sees statistics its own training example made."""

    def __init__(self, counts, vocabulary_size, buckets, alpha=1.0, **kw):
        super().__init__(**kw)
        self.counts = tf.constant(counts, tf.float32)
        self.totals = tf.constant(counts.sum(0), tf.float32)
        self.V, self.B, self.alpha = vocabulary_size, buckets, alpha
        self.C = counts.shape[1]

    def rows(self, f, onehot):
        present = tf.cast(f > 0, tf.float32)[..., None]
        c = tf.gather(self.counts, f) - onehot[:, None, :] * present
        ll = tf.math.log(c + self.alpha) - tf.math.log(self.totals + self.alpha * 2e5)
        ll = ll - tf.reduce_mean(ll, -1, keepdims=True)
        return ll * present

    def call(self, inputs):
        ids, label = inputs
        ids64 = tf.cast(ids, tf.int64)
        a, b = ids64[:, :-1], ids64[:, 1:]
        pair = tf.math.floormod(a * self.V + b, 2**31)
        hashed = tf.math.floormod(pair * 2654435761, self.B) + self.V
        pairs = tf.where((a > 0) & (b > 0), hashed, tf.zeros_like(a))
        pairs = tf.concat([tf.zeros_like(ids64[:, :1]), pairs], 1)
        label = tf.reshape(tf.cast(label, tf.int32), [-1])
        onehot = tf.one_hot(tf.maximum(label, 0), self.C) * tf.cast(label >= 0, tf.float32)[:, None]
        # A word repeated in a text was counted once for it: take one off each occurrence.
        return tf.stop_gradient(tf.concat([self.rows(ids64, onehot), self.rows(pairs, onehot)], -1))


def loo_model(config, data, counts):
    m, spec = config.model, data.spec
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    label = keras.Input(shape=(), dtype="int32", name="own_label")
    x = keras.layers.Embedding(
        spec.vocabulary_size,
        smodel.embedding_dim(config, spec),
        mask_zero=spec.train_mask,
        name="embedding",
    )(ids)
    x = keras.layers.Dropout(m.dropout, name="embedding_dropout")(x)
    f = LOOFeatures(counts, spec.vocabulary_size, m.nb_buckets, m.nb_alpha, name="loo")(
        [ids, label]
    )
    x = keras.layers.Concatenate(name="with_nb")([x, f])
    x = keras.layers.Bidirectional(keras.layers.GRU(m.units, return_sequences=True))(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(m.dropout)(x)
    out = keras.layers.Dense(len(spec.class_names), activation="softmax")(x)
    return keras.Model([ids, label], out)


def nb_counts(config, data):
    from rnn_recipes.tasks.sentiment.layers import count_features

    m = config.model
    size, classes = data.spec.vocabulary_size, len(data.spec.class_names)
    counts = np.zeros((size + m.nb_buckets, classes))
    for ids, labels in data.training_chunks(m.max_length):
        count_features(ids, labels, counts, size, m.nb_buckets)
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1337])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--wdrop", type=float, default=0.0)
    ap.add_argument("--lm-epochs", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--subword", type=int, default=0, help="n-gram buckets (0 = off)")
    ap.add_argument("--nb-input", action="store_true", help="NB rows as RNN inputs")
    ap.add_argument("--loo", action="store_true", help="NB rows as RNN inputs, leave-one-out")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for fold in a.folds:
        for seed in a.seeds:
            t0 = time.time()
            config, data = prepare(fold, seed, a.set)
            keras.utils.set_random_seed(seed)
            if a.subword:
                model = subword_model(config, data, a.subword)
            elif a.loo:
                model = loo_model(config, data, nb_counts(config, data))
            elif a.nb_input:
                config.model.naive_bayes = True  # count the table in initialize()
                model = nb_input_model(config, data)
            else:
                model = smodel.build_model(config, data.spec)
            smodel.initialize(model, config, data)  # pretrained vectors, when set
            info = {}
            if a.lm_epochs:
                m = config.model
                emb_w, fw, bw = lm_pretrain(
                    config,
                    data,
                    a.lm_epochs,
                    m.units,
                    smodel.embedding_dim(config, data.spec),
                    seed,
                    lambda s, info=info: info.setdefault("lm", s),
                )
                keras.utils.set_random_seed(seed)
                model.get_layer("embedding").set_weights(emb_w)
                bi = model.get_layer("bidirectional_1")
                bi.forward_layer.set_weights(fw)
                bi.backward_layer.set_weights(bw)
            train = word_dropout(data.train, a.wdrop) if a.wdrop else data.train
            validation, test = data.validation, data.test
            if a.loo:

                def own(x, y):
                    return {"token_ids": x, "own_label": y}, y

                def none(x, y):
                    return {"token_ids": x, "own_label": -tf.ones_like(y)}, y

                train, validation, test = train.map(own), validation.map(none), test.map(none)
            best, ran = fit(model, config, train, validation, lr=a.lr)
            pv, yv = probs(model, validation)
            pt, yt = probs(model, test)
            name = f"{a.variant}-f{fold}-s{seed}"
            np.savez(OUT / f"{name}.npz", pv=pv, yv=yv, pt=pt, yt=yt)
            rec = {
                "variant": a.variant,
                "fold": fold,
                "seed": seed,
                "sets": a.set,
                "wdrop": a.wdrop,
                "subword": a.subword,
                "nb_input": a.nb_input,
                "loo": a.loo,
                "lm_epochs": a.lm_epochs,
                "lr": a.lr,
                "val": float((pv.argmax(1) == yv).mean()),
                "test": float((pt.argmax(1) == yt).mean()),
                "best_epoch": best,
                "epochs": ran,
                "seconds": round(time.time() - t0, 1),
                **info,
            }
            print(json.dumps(rec), flush=True)
            with open(OUT / "results.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
