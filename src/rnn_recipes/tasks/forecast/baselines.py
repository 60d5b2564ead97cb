"""Forecast baselines and metrics: repeat-last, seasonal naive, a linear model, error blocks.

Every run reports the model's test errors next to these on identical windows, so you can see
whether the RNN earns its keep. ``test.linear_map`` adds the least-squares map in the model's
normalized space (the blend's fixed part) with the model's gain over it, and ``test.rnn_alone``
the RNN part alone when the model blends the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ...data import series as series_data
from .config import Config
from .data import Prepared

# Ridge strengths tried, as fractions of the Gram matrix's mean diagonal; picked on validation.
RIDGE_GRID = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def best_ridge(
    gram: np.ndarray, cross: np.ndarray, error: Callable[[np.ndarray], float]
) -> tuple[float, np.ndarray]:
    """Solve the ridge normal equations for each strength of :data:`RIDGE_GRID`; keep the best.

    Args:
        gram: ``A^T A`` of the design matrix whose last column is the bias (never shrunk).
        cross: ``A^T Y``.
        error: the validation error of a solution ``w`` (lower is better; ties keep the first).

    Returns:
        (the chosen strength, its solution ``w``)
    """
    scale = np.trace(gram) / len(gram)
    best = None
    for c in RIDGE_GRID:
        reg = np.eye(len(gram)) * c * scale
        reg[-1, -1] = 0.0  # the bias is not shrunk
        w = np.linalg.solve(gram + reg, cross)
        err = error(w)
        if best is None or err < best[0]:
            best = (err, c, w)
    return best[1], best[2]


def repeat_last(x: np.ndarray, horizon: int, targets: int) -> np.ndarray:
    """The last observed value of each target, repeated over the horizon."""
    return np.repeat(x[:, -1:, :targets], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, targets: int, season: int) -> np.ndarray:
    """The last full season of each target, repeated: y[h] = x[lookback - season + h % season]."""
    lookback = x.shape[1]
    idx = lookback - season + np.arange(horizon) % season
    return x[:, idx, :targets]


def seasonal_naive_from_series(
    series: np.ndarray, starts: np.ndarray, lookback: int, horizon: int, targets: int, season: int
) -> np.ndarray:
    """Seasonal naive read from the whole series, for seasons longer than the lookback.

    Window k forecasts rows ``o + h`` (origin ``o = starts[k] + lookback``) with the value one
    season before, or whole seasons before when ``h >= season``: always a row before ``o``, so
    nothing after the forecast origin is used. Needs ``o - season >= 0`` for every window.
    """
    origins = starts + lookback
    h = np.arange(horizon)
    rows = origins[:, None] + h[None, :] - season * (h[None, :] // season + 1)
    return series[rows][:, :, :targets]


class NormalEquations:
    """``A^T A``, ``A^T Y`` and ``sum(Y^2)`` of a least-squares problem, summed chunk by chunk.

    The design matrix ``A`` is the inputs with a bias column appended; chunks of rows are added
    with :meth:`add`, so the windows never need to be in memory all at once. :meth:`error` is
    the sum of squared errors of a solution ``w`` over every row added, from the sums alone.
    """

    def __init__(self) -> None:
        self.gram: np.ndarray | float = 0.0
        self.cross: np.ndarray | float = 0.0
        self.squares = 0.0
        self.rows = 0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add rows: inputs x [n, features] and targets y [n, outputs] (cast to float64)."""
        a = np.concatenate([x, np.ones((len(x), 1))], axis=1).astype(np.float64, copy=False)
        y = y.astype(np.float64, copy=False)
        self.gram = self.gram + a.T @ a
        self.cross = self.cross + a.T @ y
        self.squares += float(np.sum(y * y))
        self.rows += len(x)

    def error(self, w: np.ndarray) -> float:
        """``sum((A w - Y)^2)`` = ``tr(w^T A^T A w) - 2 tr(w^T A^T Y) + sum(Y^2)``."""
        return float(np.sum(w * (self.gram @ w)) - 2 * np.sum(w * self.cross) + self.squares)


def fit_linear(
    train: Iterable[tuple[np.ndarray, np.ndarray]],
    validation: Iterable[tuple[np.ndarray, np.ndarray]],
) -> tuple[list[np.ndarray], list[float]]:
    """A least-squares linear map lookback -> horizon per target channel (with bias).

    ``train`` and ``validation`` are chunks of windows (x [n, lookback, channels],
    y [n, horizon, targets]), e.g. :func:`~rnn_recipes.data.series.window_chunks`: one pass
    over each. The ridge strength is picked per channel from a small grid on the validation
    windows.

    Returns:
        (weights [lookback + 1, horizon] per target, the chosen ridge strengths)
    """

    def sums(chunks) -> list[NormalEquations]:
        per_target: list[NormalEquations] = []
        for x, y in chunks:
            if not per_target:
                per_target = [NormalEquations() for _ in range(y.shape[2])]
            for j, eq in enumerate(per_target):
                eq.add(x[:, :, j], y[:, :, j])
        return per_target

    weights, ridges = [], []
    for fit, check in zip(sums(train), sums(validation)):
        c, w = best_ridge(fit.gram, fit.cross, check.error)
        weights.append(w)
        ridges.append(c)
    return weights, ridges


