"""The forecast model: scaled windows -> SegRNN -> scaled forecasts; scaling for export.

Built from explicit sizes (:class:`.data.Spec`); with ``model.linear_skip`` and
``model.linear_init`` on, :func:`initialize` starts the linear skip at its least-squares fit on the
training windows (and the RNN branch at zero). :func:`fit_skip` is also the "linear (RevIN)"
baseline of metrics.json.
"""

from __future__ import annotations

import numpy as np

from ..._lazy import keras
from ...data import series as series_data
from .baselines import best_ridge
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
        revin=m.revin,
        linear_skip=m.linear_skip,
        mix_channels=m.mix_channels == "on" or (m.mix_channels == "auto" and channels > targets),
        name="segrnn",
    )
    return keras.Model(inputs, segrnn(inputs), name=f"segrnn_{m.cell}")


def initialize(model, config: Config, data: Prepared) -> None:
    """Start the linear skip at its least-squares fit and the RNN branch's output at zero, so
    training begins where the linear baseline ends instead of rediscovering it."""
    m = config.model
    if not (m.linear_skip and m.linear_init):
        return
    segrnn = model.get_layer("segrnn")
    weights, bias = fit_skip(data, m.revin)
    segrnn.skip.set_weights([weights.astype(np.float32), bias.astype(np.float32)])
    segrnn.project.set_weights([np.zeros_like(w) for w in segrnn.project.get_weights()])


def fit_skip(data: Prepared, revin: bool) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares lookback -> horizon map shared by the target channels, in the space the
    skip sees (each window normalized by its own mean and spread when RevIN is on).

    The ridge strength is picked on the validation windows. Returns (kernel [L, H], bias [H]).
    """
    p, k = data.plan, len(data.targets)

    def normal_equations(name: str):
        gram, cross, pairs = 0.0, 0.0, []
        for j in range(k):
            x, y = series_data.window_arrays(
                data.scaled[:, j : j + 1].astype(np.float64),
                data.sample_starts(name),
                p.lookback,
                p.horizon,
                1,
            )
            x, y = x[:, :, 0], y[:, :, 0]
            if revin:
                mean = x.mean(axis=1, keepdims=True)
                std = np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
                x, y = (x - mean) / std, (y - mean) / std
            a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
            gram, cross = gram + a.T @ a, cross + a.T @ y
            pairs.append((a, y))
        return gram, cross, pairs

    gram, cross, _ = normal_equations("train")
    _, _, val = normal_equations("validation")
    _, w = best_ridge(gram, cross, lambda w: sum(float(np.sum((a @ w - y) ** 2)) for a, y in val))
    return w[:-1], w[-1]


def compile_model(model, config: Config) -> None:
    """Adam on ``train.loss``; MSE and MAE as metrics (early stopping watches ``val_mse``)."""
    t = config.train
    model.compile(
        optimizer=keras.optimizers.Adam(t.learning_rate, clipnorm=t.clipnorm or None),
        loss=t.loss,
        metrics=["mse", "mae"],
    )


def type3_rate(base: float, epoch: int) -> float:
    """SegRNN's "type3" schedule: ``base`` for epochs 0-3, then x0.8 per epoch (0-based)."""
    return base * 0.8 ** max(0, epoch - 3)


def callbacks(config: Config) -> list:
    """The learning-rate schedule. Keras passes the absolute epoch index, so a resumed run
    continues the decay where its checkpoint left it."""
    t = config.train
    if t.lr_schedule == "constant":
        return []
    base = t.learning_rate
    return [keras.callbacks.LearningRateScheduler(lambda epoch, lr: type3_rate(base, epoch))]


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
