"""The forecast model's blend of its RNN with the least-squares linear map (issue 12): the map
is fitted before training in the model's normalized space (RevIN, last value subtracted or none),
the RNN trains alone, and the weight between them is fitted on validation afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.tasks.forecast import baselines
from rnn_recipes.tasks.forecast import data as forecast_data
from rnn_recipes.tasks.forecast import model as forecast_model
from tests.conftest import invoke
from tests.makers import FORECAST_TINY as TINY
from tests.makers import make_series, write_series

NORMALIZATIONS = {n: [f'model.normalization="{n}"'] for n in ("revin", "last", "none")}


def _config(path: Path, *sets: str):
    return load_config("forecast", sets=[*TINY[1::2], f"data.path={path}", *sets]).config


def test_blend_weight_is_the_least_squares_weight_clipped_to_0_1():
    rng = np.random.default_rng(0)
    rnn, linear = rng.normal(size=(50, 4, 2)), rng.normal(size=(50, 4, 2))
    actual = 0.3 * rnn + 0.7 * linear
    assert forecast_model.blend_weight(rnn, linear, actual) == pytest.approx(0.3)
    # Outside [0, 1] the best feasible weight is the nearer end.
    assert forecast_model.blend_weight(rnn, linear, 2 * rnn - linear) == 1.0
    assert forecast_model.blend_weight(rnn, linear, 2 * linear - rnn) == 0.0
    assert forecast_model.blend_weight(rnn, rnn, actual) == 1.0  # identical parts: keep the RNN


@pytest.mark.parametrize("space", sorted(forecast_model.MAP_SPACES))
def test_the_blend_is_w_rnn_plus_1_minus_w_map_each_in_its_own_space(tmp_path: Path, space):
    """Weight 0: the model is exactly the map fitted in ``space`` (the same numbers as the
    NumPy linear part of metrics.json), whatever the RNN's normalization; weight 1: the map's
    weights do not matter; in between, the weighted sum; the layer round-trips through
    model.keras."""
    import keras

    stamps, values = make_series(400)
    path = write_series(tmp_path / "s.csv", stamps, values)
    cfg = _config(path)  # the RNN in the default space (last value); the map in ``space``
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    model = forecast_model.build_model(cfg, data.spec)
    forecast_model.initialize(model, cfg, data)
    layer = model.get_layer("segrnn")
    assert not layer.blend_map.trainable and not layer.rnn_weight.trainable
    assert not layer.map_space.trainable
    assert float(layer.rnn_weight.numpy()) == 1.0  # the RNN trains alone
    x, _ = data.windows("validation")
    k = len(data.targets)

    kernel, bias = forecast_model.fit_skip(data, space)
    forecast_model.set_map(model, kernel, bias, space)
    expected_map = baselines.apply_shared_linear(x, kernel, bias, k, space)
    linear = forecast_model.weighted_forecast(model, x, 0.0)
    np.testing.assert_allclose(linear, expected_map, atol=2e-4)
    rnn = forecast_model.weighted_forecast(model, x, 1.0)
    assert float(layer.rnn_weight.numpy()) == 1.0  # put back
    assert np.max(np.abs(rnn - linear)) > 1e-3  # the two parts differ
    layer.blend_map.set_weights([w + 1.0 for w in layer.blend_map.get_weights()])
    np.testing.assert_allclose(forecast_model.weighted_forecast(model, x, 1.0), rnn, atol=1e-6)
    forecast_model.set_map(model, kernel, bias, space)
    layer.rnn_weight.assign(0.25)
    mixed = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(mixed, 0.25 * rnn + 0.75 * linear, atol=2e-4)

    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), mixed, atol=1e-5)


@pytest.mark.parametrize("norm", sorted(NORMALIZATIONS))
def test_the_rnn_normalization_is_undone_on_its_forecast(tmp_path: Path, norm):
    """With the output projection at zero the RNN forecasts 0 in its normalized space, so the
    model's forecast (weight 1) is the window's level: its last value, its mean, or 0."""
    path = write_series(tmp_path / "s.csv", *make_series(400))
    cfg = _config(path, *NORMALIZATIONS[norm])
    assert forecast_model.normalization(cfg) == norm
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    model = forecast_model.build_model(cfg, data.spec)
    layer = model.get_layer("segrnn")
    layer.project.set_weights([np.zeros_like(w) for w in layer.project.get_weights()])
    x, _ = data.windows("validation")
    got = np.asarray(model.predict(x, verbose=0))
    k = len(data.targets)
    level = {
        "last": x[:, -1:, :k],
        "revin": x[:, :, :k].mean(axis=1, keepdims=True),
        "none": np.zeros((len(x), 1, k)),
    }[norm]
    np.testing.assert_allclose(got, np.broadcast_to(level, got.shape), atol=1e-4)


def _run(tmp_path: Path, *sets: str) -> dict:
    stamps, values = make_series()
    data = write_series(tmp_path / "series.csv", stamps, values)
    extra = [a for s in sets for a in ("--set", s)]
    out = tmp_path / "run"
    result = invoke("run", "forecast", "--data", data, *TINY, *extra, "--epochs", "2", "-o", out)
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text()), result.output


def test_a_run_fits_the_weight_on_validation_and_reports_every_part(tmp_path: Path):
    metrics, output = _run(tmp_path)
    blend, test = metrics["blend"], metrics["test"]
    w, space = blend["rnn_weight"], blend["map_normalization"]
    assert 0.0 <= w <= 1.0 and blend["chosen"] == "validation"
    assert f"Blend: RNN weight {w:.3g} (fitted on validation), linear map in space '{space}'" in (
        output
    )
    # The map's space is the one whose blend does best on validation, among all three.
    candidates = blend["candidates"]
    assert set(candidates) == {"last", "revin", "none"}
    assert candidates[space]["blend"] == min(c["blend"] for c in candidates.values())
    val = blend["validation_mse"]
    # The fitted weight is the best on validation: never worse than either part alone.
    assert val["blend"] <= min(val["rnn"], val["linear_map"]) * (1 + 1e-4)
    assert test["linear_map"]["normalization"] == space
    assert test["linear_map"]["validation_mse"] == pytest.approx(val["linear_map"], rel=1e-3)
    assert test["rnn_alone"]["rnn_weight"] == pytest.approx(w, abs=1e-4)
    name = baselines.NORMALIZATION_NAMES[space]
    assert f"least-squares map ({name})" in test["summary"]
    if w < 1:
        assert test["rnn_alone"]["mse"] != test["mse"]
        assert "RNN alone" in test["summary"]


def test_the_legacy_revin_key_still_names_a_normalization(tmp_path: Path):
    """config.toml of runs before model.normalization has model.revin = true/false."""
    path = write_series(tmp_path / "s.csv", *make_series(400))
    assert forecast_model.normalization(_config(path)) == "last"
    assert forecast_model.normalization(_config(path, "model.revin=true")) == "revin"
    assert forecast_model.normalization(_config(path, "model.revin=false")) == "none"


def test_a_set_weight_of_0_makes_the_model_its_linear_map(tmp_path: Path):
    metrics, output = _run(tmp_path, "model.rnn_weight=0.0", 'model.map_normalization="revin"')
    assert metrics["blend"] == {
        **metrics["blend"],
        "rnn_weight": 0.0,
        "chosen": "model.rnn_weight",
        "map_normalization": "revin",
    }
    assert set(metrics["blend"]["candidates"]) == {"revin"}
    test = metrics["test"]
    assert test["mse"] == pytest.approx(test["linear_map"]["mse"], rel=1e-3)
    assert test["rnn_alone"]["mse"] != pytest.approx(test["mse"], rel=1e-3)


def test_without_the_blend_there_is_no_weight(tmp_path: Path):
    metrics, output = _run(tmp_path, "model.linear_blend=false")
    assert "blend" not in metrics and "rnn_alone" not in metrics["test"]
    assert "Blend:" not in output
