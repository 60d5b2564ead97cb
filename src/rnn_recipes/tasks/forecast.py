"""Forecast: the next ``horizon`` steps of one or more series from the last ``lookback`` steps.

A CSV of time series (one timestamp column, numeric value columns) is split chronologically into
train / validation / test, z-scored with training statistics, and cut into windows. The model is a
segment-recurrent network in the style of SegRNN (Lin et al. 2023), the RNN design that holds up at
long horizons:

* RevIN: each window is normalized by its own mean and spread per channel, and the forecast is
  de-normalized with the same figures, so level shifts between train and test do not hurt;
* channel independence: every channel goes through the same (shared) RNN on its own;
* segment-wise recurrence: the lookback is cut into patches of ``segment_length`` steps, each
  embedded by a dense layer, so the RNN runs ``lookback / segment_length`` steps, not ``lookback``;
* parallel multi-step decoding: one RNN step per output segment, all at once, started from the
  encoder's final state and told which segment (and channel) to produce by learnt embeddings;
* a residual linear map from the lookback to the horizon (the strong linear baseline, built in).

Every run reports the test MSE/MAE next to three baselines computed on the same windows
(repeat-last value, seasonal naive, a per-channel linear model), so you can see whether the RNN
earns its keep. The SavedModel takes raw windows in the data's units and returns forecasts in the
same units.

Data it accepts (``data.*`` keys): ``data.path`` a CSV with ``data.time_column`` and numeric
columns; ``data.target_columns`` (default: all numeric) and ``data.input_columns`` (default: the
targets; extra ones are covariates the model reads but does not forecast).

Run it::

    rnn-recipes run forecast                                        # bundled demo series
    rnn-recipes run forecast --data ETTh1.csv --set 'data.split=[8640,2880,2880]'

To adapt it: ``rnn-recipes show forecast > my.toml``, set ``data.path``, ``data.time_column``,
``data.target_columns``, ``model.lookback`` and ``model.horizon``; see docs/forecast.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._lazy import keras, tf
from ..config import (
    PKG_PREFIX,
    TrainConfig,
    require_at_least,
    require_fraction,
    resolve_pkg_path,
    validate_train,
)
from ..data import series as series_data
from ..errors import ConfigError, RecipeError

PATH_KEYS = ("data.path",)
# Pointing a recipe at other data (data.path) also drops the recipe's column choices, season and
# split: they describe the recipe's own file, not yours.
SOURCE_GROUPS = {
    "data": (("path",), ("time_column", "target_columns", "input_columns", "season", "split"))
}


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass
class DataConfig:
    path: str | None = None  # the CSV file: a timestamp column and numeric value columns
    time_column: str = "date"  # the timestamp column (ISO 8601); "date" is the ETT/Informer name
    target_columns: list[str] | None = None  # what to forecast; default: every numeric column
    input_columns: list[str] | None = None  # what the model reads; default: the targets
    # [train, validation, test] as row counts or fractions; chronological, 70/10/20 by default
    # like the long-horizon literature's custom data sets.
    split: list[int] | list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    fill: Literal["none", "ffill", "interpolate"] = "none"  # missing values are errors unless set
    season: int = 0  # seasonal-naive period in steps; 0 infers it (24 hourly, 7 daily)
    encoding: str = "utf-8"  # file encoding
    delimiter: str = ","  # field separator (";" for many European exports)


@dataclass
class ModelConfig:
    lookback: int = 336  # steps the model reads: two weeks of hourly data, the literature's norm
    horizon: int = 96  # steps forecast at once: four days of hourly data
    cell: Literal["gru", "lstm"] = "gru"  # SegRNN's choice: as good as LSTM here, fewer weights
    units: int = 256  # RNN state size; segments are few, so a wide state is affordable
    layers: int = 1  # stacked RNN layers; one is what SegRNN found best
    segment_length: int = 48  # steps per patch: the RNN runs lookback/48 = 7 steps, not 336
    dropout: float = 0.5  # before the output projection; long-horizon models overfit easily
    revin: bool = True  # per-window normalization: robust to level shifts between splits
    linear_skip: bool = True  # residual linear lookback->horizon map: the RNN learns the rest
    # Start the linear skip at its least-squares fit (and the RNN branch at zero), so training
    # begins where the linear baseline ends instead of rediscovering it.
    linear_init: bool = True
    # Cross-channel term on the encoder states (zero at start). "auto": on only when there are
    # covariates, which a purely channel-independent model could not use; off for M and S,
    # where channel independence generalises best.
    mix_channels: Literal["auto", "on", "off"] = "auto"


@dataclass
class ForecastTrainConfig(TrainConfig):
    """Training settings; the shared ones with defaults suited to forecasting windows."""

    epochs: int = 20  # an upper bound; early stopping usually ends the run sooner
    batch_size: int = 128  # windows overlap heavily, so big batches lose little and run faster
    patience: int = 3  # validation loss of long-horizon models plateaus early
    loss: Literal["mse", "mae"] = "mse"  # MSE is what the literature reports; MAE resists spikes


@dataclass
class Config:
    task: str = "forecast"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: ForecastTrainConfig = field(default_factory=ForecastTrainConfig)


def validate(config: Config) -> None:
    """Checks that need more than one key (types are checked by the config layer)."""
    d, m, t = config.data, config.model, config.train
    if not d.path:
        raise ConfigError("no data: set data.path (or pass --data PATH)")
    require_at_least("model", m, ("lookback", "horizon", "layers", "segment_length"))
    require_at_least("model", m, ("units",), 2)
    require_fraction("model", m, ("dropout",))
    if len(d.split) != 3:
        raise ConfigError(
            f"data.split takes three numbers [train, validation, test], got {d.split}"
        )
    if d.season < 0:
        raise ConfigError(f"data.season must be 0 (infer) or a period in steps, got {d.season}")
    if not d.time_column:
        raise ConfigError("data.time_column must name the timestamp column")
    for key in ("target_columns", "input_columns"):
        names = getattr(d, key)
        if names is not None and len(set(names)) != len(names):
            raise ConfigError(f"data.{key} lists a column twice: {names}")
    if t.monitor != "loss":
        raise ConfigError(
            f'train.monitor must be "loss" for forecasting (got "{t.monitor}"): early '
            "stopping watches the validation loss"
        )
    validate_train(t)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Prepared:
    """Everything the runner and the report need from the data."""

    train: Any  # tf.data.Dataset of (x [b, lookback, inputs], y [b, horizon, targets]), scaled
    validation: Any
    test: Any
    source: str
    inputs: list[str]  # input channels; the first len(targets) of them are the targets
    targets: list[str]
    times: list  # datetime of every row
    values: np.ndarray  # [rows, inputs] in original units (after the fill policy)
    scaled: np.ndarray  # [rows, inputs] z-scored with the training statistics
    scaler: series_data.Scaler
    plan: series_data.SplitPlan
    step: float | str
    gaps: int
    season: int | None
    counts: dict[str, dict[str, int]]
    test_forecast: np.ndarray | None = None  # scaled model forecasts on the test windows

    @property
    def train_examples(self) -> int:
        return self.plan.windows("train")

    def windows(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Scaled NumPy windows of one split, in start order (the order of the tf.data one)."""
        p = self.plan
        return series_data.window_arrays(
            self.scaled, p.starts(name), p.lookback, p.horizon, len(self.targets)
        )


