"""Naive Bayes rows as RNN inputs (``model.nb_features``, issue 14): leave-one-out in training.

Each token's input is its embedding and the naive Bayes log-likelihood rows of its word and of
the word pair it closes. A training text is fed rows counted without itself (its own label
given); everything else (validation, test, serving) the full training counts.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnn_recipes.config import load_config
from rnn_recipes.tasks.sentiment import data as sentiment_data
from rnn_recipes.tasks.sentiment import model as sentiment_model
from rnn_recipes.tasks.sentiment.layers import (
    NaiveBayesFeatures,
    count_features,
    log_likelihoods,
    pair_ids,
)
from tests.conftest import TINY, make_reviews, write_csv

QUIET = {"log": lambda *_: None}


def _config(*sets: str):
    return load_config("sentiment", sets=[s for s in TINY[1::2]] + list(sets)).config


def _prepared(tmp_path: Path, *sets: str, n: int = 200):
    rows = make_reviews(n)
    # A text repeating a word and a pair: binary presence counts each once.
    rows += [("great great film great great film", "positive")] * 2
    cfg = _config(f"data.path={write_csv(tmp_path / 'r.csv', rows)}", *sets)
    return cfg, sentiment_data.make_datasets(cfg, **QUIET)


def _ids(data, texts: list[str], max_length: int = 400) -> np.ndarray:
    return np.asarray(sentiment_data.token_ids(data.vectorizer, tf.constant(texts), max_length))


def _expected_rows(ids: np.ndarray, counts: np.ndarray, alpha: float) -> np.ndarray:
    """The reference, in NumPy from the counts: each token's word row and the row of the pair
    it closes (the expert's centred table, :func:`log_likelihoods`), zero where absent."""
    vocabulary = counts.shape[0] - BUCKETS
    table, _ = log_likelihoods(counts, np.ones(counts.shape[1]), alpha)
    pairs = np.concatenate([np.zeros_like(ids[:, :1]), pair_ids(ids, vocabulary, BUCKETS)], 1)
    word = table[ids] * (ids > 0)[..., None]
    pair = table[pairs] * (pairs > 0)[..., None]
    return np.concatenate([word, pair], axis=-1)


BUCKETS = 1024  # TINY's model.nb_buckets


def _training_counts(data, m, skip: int | None = None) -> np.ndarray:
    """The feature counts of the training split, without its text number ``skip``."""
    train = data.splits["train"]
    keep = [i for i in range(len(train.texts)) if i != skip]
    ids = _ids(data, [train.texts[i] for i in keep], m.max_length)
    size = data.spec.vocabulary_size
    counts = np.zeros((size + m.nb_buckets, len(data.class_names)))
    count_features(ids, train.labels[keep], counts, size, m.nb_buckets)
    return counts


def _features_layer(model):
    return model.get_layer("nb_features")


def test_leave_one_out_rows_are_those_of_the_counts_without_the_text(tmp_path: Path):
    cfg, data = _prepared(tmp_path)
    m = cfg.model
    assert m.nb_features and m.nb_buckets == BUCKETS
    model = sentiment_model.build_model(cfg, data.spec)
    sentiment_model.initialize(model, cfg, data)
    layer = _features_layer(model)
    assert layer.counts.dtype == "float16"  # half the bytes in the run folder
    train = data.splits["train"]
    repeated = train.texts.index("great great film great great film")
    for i in (0, 1, 7, repeated):
        ids = _ids(data, [train.texts[i]])
        own = np.array([train.labels[i]], np.int32)
        got = np.asarray(layer(ids, own))
        expected = _expected_rows(ids, _training_counts(data, m, skip=i), m.nb_alpha)
        assert got.shape == (1, ids.shape[1], 2 * len(data.class_names))
        np.testing.assert_allclose(got, expected, atol=2e-5)
        # And the full counts would have given other rows: the text's own label leaks there.
        full = np.asarray(layer(ids, np.array([-1], np.int32)))
        assert np.abs(full - got).max() > 1e-3


def test_minus_one_gives_the_full_count_rows_with_zero_rows_for_padding(tmp_path: Path):
    cfg, data = _prepared(tmp_path)
    model = sentiment_model.build_model(cfg, data.spec)
    sentiment_model.initialize(model, cfg, data)
    texts = ["great film", "the story was dull and the acting awful", ""]
    ids = _ids(data, texts)
    assert (ids == 0).any()  # a padded batch
    got = np.asarray(_features_layer(model)(ids, np.full(len(texts), -1, np.int32)))
    expected = _expected_rows(ids, _training_counts(data, cfg.model), cfg.model.nb_alpha)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert (got[ids == 0] == 0).all()  # padding
    assert (got[:, 0, 2:] == 0).all()  # the first token closes no pair


def test_features_carry_no_gradient(tmp_path: Path):
    layer = NaiveBayesFeatures(vocabulary_size=20, buckets=16, classes=2)
    ids = tf.constant([[1, 5, 7, 0]])
    layer(ids, tf.constant([0]))
    layer.counts.assign(np.arange(72, dtype=np.float16).reshape(36, 2))
    layer.totals.assign(np.array([100.0, 120.0], np.float32))
    totals = layer.totals.value  # the backing tf.Variable
    with tf.GradientTape() as tape:
        tape.watch(totals)
        out = layer(ids, tf.constant([0]))
    assert tape.gradient(out, totals) is None


def test_layer_config_round_trip():
    layer = NaiveBayesFeatures(
        vocabulary_size=20, buckets=16, classes=3, alpha=0.5, counts_dtype="float32"
    )
    ids, own = np.array([[1, 5, 7, 0], [3, 3, 19, 2]], np.int32), np.array([2, -1], np.int32)
    layer(ids, own)
    layer.counts.assign(np.random.default_rng(0).integers(1, 9, (36, 3)).astype(np.float32))
    layer.totals.assign(np.array([50.0, 60.0, 70.0], np.float32))
    config = layer.get_config()
    clone = NaiveBayesFeatures.from_config(config)
    clone(ids, own)
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == config
    assert keras.saving.get_registered_name(NaiveBayesFeatures) == "rnn_recipes>NaiveBayesFeatures"
    np.testing.assert_allclose(np.asarray(clone(ids, own)), np.asarray(layer(ids, own)))
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is NaiveBayesFeatures and revived.get_config() == config


@pytest.mark.parametrize("batching", ["exact", "bucketed"])
def test_training_pipeline_carries_own_labels_and_held_out_ones_do_not(
    tmp_path: Path, batching: str
):
    _, data = _prepared(tmp_path, f"data.batching={batching}")
    assert data.batching == batching
    seen = 0
    for x, labels in data.train:
        assert set(x) == {"token_ids", "own_label"}
        np.testing.assert_array_equal(x["own_label"].numpy(), labels.numpy())
        assert x["token_ids"].shape[0] == len(labels)
        seen += len(labels)
    assert seen == data.train_examples
    for split in (data.validation, data.test):
        for x, labels in split:
            assert (x["own_label"].numpy() == -1).all() and len(x["own_label"]) == len(labels)


def test_streamed_pipelines_carry_own_labels_in_training_only(tmp_path: Path):
    _, data = _prepared(tmp_path, "data.stream=true", "data.cache=memory")
    batches = list(data.train)
    assert sum(len(y) for _, y in batches) == data.train_examples
    for x, labels in batches:
        np.testing.assert_array_equal(x["own_label"].numpy(), labels.numpy())
    for x, _ in data.validation:
        assert (x["own_label"].numpy() == -1).all()


def test_served_and_saved_models_give_the_in_memory_probabilities(tmp_path: Path):
    from rnn_recipes import export
    from rnn_recipes.tasks.sentiment import serving

    cfg, data = _prepared(tmp_path, n=300)
    model = sentiment_model.build_model(cfg, data.spec)
    sentiment_model.initialize(model, cfg, data)
    sentiment_model.compile_model(model, cfg)
    model.fit(data.train, validation_data=data.validation, epochs=2, verbose=0)
    sentiment_model.after_training(cfg, data, model, **QUIET)
    texts = ["a great film", "dull and awful", "the story was great but the acting awful", ""]
    ids = _ids(data, texts)
    minus_one = np.full(len(texts), -1, np.int32)
    in_memory = np.asarray(model({"token_ids": ids, "own_label": minus_one}, training=False))

    full = sentiment_model.end_to_end_model(cfg, data, model)
    np.testing.assert_allclose(np.asarray(full(tf.constant(texts))), in_memory, atol=1e-5)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('task = "sentiment"\n')
    export.write_keras(full, run / export.KERAS_FILE)
    serve, signature = serving.serving(cfg, data, full)
    export.write_saved_model(run / export.SAVED_MODEL, full, serve, signature)

    reloaded = export.load_keras(run)
    np.testing.assert_allclose(np.asarray(reloaded(tf.constant(texts))), in_memory, atol=1e-5)
    signature = export.load_serving(run)
    assert [s.dtype for s in signature.structured_input_signature[1].values()] == [tf.string]
    np.testing.assert_allclose(
        signature(text=tf.constant(texts))["probabilities"].numpy(), in_memory, atol=1e-5
    )
    records = serving.predict(signature, cfg, texts)
    assert [r["label"] for r in records] == [data.class_names[k] for k in in_memory.argmax(axis=1)]


def _rnn_input_width(model) -> int:
    x = model.get_layer("bidirectional_1").input
    return (x[0] if isinstance(x, list) else x).shape[-1]


def test_nb_features_false_builds_the_embedding_only_model(tmp_path: Path):
    cfg, data = _prepared(tmp_path, "model.nb_features=false")
    for x, _ in data.train:
        assert isinstance(x, tf.Tensor)  # token ids alone, as before
    model = sentiment_model.build_model(cfg, data.spec)
    assert [i.name for i in model.inputs] == ["token_ids"]
    names = [layer.name for layer in model.layers]
    assert "nb_features" not in names and "with_nb_features" not in names
    # The RNN reads the embedding (after its dropout) directly.
    assert _rnn_input_width(model) == cfg.model.embedding_dim
    with_rows = sentiment_model.build_model(_config("model.nb_features=true"), data.spec)
    assert _rnn_input_width(with_rows) == (cfg.model.embedding_dim + 2 * len(data.class_names))
    info = sentiment_model.run_info(cfg, data)
    assert info["rnn_inputs"]["nb_features"] is False
