"""model.pooling = "max" / "mean_max": the maximum over unmasked steps only, in both
classification tasks, through training, model.keras and the SavedModel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from tests.conftest import invoke, make_reviews, write_csv
from tests.makers import sentiment_run


def test_masked_max_ignores_masked_steps_and_empty_rows_give_zeros():
    from rnn_recipes.tasks.pooling import MaskedMaxPooling1D

    x = np.array([[[1.0, -2.0], [5.0, -1.0], [9.0, 9.0]], [[-3.0, -4.0], [7.0, 7.0], [0, 0]]])
    mask = np.array([[True, True, False], [True, False, False]])
    layer = MaskedMaxPooling1D()
    np.testing.assert_array_equal(np.asarray(layer(x, mask=mask)), [[5, -1], [-3, -4]])
    np.testing.assert_array_equal(np.asarray(layer(x)), [[9, 9], [7, 7]])  # no mask: all steps
    empty = np.zeros((2, 3), bool)
    np.testing.assert_array_equal(np.asarray(layer(x, mask=empty)), np.zeros((2, 2)))


@pytest.mark.parametrize("pooling", ["max", "mean_max"])
def test_speech_model_with_max_pooling_ignores_padding(pooling: str):
    """Padded frames past a clip's end change nothing: the maximum is taken over the clip's
    frames only, whatever the RNN layers put at the masked steps (Keras' CPU kernels repeat
    the last output there, cuDNN writes zeros)."""
    from rnn_recipes.tasks.speech.model import build_model
    from rnn_recipes.tasks.speech.pipeline import Spec

    cfg = load_config("speech", sets=["model.units=4", f'model.pooling="{pooling}"']).config
    spec = Spec(["a", "b"], "npy", 3, np.zeros(3), np.ones(3))
    model = build_model(cfg, spec)
    clip = np.random.default_rng(0).normal(size=(1, 6, 3)).astype(np.float32)
    padded = np.concatenate([clip, np.zeros((1, 5, 3), np.float32)], axis=1)
    np.testing.assert_allclose(np.asarray(model(padded)), np.asarray(model(clip)), atol=1e-6)
    head = model.get_layer("head_dropout").input
    assert head.shape[-1] == 2 * cfg.model.units * (2 if pooling == "mean_max" else 1)


def test_sentiment_run_with_mean_max_pooling_exports_and_predicts(tmp_path: Path):
    data = write_csv(tmp_path / "r.csv", make_reviews(120))
    out = tmp_path / "run"
    result = invoke(
        *sentiment_run(data, "--set", 'model.pooling="mean_max"', "--epochs", "2", "-o", out)
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] >= 0
    from rnn_recipes.export import load_keras, load_serving

    model = load_keras(out)  # the pooling layer is registered: safe_mode loads it
    texts = ["a great and wonderful film", "dull , awful and boring"]
    keras_probs = np.asarray(model(np.array(texts)))
    served = load_serving(out)(text=np.array(texts))
    np.testing.assert_allclose(np.asarray(served["probabilities"]), keras_probs, atol=1e-5)
    predicted = invoke("predict", out, texts[0])
    assert predicted.exit_code == 0, predicted.output