def apply_linear(x: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
    """The per-target linear maps of :func:`fit_linear` on windows x -> [n, horizon, targets]
    (float32, like the model's forecasts)."""
    out = np.empty((len(x), weights[0].shape[1], len(weights)), np.float32)
    for j, w in enumerate(weights):
        out[:, :, j] = x[:, :, j] @ w[:-1] + w[-1]
    return out


def _r(value: float) -> float:
    return float(f"{float(value):.6g}")


def error_block(
    forecast: np.ndarray, actual: np.ndarray, mean: np.ndarray, std: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """MSE/MAE of scaled forecasts [n, horizon, targets], scaled and in original units.

    Overall figures average over windows, steps and targets; ``per_step`` averages over windows
    and targets (scaled units, comparable across columns); ``per_column`` has each target's own
    figures and per-step curves in both units.
    """
    # Every figure is a mean of the per-(step, target) means over windows: squared and absolute
    # errors, scaled by the target's spread (squared) for original units.
    sq, ab = _window_means(forecast, actual)
    osq, oab = sq * std[None, :] ** 2, ab * std[None, :]
    block: dict[str, Any] = {
        "mse": _r(sq.mean()),
        "mae": _r(ab.mean()),
        "original_mse": _r(osq.mean()),
        "original_mae": _r(oab.mean()),
        "per_step": {
            "mse": [_r(v) for v in sq.mean(axis=1)],
            "mae": [_r(v) for v in ab.mean(axis=1)],
        },
        "per_column": {},
    }
    for j, name in enumerate(names):
        block["per_column"][name] = {
            "mse": _r(sq[:, j].mean()),
            "mae": _r(ab[:, j].mean()),
            "original_mse": _r(osq[:, j].mean()),
            "original_mae": _r(oab[:, j].mean()),
            "per_step": {
                "mse": [_r(v) for v in sq[:, j]],
                "mae": [_r(v) for v in ab[:, j]],
                "original_mse": [_r(v) for v in osq[:, j]],
                "original_mae": [_r(v) for v in oab[:, j]],
            },
        }
    return block


def _window_means(forecast: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean squared and mean absolute error over windows, per (step, target) [horizon, targets],
    in float64, a chunk of windows at a time (no float64 copy of every window's errors)."""
    sq, ab = np.zeros(actual.shape[1:]), np.zeros(actual.shape[1:])
    step = series_data.chunk_size(int(np.prod(actual.shape[1:])))
    for i in range(0, len(actual), step):
        e = forecast[i : i + step].astype(np.float64)
        e -= actual[i : i + step]
        ab += np.abs(e).sum(axis=0)
        sq += np.square(e, out=e).sum(axis=0)
    n = max(len(actual), 1)
    return sq / n, ab / n


def mean_squared_error(forecast: np.ndarray, actual: np.ndarray) -> float:
    """The mean of ``(forecast - actual) ** 2`` in float64, a chunk of windows at a time."""
    return float(_window_means(forecast, actual)[0].mean())


def baseline_forecasts(
    x: np.ndarray,
    horizon: int,
    targets: int,
    season: int | None,
    history: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray | str]:
    """Repeat-last and seasonal-naive forecasts (or why seasonal naive was skipped).

    Args:
        history: (series, window starts) the windows ``x`` were cut from; lets seasonal naive
            reach back further than the lookback (a yearly season with two months of lookback).
    """
    out: dict[str, np.ndarray | str] = {"repeat_last": repeat_last(x, horizon, targets)}
    lookback = x.shape[1]
    if not season:
        out["seasonal_naive"] = (
            "no season: none was found in the training rows; set data.season to compare"
        )
    elif season <= lookback:
        out["seasonal_naive"] = seasonal_naive(x, horizon, targets, season)
    elif history is not None and len(history[1]) and history[1][0] + lookback >= season:
        series, starts = history
        out["seasonal_naive"] = seasonal_naive_from_series(
            series, starts, lookback, horizon, targets, season
        )
    else:
        out["seasonal_naive"] = f"season {season} is longer than the lookback {lookback}"
    return out


def linear_baseline(data: Prepared) -> tuple[list[np.ndarray], list[float]]:
    """The linear baseline of this run, fitted once on its train/validation windows.

    The test evaluation reports it and the export carries it (``serving_default`` returns its
    forecast too), so ``rnn-recipes evaluate`` compares against the very same model.
    """
    if data.linear is None:
        data.linear = fit_linear(data.window_chunks("train"), data.window_chunks("validation"))
    return data.linear


def apply_shared_linear(
    x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, targets: int, norm: str
) -> np.ndarray:
    """One lookback -> horizon map shared by the targets, applied per window and channel in the
    model's normalized space (``norm``: "revin", "last" or "none"), then de-normalized."""
    from .model import window_shift_scale  # model imports this module

    out = np.empty((len(x), kernel.shape[1], targets), np.float32)  # like the model's forecasts
    for j in range(targets):
        xj = x[:, :, j].astype(np.float64)
        shift, scale = window_shift_scale(xj, norm)
        out[:, :, j] = ((xj - shift) / scale @ kernel + bias) * scale + shift
    return out


NORMALIZATION_NAMES = {"revin": "RevIN", "last": "last value subtracted", "none": "scaled"}


def linear_part(config: Config, data: Prepared, test: tuple[np.ndarray, np.ndarray]):
    """The least-squares linear map alone, on the validation and test windows: the blend's
    fixed part (in the space chosen for it), or without the blend the map in the model's
    normalized space (the linear skip's start). What the RNN must beat to earn its place."""
    from .model import fit_skip, normalization  # model imports this module

    k, norm = len(data.targets), data.blend_space or normalization(config)
    kernel, bias = fit_skip(data, norm)
    xv, yv = data.windows("validation")
    x, y = test
    val = mean_squared_error(apply_shared_linear(xv, kernel, bias, k, norm), yv)
    sq, ab = _window_means(apply_shared_linear(x, kernel, bias, k, norm), y)
    return {
        "mse": _r(sq.mean()),
        "mae": _r(ab.mean()),
        "validation_mse": _r(val),
        "normalization": norm,
    }


def evaluate(config: Config, data: Prepared, model) -> dict[str, Any]:
    """Test metrics of the model and of the baselines, on identical windows."""
    k, m = len(data.targets), config.model
    x, y = data.windows("test")
    forecast = np.asarray(model.predict(data.test, verbose=0))
    data.test_forecast = forecast
    mean, std = data.scaler.mean[:k], data.scaler.std[:k]

    weights, ridges = linear_baseline(data)
    history = (data.scaled, data.sample_starts("test"))
    forecasts = baseline_forecasts(x, m.horizon, k, data.season, history)
    forecasts["linear"] = apply_linear(x, weights)
    baselines: dict[str, Any] = {}
    for name, pred in forecasts.items():
        if isinstance(pred, str):
            baselines[name] = {"skipped": pred}
            continue
        baselines[name] = error_block(pred, y, mean, std, data.targets)
    if "mse" in baselines["seasonal_naive"]:
        baselines["seasonal_naive"]["season"] = data.season
    baselines["linear"]["ridge"] = [_r(v) for v in ridges]

    test = error_block(forecast, y, mean, std, data.targets)
    test["windows"] = len(x)
    test["lookback"], test["horizon"] = m.lookback, m.horizon
    test["targets"] = data.targets
    test["baselines"] = baselines
    test["beats"] = {name: test["mse"] < b["mse"] for name, b in baselines.items() if "mse" in b}
    part = linear_part(config, data, (x, y))
    part["gain"] = _r(1 - test["mse"] / part["mse"])  # > 0: the model beats its linear map
    test["linear_map"] = part
    if m.linear_blend:
        from .model import weighted_forecast  # model imports this module

        weight = float(model.get_layer("segrnn").rnn_weight.numpy())
        alone = forecast if weight == 1.0 else weighted_forecast(model, data.test, 1.0)
        rnn = error_block(alone, y, mean, std, data.targets)
        test["rnn_alone"] = {"mse": rnn["mse"], "mae": rnn["mae"], "rnn_weight": _r(weight)}
    test["summary"] = summary(test)
    return test


def summary(test: dict[str, Any]) -> str:
    """One line: the model's scaled MSE/MAE next to the baselines'."""
    parts = []
    for name, b in test["baselines"].items():
        if "mse" in b:
            parts.append(f"{name.replace('_', '-')} {b['mse']:.4f}")
    beaten = [n.replace("_", "-") for n, won in test["beats"].items() if won]
    verdict = f"beats {', '.join(beaten)}" if beaten else "beats no baseline"
    part, rnn = test.get("linear_map"), test.get("rnn_alone")
    linear = ""
    if part:
        norm = NORMALIZATION_NAMES.get(part.get("normalization", "revin"), "")
        linear = f"; least-squares map ({norm}) {part['mse']:.4f}"
    if rnn and rnn["rnn_weight"] < 1:
        linear += f"; RNN alone {rnn['mse']:.4f} (blend weight {rnn['rnn_weight']:.2f})"
    line = (
        f"MSE {test['mse']:.4f}, MAE {test['mae']:.4f} (scaled) on {test['windows']} windows; "
        f"baseline MSE: {', '.join(parts)}; {verdict}{linear}"
    )
    lost = [n.replace("_", "-") for n, won in test["beats"].items() if not won]
    if lost:
        line += (
            f". The model does NOT beat {', '.join(lost)}: prefer that baseline, or try a longer "
            "model.lookback or more training rows (docs/forecast.md)"
        )
    return line
