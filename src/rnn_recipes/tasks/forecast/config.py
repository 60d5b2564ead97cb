"""Forecast configuration: the ``data``, ``model`` and ``train`` sections, and their checks.

No TensorFlow here: ``rnn-recipes list``, ``show`` and ``--help`` read this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config import (
    TrainConfig,
    require_at_least,
    require_at_most,
    require_delimiter,
    require_fraction,
    validate_train,
)
from ...errors import ConfigError

PATH_KEYS = ("data.path",)
# Pointing a recipe at other data (data.path) also drops the recipe's column choices, season and
# split: they describe the recipe's own file, not yours.
SOURCE_GROUPS = {
    "data": (
        ("path",),
        ("header", "time_column", "target_columns", "input_columns", "season", "split"),
    )
}


@dataclass
class DataConfig:
    # The CSV file: a timestamp column and numeric value columns. Or a glob ("exports/*.csv")
    # or a list of files holding consecutive stretches of one series, joined in order.
    path: str | list[str] | None = None
    # Does the first row name the columns? false: columns are 0-based positions (time_column
    # = 0; target_columns = [1] ...).
    header: bool = True
    # The timestamp column (ISO 8601), by name or position; "date" is the ETT/Informer name.
    time_column: str | int = "date"
    # What to forecast (names or positions); default: every numeric column.
    target_columns: list[str | int] | None = None
    input_columns: list[str | int] | None = None  # what the model reads; default: the targets
    # [train, validation, test] as row counts or fractions; chronological, 70/10/20 by default
    # like the long-horizon literature's custom data sets.
    split: list[int] | list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    fill: Literal["none", "ffill", "interpolate"] = "none"  # missing values are errors unless set
    # Seasonal period in steps (seasonal naive, segment length); 0 detects it from the training
    # rows' autocorrelation among the periods the step makes plausible (hourly: 24, 168).
    season: int = 0
    encoding: str = "utf-8"  # file encoding
    delimiter: str = ","  # field separator (";" for many European exports)
    # true: the series is read in blocks into files in the run folder's cache/ and windows are
    # gathered from there inside tf.data, never all in memory; false: read into memory;
    # "auto": stream when the data files together are larger than stream_above_mb.
    stream: Literal["auto"] | bool = "auto"
    stream_above_mb: float = 1024.0  # "auto" streams above this many MB of data files
    # Streaming: the linear fits, the baselines and the test metrics use at most this many
    # evenly spaced windows per split (NumPy arrays of windows; in memory they use all).
    sample_windows: int = 5000


@dataclass
class ModelConfig:
    # Steps the model reads; 0 derives it: two of the longest detected period (hourly data with
    # a weekly cycle: 336, the literature's norm), else four horizons.
    lookback: int = 0
    horizon: int = 96  # steps forecast at once: four days of hourly data
    cell: Literal["gru", "lstm"] = "gru"  # SegRNN's choice: as good as LSTM here, fewer weights
    units: int = 256  # RNN state size; segments are few, so a wide state is affordable
    layers: int = 1  # stacked RNN layers; one is what SegRNN found best
    # Steps per patch; 0 derives it: whole seasons giving at most 8 RNN steps (hourly, 336: 48,
    # so the RNN runs 7 steps, not 336), else lookback / 8.
    segment_length: int = 0
    dropout: float = 0.5  # before the output projection; long-horizon models overfit easily
    # Per-window normalization, undone on the forecast: "last" subtracts each window's last
    # value (SegRNN's own code's default; better than RevIN for the RNN on ETTh1 validation at
    # 96 and 336 steps, worse on the daily temperatures), "revin" subtracts its mean and divides
    # by its spread, "none" leaves it.
    normalization: Literal["last", "revin", "none"] = "last"
    # Legacy (run folders before normalization existed): true is "revin", false "none".
    revin: bool | None = None
    # Blend the RNN's forecast with the least-squares linear map in the same normalized space:
    # w * rnn + (1 - w) * map, with w fitted on validation after training (the RNN trains
    # alone). Both parts and the blend are reported in metrics.json.
    linear_blend: bool = True
    rnn_weight: float | None = None  # w in [0, 1]; unset: fitted on the validation windows
    # The per-window space of the blend's linear map (it need not be the RNN's): "auto" fits the
    # map in each and keeps the one whose blend does best on validation.
    map_normalization: Literal["auto", "last", "revin", "none"] = "auto"
    # Residual linear lookback->horizon map, off: started at its least-squares fit it left the
    # RNN nothing that generalises (best epoch always 1 on ETTh1); learned from zero it adds
    # weights that overfit. With it on, it starts at zero.
    linear_skip: bool = False
    # With linear_skip on: start it at its least-squares fit (and the RNN branch at zero), the
    # behaviour before 0.x; off starts it at zero and learns it with the RNN.
    linear_init: bool = False
    # Cross-channel term on the encoder states (zero at start). "auto": on only when there are
    # covariates, which a purely channel-independent model could not use; off for M and S,
    # where channel independence generalises best.
    mix_channels: Literal["auto", "on", "off"] = "auto"


@dataclass
class ForecastTrainConfig(TrainConfig):
    """Training settings; the shared ones with defaults suited to forecasting windows."""

    epochs: int = 15  # an upper bound; with the type3 decay the rate is 4 % of its base by 15
    # SegRNN's value; lowered (halved) when an epoch would have fewer than 30 steps, logged.
    batch_size: int = 256
    patience: int = 5  # the MAE-trained RNN improves slowly but steadily on validation
    clipnorm: float = 0.0  # no clipping, as in SegRNN: the segment RNN runs few steps
    # MAE trains better even when scored by MSE (SegRNN's loss; measured on ETTh1 validation);
    # "mse" is allowed.
    loss: Literal["mse", "mae"] = "mae"
    # Early stopping watches validation MSE, the reported figure ("loss" watches the training
    # loss's validation value, MAE by default).
    monitor: Literal["loss", "mse"] = "mse"
    # "type3" (SegRNN's): the base rate for 4 epochs, then x0.8 per epoch; "constant": no decay.
    lr_schedule: Literal["type3", "constant"] = "type3"


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
    require_at_least("model", m, ("horizon", "layers"))
    for key in ("lookback", "segment_length"):
        if getattr(m, key) < 0:
            raise ConfigError(
                f"model.{key} must be 0 (derived from the data) or a number of steps, "
                f"got {getattr(m, key)}"
            )
    require_at_least("model", m, ("units",), 2)
    require_at_most("model", m, ("units", "layers"))
    require_delimiter("data", config.data)
    require_fraction("model", m, ("dropout",))
    if m.rnn_weight is not None and not m.linear_blend:
        raise ConfigError(
            "model.rnn_weight weighs the RNN against the linear map of model.linear_blend: "
            "set model.linear_blend = true or unset model.rnn_weight"
        )
    if m.rnn_weight is not None and not 0.0 <= m.rnn_weight <= 1.0:
        raise ConfigError(
            f"model.rnn_weight must be in [0, 1] (or unset to fit it on validation), "
            f"got {m.rnn_weight}"
        )
    if len(d.split) != 3:
        raise ConfigError(
            f"data.split takes three numbers [train, validation, test], got {d.split}"
        )
    require_at_least("data", d, ("sample_windows",))
    if not d.stream_above_mb > 0:
        raise ConfigError(f"data.stream_above_mb must be above 0, got {d.stream_above_mb:g}")
    if d.season < 0:
        raise ConfigError(f"data.season must be 0 (detect) or a period in steps, got {d.season}")
    if d.time_column == "":  # position 0 is a time column too
        raise ConfigError("data.time_column must name the timestamp column")
    for key in ("target_columns", "input_columns"):
        names = getattr(d, key)
        if names is not None and len(set(names)) != len(names):
            raise ConfigError(f"data.{key} lists a column twice: {names}")
    validate_train(t)