def _path(config: Config) -> str:
    path = config.data.path
    return str(resolve_pkg_path(path)) if path.startswith(PKG_PREFIX) else path


def load_table(config: Config, path: str, what: str = "data file"):
    """Read a CSV with the run's data settings -> (Series, inputs, targets, values [rows, C])."""
    d = config.data
    table = series_data.read_series(
        path, d.time_column, encoding=d.encoding, delimiter=d.delimiter, what=what
    )
    inputs, targets = series_data.select_columns(table, d.target_columns, d.input_columns)
    values = np.stack([table.values[c] for c in inputs], axis=1)
    values = series_data.fill_missing(values, inputs, d.fill, table.source)
    return table, inputs, targets, values


def make_datasets(config: Config, log=print) -> Prepared:
    """Read and check the series, split it, fit the scaler on train, build the window pipelines."""
    d, m, t = config.data, config.model, config.train
    table, inputs, targets, values = load_table(config, _path(config))
    counts = series_data.split_counts(d.split, table.rows)
    plan = series_data.plan_splits(counts, m.lookback, m.horizon)
    season = d.season or series_data.infer_season(table.step)

    gaps = f", {table.gaps} irregular gap(s) taken as one step" if table.gaps else ""
    log(f"Loaded {table.source}")
    log(
        f"  {table.rows} rows from {series_data.format_time(table.times[0], table.step)} to "
        f"{series_data.format_time(table.times[-1], table.step)}, every {series_data.step_name(table.step)}"
        f"{gaps}"
    )
    covariates = inputs[len(targets) :]
    log(
        f"  targets: {', '.join(targets)}"
        + (f"; covariates: {', '.join(covariates)}" if covariates else "")
    )
    unused = [c for c in table.columns if c not in inputs]
    if unused:
        log(f"  not used: {', '.join(unused)}")

    scaler = series_data.Scaler.fit(values[: plan.rows["train"][1]])
    if scaler.constant:
        names = ", ".join(inputs[j] for j in scaler.constant)
        log(f"  constant in the training rows (scaled with spread 1): {names}")
    scaled = scaler.transform(values).astype(np.float32)

    split_counts = {}
    for name in series_data.SPLITS:
        first, end = plan.rows[name]
        split_counts[name] = {"rows": end - first, "windows": plan.windows(name)}
        log(
            f"  {name:<10} {end - first:>6} rows {first}-{end - 1}, "
            f"{plan.windows(name):>6} windows of {m.lookback} + {m.horizon}"
        )

    def pipeline(name: str):
        return series_data.window_dataset(
            scaled,
            plan.starts(name),
            m.lookback,
            m.horizon,
            len(targets),
            t.batch_size if name == "train" else max(t.batch_size, 256),
            shuffle=name == "train",
            seed=t.seed,
        )

    return Prepared(
        train=pipeline("train"),
        validation=pipeline("validation"),
        test=pipeline("test"),
        source=table.source,
        inputs=inputs,
        targets=targets,
        times=table.times,
        values=values,
        scaled=scaled,
        scaler=scaler,
        plan=plan,
        step=table.step,
        gaps=table.gaps,
        season=season,
        counts=split_counts,
    )


