"""Sentiment's exact-length batching: the choice, the batches, and serving what was trained.

A model trained on batches of one token length has no mask in training (no padding anywhere);
the model it exports must keep the mask, so a padded batch of mixed lengths scores every text
as it scores alone, with the trained weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes import export
from rnn_recipes.config import load_config
from rnn_recipes.data import batching
from rnn_recipes.tasks.sentiment import data as sentiment_data
from rnn_recipes.tasks.sentiment import model as sentiment_model
from tests.conftest import TINY, invoke, make_reviews, write_csv

# Mixed lengths (1 to 12 tokens) so a batch of them is padded.
TEXTS = [
    "great",
    "the film was awful and the story dull",
    "loved it",
    "the service was really quite terrible and the food was boring too",
    "",
    "superb",
]


def _config(*sets: str):
    return load_config("sentiment", sets=[s for s in TINY[1::2]] + list(sets)).config


def test_auto_takes_exact_only_when_lengths_are_few_per_batch():
    few = np.repeat(np.arange(1, 11), 64)  # 10 lengths, 640 examples: 20 batches of 32
    assert batching.choose_batching("auto", few, 32)[0] == "bucketed"  # 10 > 0.2 x 20
    mode, why = batching.choose_batching("auto", few, 8)
    assert mode == "exact"  # 10 <= 0.2 x 80
    # The log says how many steps an epoch takes: one partial batch per length.
    per_length = np.unique(few, return_counts=True)[1]
    assert f"{int(sum(-(-per_length // 8)))} of one length each" in why
    assert batching.choose_batching("exact", few, 32)[0] == "exact"  # a setting wins
    assert batching.choose_batching("bucketed", few, 8)[0] == "bucketed"


def test_histogram_bounds_give_at_most_16_buckets_of_at_least_4_batches():
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.gamma(3.0, 6.0, 20000).astype(int) + 1, 1, 200)
    for batch_size in (8, 32, 128):
        bounds = batching.histogram_bounds(lengths, batch_size)
        assert bounds == sorted(set(bounds))
        per_bucket = np.bincount(np.searchsorted(bounds, lengths, side="right"))
        assert len(per_bucket) <= batching.MAX_BUCKETS
        assert per_bucket.min() >= batching.MIN_BATCHES_PER_BUCKET * batch_size
    # Far more buckets than the old 5 quantile buckets where the data allow it.
    assert len(batching.histogram_bounds(lengths, 32)) + 1 == batching.MAX_BUCKETS
    assert batching.histogram_bounds(np.full(100, 7), 32) == []  # one length: one bucket


def test_exact_length_batches_have_no_padding_and_cover_every_example(tmp_path: Path):
    rows = make_reviews(600)
    cfg = _config(f"data.path={write_csv(tmp_path / 'r.csv', rows)}", "data.batching=exact")
    data = sentiment_data.make_datasets(cfg, log=lambda *_: None)
    assert data.batching == "exact" and data.spec.train_mask is False
    seen = 0
    for dataset in (data.train, data.validation, data.test):
        for x, labels in dataset:
            ids = x["token_ids"].numpy()  # beside own_label (model.nb_features, the default)
            assert (ids != 0).all()  # no padding: every step is a real token
            assert ids[:, 0].min() == sentiment_data.START_ID
            seen += len(labels) if dataset is data.train else 0
    assert seen == data.train_examples

    # The same seed gives the same batches in the same order (resume and determinism rely on
    # it); each later epoch draws a new order.
    def epochs(prepared, n=2):
        return [[b[0]["token_ids"].numpy().tolist() for b in prepared.train] for _ in range(n)]

    first = epochs(sentiment_data.make_datasets(cfg, log=lambda *_: None))
    assert epochs(sentiment_data.make_datasets(cfg, log=lambda *_: None)) == first
    assert first[0] != first[1]


def test_model_trained_on_exact_batches_serves_padded_input_with_its_weights(tmp_path: Path):
    cfg = _config(
        f"data.path={write_csv(tmp_path / 'r.csv', make_reviews(600))}", "data.batching=exact"
    )
    data = sentiment_data.make_datasets(cfg, log=lambda *_: None)
    model = sentiment_model.build_model(cfg, data.spec)
    assert model.get_layer("embedding").mask_zero is False  # the fast, mask-free training graph
    assert model.get_layer("nb_features").mask_zero is False  # its rows add no mask either
    sentiment_model.initialize(model, cfg, data)
    sentiment_model.compile_model(model, cfg)
    model.fit(data.train, validation_data=data.validation, epochs=2, verbose=0)
    sentiment_model.after_training(cfg, data, model, log=lambda *_: None)
    full = sentiment_model.end_to_end_model(cfg, data, model)

    import tensorflow as tf

    together = np.asarray(full(tf.constant(TEXTS)))
    for i, text in enumerate(TEXTS):
        alone = np.asarray(full(tf.constant([text])))
        np.testing.assert_allclose(together[i], alone[0], atol=1e-5)
        # The served model's weights are the trained ones: the mask-free training model gives
        # the unpadded text the same scores.
        ids = sentiment_data.token_ids(data.vectorizer, tf.constant([text]), 400)
        ids = ids[:, : int(np.sum(np.asarray(ids) != 0))]
        x = {"token_ids": ids, "own_label": tf.constant([-1])}  # -1: the full counts
        np.testing.assert_allclose(np.asarray(model(x, training=False))[0], alone[0], atol=1e-5)


@pytest.mark.slow
def test_exact_length_run_exports_models_that_serve_mixed_lengths_alike(tmp_path: Path):
    data = write_csv(tmp_path / "reviews.csv", make_reviews(600))
    out = tmp_path / "run"
    args = ("run", "sentiment", "--data", data, *TINY, "--epochs", "2", "-o", out)
    result = invoke(*args, "--set", "data.batching=exact")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["batching"]["mode"] == "exact"
    assert metrics["batching"]["trained_with_mask"] is False
    assert len(metrics["train"]["epoch_seconds"]) == len(metrics["train"]["epoch_cpu_seconds"]) == 2
    assert metrics["train"]["examples_per_second_last_epoch"] > 0

    import tensorflow as tf

    keras_model = export.load_keras(out)
    serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    for predict in (
        lambda t: np.asarray(keras_model(tf.constant(t))),
        lambda t: serve(text=tf.constant(t))["probabilities"].numpy(),
    ):
        together = predict(TEXTS)
        alone = np.concatenate([predict([t]) for t in TEXTS])
        np.testing.assert_allclose(together, alone, atol=1e-5)
