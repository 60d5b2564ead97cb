"""The forecast model: scaled windows -> SegRNN -> scaled forecasts; scaling for export.

Built from explicit sizes (:class:`.data.Spec`). :func:`fit_skip` is the least-squares
lookback -> horizon map in a per-window space ("the linear part"): :func:`after_training` puts
it into the blend of ``model.linear_blend`` in the space, and with the RNN weight, that do best on
the validation windows; with ``model.linear_skip`` and ``model.linear_init``, :func:`initialize`
starts the skip at it.
"""

from __future__ import annotations

import numpy as np

from ..._lazy import keras
from ...data import series as series_data
from ..schedules import schedule_callbacks
from .baselines import NormalEquations, best_ridge, mean_squared_error
from .config import Config
from .data import Prepared, Spec


def build_model(config: Config, spec: Spec):
    """Scaled windows [b, lookback, inputs] -> scaled forecasts [b, horizon, targets]."""
    from .layers import SegRNN

    m = config.model
    channels, targets = len(spec.inputs), len(spec.targets)
    inputs = keras.Input(shape=(m.lookback, channels), name="window")
    segrnn = SegRNN(
        lookback=m.lookback,
        horizon=m.horizon,
        channels=channels,
        targets=targets,
        cell=m.cell,
        units=m.units,
        layers=m.layers,
        segment_length=m.segment_length,
        dropout=m.dropout,
        revin=normalization(config) == "revin",
        subtract_last=normalization(config) == "last",
        blend=m.linear_blend,
        linear_skip=m.linear_skip,
        mix_channels=m.mix_channels == "on" or (m.mix_channels == "auto" and channels > targets),
        name="segrnn",
    )
    return keras.Model(inputs, segrnn(inputs), name=f"segrnn_{m.cell}")


def normalization(config: Config) -> str:
    """The per-window normalization of the model: "revin", "last" or "none"."""
    m = config.model
    if m.revin is not None:  # the legacy key of run folders written before normalization
        return "revin" if m.revin else "none"
    return m.normalization


def initialize(model, config: Config, data: Prepared) -> None:
    """The RNN trains alone (the blend's weight at 1); with ``linear_skip`` and ``linear_init``
    the skip starts at the least-squares map and the RNN branch's output at zero."""
    m = config.model
    segrnn = model.get_layer("segrnn")
    if m.linear_blend:
        segrnn.rnn_weight.assign(1.0)  # the RNN trains alone; after_training sets the map
    if m.linear_skip and m.linear_init:
        weights, bias = fit_skip(data, normalization(config))
        segrnn.skip.set_weights([weights.astype(np.float32), bias.astype(np.float32)])
        segrnn.project.set_weights([np.zeros_like(w) for w in segrnn.project.get_weights()])