def run_info(config: Config, data: Prepared) -> dict[str, Any]:
    """The ``data`` section of metrics.json: what was read and how it was scaled."""
    return {
        "data": {
            "source": data.source,
            "rows": len(data.times),
            "start": series_data.format_time(data.times[0], data.step),
            "end": series_data.format_time(data.times[-1], data.step),
            "frequency": series_data.step_name(data.step),
            "irregular_gaps": data.gaps,
            "season": data.season,
            "input_columns": data.inputs,
            "target_columns": data.targets,
            "split_rows": {k: list(v) for k, v in data.plan.rows.items()},
            "scaler": {
                c: {"mean": float(data.scaler.mean[j]), "std": float(data.scaler.std[j])}
                for j, c in enumerate(data.inputs)
            },
        }
    }


# ---------------------------------------------------------------------------------------------
# Model


@functools.cache
def _layers():
    """Define (once) and register the custom layer; keeps TensorFlow out of module import."""
    ops = keras.ops

    @keras.saving.register_keras_serializable(package="rnn_recipes")
    class SegRNN(keras.layers.Layer):
        """RevIN + channel-independent segment RNN + parallel decoding + linear skip.

        Input ``[batch, lookback, channels]`` (z-scored), output ``[batch, horizon, targets]``
        where the targets are the first ``targets`` channels.
        """

        def __init__(
            self,
            lookback: int,
            horizon: int,
            channels: int,
            targets: int,
            cell: str = "gru",
            units: int = 256,
            layers: int = 1,
            segment_length: int = 48,
            dropout: float = 0.5,
            revin: bool = True,
            linear_skip: bool = True,
            mix_channels: bool = False,
            **kwargs,
        ):
            super().__init__(**kwargs)
            self.lookback, self.horizon = lookback, horizon
            self.channels, self.targets = channels, targets
            self.cell, self.units, self.n_layers = cell, units, layers
            self.segment_length, self.dropout_rate = segment_length, dropout
            self.revin, self.linear_skip = revin, linear_skip
            self.mix_channels = mix_channels
            w = segment_length
            self.n_in = -(-lookback // w)  # input segments (the oldest is zero-padded if short)
            self.n_out = -(-horizon // w)  # output segments (the last is cut to the horizon)
            self.embed = keras.layers.Dense(units, activation="relu", name="segment_embedding")
            rnn = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
            # Default activations and no recurrent dropout: cuDNN-eligible on a GPU.
            self.rnns = [
                rnn(units, return_sequences=True, return_state=True, name=f"{cell}_{i + 1}")
                for i in range(layers)
            ]
            self.drop = keras.layers.Dropout(dropout)
            self.project = keras.layers.Dense(w, name="segment_projection")
            self.skip = keras.layers.Dense(horizon, name="linear_skip") if linear_skip else None
            # Zero-initialised: training starts channel-independent and learns what to share.
            self.mix = (
                keras.layers.Dense(
                    channels, use_bias=False, kernel_initializer="zeros", name="channel_mix"
                )
                if mix_channels
                else None
            )

        def build(self, input_shape):
            half = self.units // 2
            self.position = self.add_weight(
                shape=(self.n_out, self.units - half), initializer="random_normal", name="position"
            )
            self.channel = self.add_weight(
                shape=(self.channels, half), initializer="random_normal", name="channel"
            )
            if self.revin:
                self.gamma = self.add_weight(
                    shape=(self.channels,), initializer="ones", name="gamma"
                )
                self.beta = self.add_weight(
                    shape=(self.channels,), initializer="zeros", name="beta"
                )
            w, n = self.segment_length, self.n_in
            self.embed.build((None, n, w))
            for rnn in self.rnns:
                rnn.build((None, n, self.units))
            self.project.build((None, 1, self.units))
            if self.skip is not None:
                self.skip.build((None, self.lookback))
            if self.mix is not None:
                self.mix.build((None, self.units, self.channels))

        def call(self, x, training=False):
            c, lb, h, w = self.channels, self.lookback, self.horizon, self.segment_length
            if self.revin:
                mean = ops.mean(x, axis=1, keepdims=True)
                std = ops.sqrt(ops.var(x, axis=1, keepdims=True) + 1e-5)
                x = (x - mean) / std * self.gamma + self.beta
            series = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, lb))  # [b*c, lookback]
            pad = self.n_in * w - lb
            padded = ops.pad(series, ((0, 0), (pad, 0))) if pad else series
            z = self.embed(ops.reshape(padded, (-1, self.n_in, w)))  # [b*c, segments, units]
            states = []
            for rnn in self.rnns:
                z, *state = rnn(z, training=training)
                states.append(state)
            if self.mix is not None:
                # h_c + sum_k M[c, k] h_k: each channel's state hears the others (covariates).
                def mixed(s):
                    s = ops.transpose(ops.reshape(s, (-1, c, self.units)), (0, 2, 1))
                    s = s + self.mix(s)
                    return ops.reshape(ops.transpose(s, (0, 2, 1)), (-1, self.units))

                states = [[mixed(s) for s in state] for state in states]
            # Decoder: one step per output segment, all segments in parallel.
            m = self.n_out
            query = ops.concatenate(
                [
                    ops.broadcast_to(self.position[None], (c, m, self.units - self.units // 2)),
                    ops.broadcast_to(self.channel[:, None], (c, m, self.units // 2)),
                ],
                axis=-1,
            )  # [c, m, units]
            batch = ops.shape(x)[0]
            query = ops.reshape(
                ops.broadcast_to(query[None], (batch, c, m, self.units)), (-1, 1, self.units)
            )
            out = query
            for rnn, state in zip(self.rnns, states):
                init = [
                    ops.reshape(ops.repeat(s[:, None], m, axis=1), (-1, self.units)) for s in state
                ]
                out, *_ = rnn(out, initial_state=init, training=training)
            y = self.project(self.drop(out, training=training))  # [b*c*m, 1, w]
            y = ops.reshape(y, (-1, m * w))[:, :h]  # [b*c, horizon]
            if self.skip is not None:
                y = y + self.skip(series)
            y = ops.transpose(ops.reshape(y, (-1, c, h)), (0, 2, 1))[:, :, : self.targets]
            if self.revin:
                t = self.targets
                y = (y - self.beta[:t]) / (self.gamma[:t] + 1e-10)
                y = y * std[:, :, :t] + mean[:, :, :t]
            return y

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.horizon, self.targets)

        def get_config(self):
            return {
                **super().get_config(),
                "lookback": self.lookback,
                "horizon": self.horizon,
                "channels": self.channels,
                "targets": self.targets,
                "cell": self.cell,
                "units": self.units,
                "layers": self.n_layers,
                "segment_length": self.segment_length,
                "dropout": self.dropout_rate,
                "revin": self.revin,
                "linear_skip": self.linear_skip,
                "mix_channels": self.mix_channels,
            }

    return SegRNN


def register_layers() -> None:
    """Register the custom layer so ``keras.saving.load_model("model.keras")`` can rebuild it."""
    _layers()


def build_model(config: Config, data: Prepared):
    """Scaled windows [b, lookback, inputs] -> scaled forecasts [b, horizon, targets]."""
    m = config.model
    inputs = keras.Input(shape=(m.lookback, len(data.inputs)), name="window")
    outputs = _layers()(
        lookback=m.lookback,
        horizon=m.horizon,
        channels=len(data.inputs),
        targets=len(data.targets),
        cell=m.cell,
        units=m.units,
        layers=m.layers,
        segment_length=m.segment_length,
        dropout=m.dropout,
        revin=m.revin,
        linear_skip=m.linear_skip,
        mix_channels=m.mix_channels == "on"
        or (m.mix_channels == "auto" and len(data.inputs) > len(data.targets)),
        name="segrnn",
    )
    model = keras.Model(inputs, outputs(inputs), name=f"segrnn_{m.cell}")
    if m.linear_skip and m.linear_init:
        weights, bias = fit_skip(data, m.revin)
        outputs.skip.set_weights([weights.astype(np.float32), bias.astype(np.float32)])
        outputs.project.set_weights([np.zeros_like(w) for w in outputs.project.get_weights()])
    return model


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
                p.starts(name),
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
    scale = np.trace(gram) / len(gram)
    best = None
    for c in (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        reg = np.eye(len(gram)) * c * scale
        reg[-1, -1] = 0.0
        w = np.linalg.solve(gram + reg, cross)
        err = sum(float(np.sum((a @ w - y) ** 2)) for a, y in val)
        if best is None or err < best[0]:
            best = (err, w)
    w = best[1]
    return w[:-1], w[-1]


def compile_model(model, config: Config) -> None:
    t = config.train
    other = "mae" if t.loss == "mse" else "mse"
    model.compile(
        optimizer=keras.optimizers.Adam(t.learning_rate, clipnorm=t.clipnorm or None),
        loss=t.loss,
        metrics=[other],
    )


def end_to_end_model(config: Config, data: Prepared, model):
    """Raw windows in, forecasts in original units out: scaling travels inside the model."""
    m, s, k = config.model, data.scaler, len(data.targets)
    raw = keras.Input(shape=(m.lookback, len(data.inputs)), name="window")
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


# ---------------------------------------------------------------------------------------------
# Baselines and metrics


def repeat_last(x: np.ndarray, horizon: int, targets: int) -> np.ndarray:
    """The last observed value of each target, repeated over the horizon."""
    return np.repeat(x[:, -1:, :targets], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, targets: int, season: int) -> np.ndarray:
    """The last full season of each target, repeated: y[h] = x[lookback - season + h % season]."""
    lookback = x.shape[1]
    idx = lookback - season + np.arange(horizon) % season
    return x[:, idx, :targets]


def fit_linear(
    train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray]
) -> tuple[list[np.ndarray], list[float]]:
    """A least-squares linear map lookback -> horizon per target channel (with bias).

    The ridge strength is picked per channel from a small grid on the validation windows.

    Returns:
        (weights [lookback + 1, horizon] per target, the chosen ridge strengths)
    """
    (x_tr, y_tr), (x_va, y_va) = train, validation
    weights, ridges = [], []
    for j in range(y_tr.shape[2]):
        a = np.concatenate([x_tr[:, :, j], np.ones((len(x_tr), 1))], axis=1).astype(np.float64)
        av = np.concatenate([x_va[:, :, j], np.ones((len(x_va), 1))], axis=1)
        gram, cross = a.T @ a, a.T @ y_tr[:, :, j]
        scale = np.trace(gram) / len(gram)
        best = None
        for c in (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0):
            reg = np.eye(len(gram)) * c * scale
            reg[-1, -1] = 0.0  # the bias is not shrunk
            w = np.linalg.solve(gram + reg, cross)
            err = float(np.mean((av @ w - y_va[:, :, j]) ** 2))
            if best is None or err < best[0]:
                best = (err, c, w)
        weights.append(best[2])
        ridges.append(best[1])
    return weights, ridges


def apply_linear(x: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
    out = [
        np.concatenate([x[:, :, j], np.ones((len(x), 1))], axis=1) @ w
        for j, w in enumerate(weights)
    ]
    return np.stack(out, axis=2)


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
    err = forecast.astype(np.float64) - actual
    orig = err * std[None, None, :]
    block: dict[str, Any] = {
        "mse": _r(np.mean(err**2)),
        "mae": _r(np.mean(np.abs(err))),
        "original_mse": _r(np.mean(orig**2)),
        "original_mae": _r(np.mean(np.abs(orig))),
        "per_step": {
            "mse": [_r(v) for v in np.mean(err**2, axis=(0, 2))],
            "mae": [_r(v) for v in np.mean(np.abs(err), axis=(0, 2))],
        },
        "per_column": {},
    }
    for j, name in enumerate(names):
        e, o = err[:, :, j], orig[:, :, j]
        block["per_column"][name] = {
            "mse": _r(np.mean(e**2)),
            "mae": _r(np.mean(np.abs(e))),
            "original_mse": _r(np.mean(o**2)),
            "original_mae": _r(np.mean(np.abs(o))),
            "per_step": {
                "mse": [_r(v) for v in np.mean(e**2, axis=0)],
                "mae": [_r(v) for v in np.mean(np.abs(e), axis=0)],
                "original_mse": [_r(v) for v in np.mean(o**2, axis=0)],
                "original_mae": [_r(v) for v in np.mean(np.abs(o), axis=0)],
            },
        }
    return block


def baseline_forecasts(
    x: np.ndarray, horizon: int, targets: int, season: int | None
) -> dict[str, np.ndarray | str]:
    """Repeat-last and seasonal-naive forecasts (or why seasonal naive was skipped)."""
    out: dict[str, np.ndarray | str] = {"repeat_last": repeat_last(x, horizon, targets)}
    if not season:
        out["seasonal_naive"] = "no season: set data.season (it cannot be inferred for this step)"
    elif season > x.shape[1]:
        out["seasonal_naive"] = f"season {season} is longer than the lookback {x.shape[1]}"
    else:
        out["seasonal_naive"] = seasonal_naive(x, horizon, targets, season)
    return out


def evaluate(config: Config, data: Prepared, model) -> dict[str, Any]:
    """Test metrics of the model and of the baselines, on identical windows."""
    k, m = len(data.targets), config.model
    x, y = data.windows("test")
    forecast = np.asarray(model.predict(data.test, verbose=0))
    data.test_forecast = forecast
    mean, std = data.scaler.mean[:k], data.scaler.std[:k]

    weights, ridges = fit_linear(data.windows("train"), data.windows("validation"))
    forecasts = baseline_forecasts(x, m.horizon, k, data.season)
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
    return test


def summary(test: dict[str, Any]) -> str:
    """One line: the model's scaled MSE/MAE next to the baselines'."""
    parts = []
    for name, b in test["baselines"].items():
        if "mse" in b:
            parts.append(f"{name.replace('_', '-')} {b['mse']:.4f}")
    beaten = [n.replace("_", "-") for n, won in test["beats"].items() if won]
    verdict = f"beats {', '.join(beaten)}" if beaten else "beats no baseline"
    return (
        f"MSE {test['mse']:.4f}, MAE {test['mae']:.4f} (scaled) on {test['windows']} windows; "
        f"baseline MSE: {', '.join(parts)}; {verdict}"
    )


# ---------------------------------------------------------------------------------------------
# Serving


def serving(config: Config, data: Prepared, full_model):
    """``serving_default``: raw windows [batch, lookback, inputs] -> forecasts in original units.

    Also returns the targets' training mean and spread (``target_mean``, ``target_std``,
    [batch, targets]) so a consumer can compute errors on the scaled data, as the report does,
    and the column names (``input_columns``, ``target_columns``) the window and forecast follow.
    """
    k = len(data.targets)
    mean = tf.constant(data.scaler.mean[:k], dtype=tf.float32)
    std = tf.constant(data.scaler.std[:k], dtype=tf.float32)
    input_names, target_names = tf.constant(data.inputs), tf.constant(data.targets)

    def serve(window):
        batch = tf.shape(window)[0]
        return {
            "forecast": full_model(window, training=False),
            "target_mean": tf.tile(mean[None], [batch, 1]),
            "target_std": tf.tile(std[None], [batch, 1]),
            "input_columns": tf.tile(input_names[None], [batch, 1]),
            "target_columns": tf.tile(target_names[None], [batch, 1]),
        }

    spec = tf.TensorSpec([None, config.model.lookback, len(data.inputs)], tf.float32, "window")
    return serve, [spec]


def run_serving(
    serve, windows: np.ndarray, batch: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the exported signature in batches -> (forecasts, target mean, target std)."""
    outs = []
    for start in range(0, len(windows), batch):
        chunk = tf.constant(windows[start : start + batch], dtype=tf.float32)
        outs.append(serve(window=chunk))
    forecast = np.concatenate([o["forecast"].numpy() for o in outs])
    return forecast, outs[0]["target_mean"].numpy()[0], outs[0]["target_std"].numpy()[0]


# ---------------------------------------------------------------------------------------------
# Plots


def plots(config: Config, data: Prepared, metrics: dict[str, Any], folder) -> None:
    from ..report import _pyplot

    plt = _pyplot()
    test = metrics["test"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    steps = np.arange(1, config.model.horizon + 1)
    ax.plot(steps, test["per_step"]["mse"], label="model", linewidth=2)
    for name, b in test["baselines"].items():
        if "per_step" in b:
            ax.plot(steps, b["per_step"]["mse"], label=name.replace("_", " "), alpha=0.8)
    ax.set_xlabel("horizon step")
    ax.set_ylabel("test MSE (scaled)")
    ax.set_title("error by horizon step")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "error_by_horizon.png", dpi=110)
    plt.close(fig)

    if data.test_forecast is None:
        return
    k, lb, h = len(data.targets), config.model.lookback, config.model.horizon
    starts = data.plan.starts("test")
    picks = np.linspace(0, len(starts) - 1, num=min(3, len(starts))).astype(int)
    cols = min(k, 3)
    fig, axes = plt.subplots(len(picks), cols, figsize=(5 * cols, 2.6 * len(picks)), squeeze=False)
    show = min(lb, 2 * h)  # the recent past, not the whole lookback
    for r, p in enumerate(picks):
        s = starts[p]
        for j in range(cols):
            ax = axes[r, j]
            past = np.arange(s + lb - show, s + lb)
            future = np.arange(s + lb, s + lb + h)
            ax.plot(past, data.values[past, j], color="0.4", label="history")
            ax.plot(future, data.values[future, j], color="black", label="actual")
            pred = data.test_forecast[p, :, j] * data.scaler.std[j] + data.scaler.mean[j]
            ax.plot(future, pred, color="tab:red", label="forecast")
            ax.set_title(f"{data.targets[j]}, test window {p + 1}", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "forecast_examples.png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# predict / evaluate on an exported run


def model_columns(serve) -> tuple[list[str], list[str]]:
    """(input columns, target columns) the exported model was trained on, read from the model."""
    spec = serve.structured_input_signature[1]["window"]
    out = serve(window=tf.zeros([1, *spec.shape[1:]], tf.float32))
    names = [
        [c.decode("utf-8") for c in out[key].numpy()[0]]
        for key in ("input_columns", "target_columns")
    ]
    return names[0], names[1]


def _read_for_model(serve, config: Config, path: str):
    """Read a predict/evaluate CSV; it must have the training run's input columns."""
    table = series_data.read_series(
        path,
        config.data.time_column,
        encoding=config.data.encoding,
        delimiter=config.data.delimiter,
        what="input file",
    )
    inputs, targets = model_columns(serve)
    missing = [c for c in inputs if c not in table.columns]
    if missing:
        raise RecipeError(
            f"{path} lacks column(s) {', '.join(missing)} that the model was trained on; columns "
            f"found: {', '.join(table.columns)} (the model reads {', '.join(inputs)})"
        )
    series_data.select_columns(table, targets, inputs)  # numeric checks, one clear line each
    values = np.stack([table.values[c] for c in inputs], axis=1)
    values = series_data.fill_missing(values, inputs, config.data.fill, path)
    return table, inputs, targets, values


def predict(serve, config: Config, inputs: list[str], output=None) -> list[dict[str, Any]]:
    """Forecast the ``horizon`` steps after the end of each CSV; writes a CSV and a PNG per input.

    Files go to ``output`` (a folder; default: the current folder) as ``<name>-forecast.csv`` and
    ``<name>-forecast.png``; existing files of those names are an error, never replaced.
    """
    m = config.model
    prepared = []
    for path in inputs:  # check every input before writing anything
        table, names, targets, values = _read_for_model(serve, config, path)
        if table.rows < m.lookback:
            raise RecipeError(
                f"{path} has {table.rows} rows; the model needs the last {m.lookback} "
                "(model.lookback)"
            )
        if table.step == 0.0:
            raise RecipeError(f"{path} needs at least two rows to tell the time step")
        prepared.append((path, table, targets, values))
    folder = Path(output) if output is not None else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise RecipeError(f"--output {folder} is a file; give a folder for the forecast files")
    for path, *_ in prepared:  # never replace files: they may be the user's, or older forecasts
        for existing in (folder / f"{Path(path).stem}-forecast.{ext}" for ext in ("csv", "png")):
            if existing.exists():
                raise RecipeError(
                    f"{existing} already exists; remove it or give another --output folder"
                )
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for path, table, targets, values in prepared:
        forecast, _, _ = run_serving(serve, values[None, -m.lookback :])
        future = series_data.future_times(table.times[-1], table.step, m.horizon)
        stamps = [series_data.format_time(t, table.step) for t in future]
        stem = Path(path).stem
        csv_path = folder / f"{stem}-forecast.csv"
        png_path = folder / f"{stem}-forecast.png"
        _write_forecast_csv(csv_path, config.data.time_column, stamps, targets, forecast[0])
        _plot_forecast(png_path, table, targets, values, future, forecast[0], m.lookback)
        records.append(
            {
                "input": str(path),
                "forecast_csv": str(csv_path),
                "plot": str(png_path),
                "last_observed": series_data.format_time(table.times[-1], table.step),
                "timestamps": stamps,
                "forecast": {
                    c: [float(v) for v in forecast[0][:, j]] for j, c in enumerate(targets)
                },
            }
        )
    return records


def _write_forecast_csv(path: Path, time_column, stamps, targets, forecast) -> None:
    import csv

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([time_column, *targets])
        for stamp, row in zip(stamps, forecast):
            writer.writerow([stamp, *(f"{v:.6g}" for v in row)])
    tmp.replace(path)


def _plot_forecast(path, table, targets, values, future, forecast, lookback) -> None:
    from ..report import _pyplot

    plt = _pyplot()
    k = len(targets)
    fig, axes = plt.subplots(k, 1, figsize=(9, 2.6 * k), squeeze=False)
    past = table.times[-lookback:]
    for j, name in enumerate(targets):
        ax = axes[j, 0]
        ax.plot(past, values[-lookback:, j], color="0.3", label="history")
        ax.plot(future, forecast[:, j], color="tab:red", label="forecast")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_prediction(record: dict[str, Any]) -> str:
    steps = len(record["timestamps"])
    names = ", ".join(record["forecast"])
    return (
        f"{record['input']}: {steps} steps of {names} from {record['timestamps'][0]} -> "
        f"{record['forecast_csv']} (plot {record['plot']})"
    )


def evaluate_exported(serve, config: Config, path: str) -> dict[str, Any]:
    """Forecast every window of a labelled CSV with the exported model; errors vs baselines.

    Every window start of the file is used (``rows - lookback - horizon + 1`` windows). Scaled
    figures use the training run's statistics, returned by the exported signature.
    """
    m = config.model
    table, inputs, targets, values = _read_for_model(serve, config, path)
    need = m.lookback + m.horizon
    if table.rows < need:
        raise RecipeError(
            f"{path} has {table.rows} rows; evaluating needs at least lookback + horizon = {need}"
        )
    k = len(targets)
    starts = np.arange(table.rows - need + 1)
    x, y = series_data.window_arrays(values, starts, m.lookback, m.horizon, k)
    forecast, mean, std = run_serving(serve, x)
    scale = lambda a: (a - mean) / std  # noqa: E731
    season = config.data.season or series_data.infer_season(table.step)
    block = error_block(scale(forecast), scale(y), mean, std, targets)
    block["windows"] = len(x)
    block["source"] = str(path)
    baselines = {}
    for name, pred in baseline_forecasts(scale(x[:, :, :k]), m.horizon, k, season).items():
        baselines[name] = (
            {"skipped": pred}
            if isinstance(pred, str)
            else error_block(pred, scale(y), mean, std, targets)
        )
    block["baselines"] = baselines
    block["beats"] = {n: block["mse"] < b["mse"] for n, b in baselines.items() if "mse" in b}
    return block


def format_metrics(metrics: dict[str, Any]) -> list[str]:
    lines = [
        f"MSE {metrics['mse']:.4f}, MAE {metrics['mae']:.4f} (scaled); original units MSE "
        f"{metrics['original_mse']:.4g}, MAE {metrics['original_mae']:.4g} on "
        f"{metrics['windows']} windows"
    ]
    for name, b in metrics["baselines"].items():
        if "mse" in b:
            lines.append(f"  {name.replace('_', '-'):<15} MSE {b['mse']:.4f}  MAE {b['mae']:.4f}")
        else:
            lines.append(f"  {name.replace('_', '-'):<15} skipped: {b['skipped']}")
    width = max((len(c) for c in metrics["per_column"]), default=0)
    for name, c in metrics["per_column"].items():
        lines.append(
            f"  {name:<{width}}  MSE {c['mse']:.4f}  MAE {c['mae']:.4f}  (original units: MSE "
            f"{c['original_mse']:.4g}, MAE {c['original_mae']:.4g})"
        )
    return lines
