"""Forecast: the next ``horizon`` steps of one or more series from the last ``lookback`` steps.

A CSV of time series (one timestamp column, numeric value columns) is split chronologically into
train / validation / test, z-scored with training statistics, and cut into windows. The model is a
segment-recurrent network in the style of SegRNN (Lin et al. 2023), the RNN design that holds up at
long horizons:

* per-window normalization: each window's last value is subtracted per channel (or its mean and
  spread, RevIN: ``model.normalization``) and added back to the forecast, so level shifts between
  train and test do not hurt;
* channel independence: every channel goes through the same (shared) RNN on its own;
* segment-wise recurrence: the lookback is cut into patches of ``segment_length`` steps, each
  embedded by a dense layer, so the RNN runs ``lookback / segment_length`` steps, not ``lookback``;
* parallel multi-step decoding: one RNN step per output segment, all at once, started from the
  encoder's final state and told which segment (and channel) to produce by learnt embeddings;
* no linear skip by default (``model.linear_skip``): started at its least-squares fit it made the
  RNN redundant (best epoch always the first); trained with MAE and SegRNN's decaying learning
  rate, the RNN alone keeps learning and beats the least-squares linear map;
* a blend with that map (``model.linear_blend``): after training, one weight between the RNN's
  forecast and the fixed map's is fitted on validation, and both parts are reported.

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

The package follows the data: :mod:`.config` (settings, no TensorFlow), :mod:`.data` (read,
split, scale, window), :mod:`.layers` (SegRNN), :mod:`.model` (build, initialize the skip,
export scaling), :mod:`.baselines` (baselines and error figures), :mod:`.serving` (signature,
predict, evaluate) and :mod:`.plots`.

To adapt it: ``rnn-recipes show forecast > my.toml``, set ``data.path``, ``data.time_column``,
``data.target_columns``, ``model.lookback`` and ``model.horizon``; see docs/forecast.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import Task, register
from . import config as _config
from .config import Config

if TYPE_CHECKING:  # annotations only: the registry must not import TensorFlow
    import keras

    from ..base import Log
    from .data import Prepared, Spec


@register("forecast")
class ForecastTask(Task):
    """Windows of one or more series in, the next ``horizon`` steps out."""

    config_class = _config.Config
    path_keys = _config.PATH_KEYS
    source_groups = _config.SOURCE_GROUPS

    def validate(self, config: Config) -> None:
        _config.validate(config)

    def make_datasets(self, config: Config, log: Log = print) -> Prepared:
        from . import data

        return data.make_datasets(config, log)

    def build_model(self, config: Config, spec: Spec) -> keras.Model:
        from . import model

        return model.build_model(config, spec)

    def initialize(self, model: keras.Model, config: Config, data: Prepared) -> None:
        from . import model as _model

        _model.initialize(model, config, data)

    def compile_model(self, model: keras.Model, config: Config) -> None:
        from . import model as _model

        _model.compile_model(model, config)

    def callbacks(self, config: Config) -> list:
        from . import model as _model

        return _model.callbacks(config)

    def after_training(
        self, config: Config, data: Prepared, model: keras.Model, log: Log = print
    ) -> dict | None:
        from . import model as _model

        return _model.after_training(config, data, model, log)

    def evaluate(self, config: Config, data: Prepared, model: keras.Model) -> dict[str, Any]:
        from . import baselines

        return baselines.evaluate(config, data, model)

    def summary(self, test: dict[str, Any]) -> str:
        from . import baselines

        return baselines.summary(test)

    def run_info(self, config: Config, data: Prepared) -> dict[str, Any]:
        from . import data as _data

        return _data.run_info(config, data)

    def plots(self, config: Config, data: Prepared, metrics: dict[str, Any], folder: Path) -> None:
        from . import plots

        plots.plots(config, data, metrics, folder)

    def end_to_end_model(self, config: Config, data: Prepared, model: keras.Model) -> keras.Model:
        from . import model as _model

        return _model.end_to_end_model(config, data, model)

    def serving(self, config: Config, data: Prepared, full_model: keras.Model) -> tuple:
        from . import serving

        return serving.serving(config, data, full_model)

    def register_layers(self) -> None:
        from . import layers  # noqa: F401  (registration happens on import)

    def predict(
        self, serve: Callable, config: Config, inputs: list[str], output: str | None = None
    ) -> list[dict[str, Any]]:
        from . import serving

        return serving.predict(serve, config, inputs, output)

    def format_prediction(self, record: dict[str, Any]) -> str:
        from . import serving

        return serving.format_prediction(record)

    def evaluate_exported(self, serve: Callable, config: Config, path: str) -> dict[str, Any]:
        from . import serving

        return serving.evaluate_exported(serve, config, path)

    def format_metrics(self, metrics: dict[str, Any]) -> list[str]:
        from . import serving

        return serving.format_metrics(metrics)