def window_shift_scale(x: np.ndarray, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-window shift and scale [n, 1] of series x [n, lookback] under a normalization."""
    if norm == "revin":
        return x.mean(axis=1, keepdims=True), np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    if norm == "last":
        return x[:, -1:], np.ones((len(x), 1))
    return np.zeros((len(x), 1)), np.ones((len(x), 1))


def fit_skip(data: Prepared, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares lookback -> horizon map shared by the target channels, in the model's
    normalized space (``norm``: "revin", "last" or "none", see :func:`normalization`).

    The ridge strength is picked on the validation windows; the fit is kept on ``data`` per
    normalization. Returns (kernel [L, H], bias [H]).
    """
    if norm not in data.skip_fit:
        data.skip_fit[norm] = _fit_skip(data, norm)
    return data.skip_fit[norm]


def _fit_skip(data: Prepared, norm: str) -> tuple[np.ndarray, np.ndarray]:
    k = len(data.targets)

    def normal_equations(name: str) -> NormalEquations:
        """One map for every target channel: each channel's windows are rows of one problem."""
        eq = NormalEquations()
        for x, y in data.window_chunks(name, channels=k):
            for j in range(k):
                xj, yj = x[:, :, j].astype(np.float64), y[:, :, j].astype(np.float64)
                shift, scale = window_shift_scale(xj, norm)
                eq.add((xj - shift) / scale, (yj - shift) / scale)
        return eq

    train, val = normal_equations("train"), normal_equations("validation")
    _, w = best_ridge(train.gram, train.cross, val.error)
    return w[:-1], w[-1]


def blend_weight(rnn: np.ndarray, linear: np.ndarray, actual: np.ndarray) -> float:
    """The w in [0, 1] minimising the MSE of ``w * rnn + (1 - w) * linear`` (closed form)."""
    dd = dr = 0.0
    step = series_data.chunk_size(int(np.prod(actual.shape[1:])))
    for i in range(0, len(actual), step):  # no float64 copy of them all
        part = slice(i, i + step)
        d = rnn[part].astype(np.float64) - linear[part]
        dd += float(np.sum(d * d))
        dr += float(np.sum(d * (actual[part] - linear[part])))
    return float(np.clip(dr / dd, 0.0, 1.0)) if dd > 0 else 1.0


def weighted_forecast(model, inputs, weight: float) -> np.ndarray:
    """Scaled forecasts of ``inputs`` (windows, or a pipeline of them) with the blend's RNN weight
    set to ``weight`` (1: the RNN alone, 0: the linear map alone); the model's weight is put
    back."""
    segrnn = model.get_layer("segrnn")
    kept = float(segrnn.rnn_weight.numpy())
    segrnn.rnn_weight.assign(weight)
    try:
        batch = {"batch_size": 256} if isinstance(inputs, np.ndarray) else {}
        return np.asarray(model.predict(inputs, verbose=0, **batch))
    finally:
        segrnn.rnn_weight.assign(kept)


# The blend map's per-window space as the layer's three 0/1 weights: [subtract the last value,
# subtract the mean, divide by the spread].
MAP_SPACES = {"last": (1.0, 0.0, 0.0), "revin": (0.0, 1.0, 1.0), "none": (0.0, 0.0, 0.0)}


def set_map(model, kernel: np.ndarray, bias: np.ndarray, space: str) -> None:
    """Put a least-squares map (fitted in ``space``) into the blend of the model's layer."""
    segrnn = model.get_layer("segrnn")
    segrnn.blend_map.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    segrnn.map_space.assign(np.array(MAP_SPACES[space], dtype=np.float32))


def after_training(config: Config, data: Prepared, model, log) -> dict | None:
    """Settle the blend: the linear map's space and the RNN's weight, on the validation windows.

    For each candidate space (``model.map_normalization``; "auto": last value, RevIN and none)
    the least-squares map is fitted on the training windows and the weight of the RNN's forecast
    against it is fitted in closed form (or ``model.rnn_weight``); the pair with the lowest
    validation MSE of the blend is kept.
    """
    from .baselines import apply_shared_linear  # baselines imports this module

    m = config.model
    if not m.linear_blend:
        return None
    # The validation windows (a bounded, evenly spaced sample of them when streaming).
    x, actual = data.windows("validation")
    k = len(data.targets)
    rnn = weighted_forecast(model, x, 1.0)

    def mse(pred):
        return float(f"{mean_squared_error(pred, actual):.6g}")

    spaces = list(MAP_SPACES) if m.map_normalization == "auto" else [m.map_normalization]
    candidates = {}
    for space in spaces:
        kernel, bias = fit_skip(data, space)
        linear = apply_shared_linear(x, kernel, bias, k, space)
        weight = blend_weight(rnn, linear, actual) if m.rnn_weight is None else m.rnn_weight
        blended = weight * rnn + (1 - weight) * linear
        candidates[space] = {"rnn_weight": weight, "map": mse(linear), "blend": mse(blended)}
    space = min(candidates, key=lambda s: candidates[s]["blend"])
    best = candidates[space]
    kernel, bias = fit_skip(data, space)
    set_map(model, kernel, bias, space)
    model.get_layer("segrnn").rnn_weight.assign(best["rnn_weight"])
    data.blend_space = space
    info = {
        "rnn_weight": float(f"{best['rnn_weight']:.4g}"),
        "chosen": "validation" if m.rnn_weight is None else "model.rnn_weight",
        "map_normalization": space,
        "validation_mse": {"rnn": mse(rnn), "linear_map": best["map"], "blend": best["blend"]},
        "candidates": {
            s: {**c, "rnn_weight": float(f"{c['rnn_weight']:.4g}")} for s, c in candidates.items()
        },
    }
    how = "fitted on validation" if m.rnn_weight is None else "set"
    why = f", the best of {len(spaces)} on validation" if len(spaces) > 1 else ""
    log(
        f"Blend: RNN weight {best['rnn_weight']:.3g} ({how}), linear map in space "
        f"'{space}'{why}; validation MSE RNN {mse(rnn):.4f}, linear map {best['map']:.4f}, "
        f"blend {best['blend']:.4f}"
    )
    return {"blend": info}


def compile_model(model, config: Config) -> None:
    """Adam on ``train.loss``; MSE as a metric (early stopping watches ``val_mse``), and MAE
    when the loss is not already the MAE (the default: ``loss`` is the MAE, computed once)."""
    t = config.train
    model.compile(
        optimizer=keras.optimizers.Adam(t.learning_rate, clipnorm=t.clipnorm or None),
        loss=t.loss,
        metrics=["mse"] if t.loss == "mae" else ["mse", "mae"],
    )


def callbacks(config: Config) -> list:
    """The learning-rate schedule (``train.lr_schedule``, SegRNN's "type3" by default)."""
    return schedule_callbacks(config.train)


def end_to_end_model(config: Config, data: Prepared, model):
    """Raw windows in, forecasts in original units out: scaling travels inside the model."""
    m, s = config.model, data.spec
    k = len(s.targets)
    raw = keras.Input(shape=(m.lookback, len(s.inputs)), name="window")
    scale = keras.layers.Normalization(
        axis=-1, mean=s.mean.tolist(), variance=(s.std**2).tolist(), name="scale"
    )
    unscale = keras.layers.Normalization(
        axis=-1,
        mean=s.mean[:k].tolist(),
        variance=(s.std[:k] ** 2).tolist(),
        invert=True,
        name="unscale",
    )
    return keras.Model(raw, unscale(model(scale(raw))), name="forecast")
