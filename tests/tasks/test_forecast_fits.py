"""The forecast task's least-squares fits (the blend's map, the linear baseline) read the
windows in chunks: the same solutions as one fit on every window at once, in a fraction of the
memory (issue 15: peak memory of a 720 -> 96 run)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.data import series
from rnn_recipes.tasks.forecast import baselines
from rnn_recipes.tasks.forecast import data as forecast_data
from rnn_recipes.tasks.forecast import model as forecast_model
from tests.makers import FORECAST_TINY as TINY
from tests.makers import make_series, write_series


def test_window_chunks_are_the_windows_in_order():
    values = np.arange(90, dtype=np.float32).reshape(45, 2)
    starts = np.arange(2, 30)
    x, y = series.window_arrays(values, starts, 6, 3, 1)
    chunks = list(series.window_chunks(values, starts, 6, 3, 1, size=8))
    assert [len(c[0]) for c in chunks] == [8, 8, 8, 4]
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), x)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), y)


def test_normal_equations_by_chunk_give_the_least_squares_solution_and_its_error():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 5)), rng.normal(size=(300, 2))
    whole, parts = baselines.NormalEquations(), baselines.NormalEquations()
    whole.add(x, y)
    for i in range(0, 300, 64):
        parts.add(x[i : i + 64], y[i : i + 64])
    np.testing.assert_allclose(parts.gram, whole.gram, rtol=1e-12)
    np.testing.assert_allclose(parts.cross, whole.cross, rtol=1e-12)
    assert parts.rows == 300
    a = np.concatenate([x, np.ones((300, 1))], axis=1)
    w = np.linalg.lstsq(a, y, rcond=None)[0]
    np.testing.assert_allclose(np.linalg.solve(parts.gram, parts.cross), w, atol=1e-10)
    other = w + rng.normal(size=w.shape)
    for sol in (w, other):
        assert parts.error(sol) == pytest.approx(float(np.sum((a @ sol - y) ** 2)), rel=1e-9)


def _prepared(tmp_path: Path, rows: int, *sets: str):
    stamps, values = make_series(rows)
    path = write_series(tmp_path / "s.csv", stamps, values)
    cfg = load_config("forecast", sets=[*TINY[1::2], f"data.path={path}", *sets]).config
    return cfg, forecast_data.make_datasets(cfg, log=lambda *_: None)


def _fit_skip_at_once(data, norm: str):
    """The map fitted on every window at once (the fit before chunking), for comparison."""
    k, p = len(data.targets), data.plan

    def problem(name):
        x, y = data.windows(name)
        rows_x, rows_y = [], []
        for j in range(k):
            xj, yj = x[:, :, j].astype(np.float64), y[:, :, j].astype(np.float64)
            shift, scale = forecast_model.window_shift_scale(xj, norm)
            rows_x.append(np.concatenate([(xj - shift) / scale, np.ones((len(xj), 1))], axis=1))
            rows_y.append((yj - shift) / scale)
        return np.concatenate(rows_x), np.concatenate(rows_y)

    a, y = problem("train")
    av, yv = problem("validation")
    assert a.shape[1] == p.lookback + 1
    _, w = baselines.best_ridge(a.T @ a, a.T @ y, lambda w: float(np.sum((av @ w - yv) ** 2)))
    return w[:-1], w[-1]


@pytest.mark.parametrize("space", sorted(forecast_model.MAP_SPACES))
def test_the_chunked_map_is_the_map_fitted_on_every_window_at_once(
    tmp_path: Path, monkeypatch, space
):
    monkeypatch.setattr(series, "WINDOW_CHUNK", 50)  # many chunks, one partial
    _, data = _prepared(tmp_path, 500)
    assert data.plan.windows("train") > 150
    kernel, bias = forecast_model.fit_skip(data, space)
    want_kernel, want_bias = _fit_skip_at_once(data, space)
    np.testing.assert_allclose(kernel, want_kernel, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(bias, want_bias, rtol=1e-6, atol=1e-8)


def test_the_linear_baseline_by_chunk_matches_one_fit(tmp_path: Path, monkeypatch):
    _, data = _prepared(tmp_path, 500)
    whole = baselines.fit_linear([data.windows("train")], [data.windows("validation")])
    monkeypatch.setattr(series, "WINDOW_CHUNK", 37)
    chunked = baselines.linear_baseline(data)
    assert chunked[1] == whole[1]  # the same ridge strengths
    for got, want in zip(chunked[0], whole[0]):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_the_fits_never_hold_every_training_window(tmp_path: Path, monkeypatch):
    """Their peak NumPy memory stays well below one float32 copy of the training windows
    (the fits before chunking held several float64 copies of them). The normal equations
    take (lookback + 1)^2 floats each, so the windows here are many and short."""
    monkeypatch.setattr(series, "WINDOW_CHUNK", 64)
    _, data = _prepared(tmp_path, 4000, "model.lookback=48", "model.horizon=24")
    p = data.plan
    windows_bytes = p.windows("train") * (p.lookback + p.horizon) * len(data.inputs) * 4
    assert windows_bytes > 2e6
    tracemalloc.start()
    try:
        for space in forecast_model.MAP_SPACES:
            forecast_model.fit_skip(data, space)
        baselines.linear_baseline(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < windows_bytes / 3, (peak, windows_bytes)


def test_error_figures_by_chunk_are_the_direct_means_without_a_float64_copy(monkeypatch):
    """The error block (model, baselines, linear map) sums a chunk of windows at a time: the
    same figures as the direct means, and never a float64 array of every window's errors."""
    monkeypatch.setattr(series, "WINDOW_CHUNK", 100)
    rng = np.random.default_rng(1)
    actual = rng.normal(size=(1050, 48, 3)).astype(np.float32)
    forecast = (actual + rng.normal(0, 0.5, size=actual.shape)).astype(np.float32)
    std = np.array([2.0, 0.5, 3.0])
    tracemalloc.start()
    try:
        block = baselines.error_block(forecast, actual, np.zeros(3), std, ["a", "b", "c"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < actual.size * 8 / 4, peak
    err = forecast.astype(np.float64) - actual
    orig = err * std
    assert block["mse"] == pytest.approx(np.mean(err**2), rel=1e-5)
    assert block["original_mae"] == pytest.approx(np.mean(np.abs(orig)), rel=1e-5)
    np.testing.assert_allclose(block["per_step"]["mae"], np.mean(np.abs(err), axis=(0, 2)), 1e-5)
    column = block["per_column"]["c"]
    assert column["original_mse"] == pytest.approx(np.mean(orig[:, :, 2] ** 2), rel=1e-5)
    np.testing.assert_allclose(column["per_step"]["mse"], np.mean(err[:, :, 2] ** 2, 0), 1e-5)
    assert baselines.mean_squared_error(forecast, actual) == pytest.approx(np.mean(err**2))
