"""Sentiment: classify raw text with a recurrent network.

Raw text goes through a ``TextVectorization`` layer (adapted on the training split only) into
token ids, an ``Embedding`` with ``mask_zero=True``, one or more (bidirectional) LSTM or GRU
layers and a softmax head, plus a naive Bayes expert over words and word pairs. Binary and
multi-class labels both work; labels may be words or integers.

The package follows the data: :mod:`.config` (settings, no TensorFlow), :mod:`.data` (reading,
splits, vocabulary, pipelines), :mod:`.layers` (the naive Bayes layer), :mod:`.model` (build,
initialize, choose the expert's weight, evaluate), :mod:`.serving` (signature, predict).
Larger than memory: ``data.stream = true`` (or "auto" above ``data.stream_above_mb``) reads the
files in chunks inside tf.data and holds no text (:mod:`.stream`).

Run it::

    rnn-recipes run sentiment                                   # bundled demo reviews
    rnn-recipes run sentiment --set data.train=train.csv --set data.test=test.csv

To adapt it, copy ``rnn-recipes show sentiment > my.toml``, point ``data.*`` at your files and
set ``data.text_column``/``data.label_column``; see docs/sentiment.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..base import register
from ..classification import ClassificationTask
from . import config as _config
from .config import Config

if TYPE_CHECKING:  # annotations only: the registry must not import TensorFlow
    import keras

    from ..base import Log
    from .data import Prepared, Spec


@register("sentiment")
class SentimentTask(ClassificationTask):
    """Text in, class out. Heavy modules are imported by the methods, not by the registry."""

    config_class = _config.Config
    path_keys = _config.PATH_KEYS
    source_groups = _config.SOURCE_GROUPS

    def validate(self, config: Config) -> None:
        _config.validate(config)

    def make_datasets(self, config: Config, log: Log = print) -> Prepared:
        from . import data
        from . import model as _model

        # Pretrained vectors are aligned to the vocabulary the data step adapts on train.
        prepared = _model.add_vectors(config, data.make_datasets(config, log), log)
        log(_model.inputs_note(config))
        return prepared

    def run_info(self, config: Config, data: Prepared) -> dict[str, Any]:
        from . import model as _model

        return _model.run_info(config, data)

    def build_model(self, config: Config, spec: Spec) -> keras.Model:
        from . import model

        return model.build_model(config, spec)

    def initialize(self, model: keras.Model, config: Config, data: Prepared) -> None:
        from . import model as _model

        _model.initialize(model, config, data)

    def refit_datasets(self, config: Config, log: Log = print) -> Prepared:
        from . import data

        return data.make_datasets(config, log, refit=True)

    def refit_config(self, config: Config, settled: dict[str, Any]) -> Config:
        # The naive Bayes weight validation chose stays: the refit has no validation to choose on.
        chosen = settled.get("naive_bayes", {}).get("weight")
        if chosen is None or config.model.nb_weight is not None:
            return config
        return dataclasses.replace(
            config, model=dataclasses.replace(config.model, nb_weight=chosen)
        )

    def after_training(
        self, config: Config, data: Prepared, model: keras.Model, log: Log = print
    ) -> dict[str, Any] | None:
        from . import model as _model

        return _model.after_training(config, data, model, log)

    def evaluate(self, config: Config, data: Prepared, model: keras.Model) -> dict[str, Any]:
        from . import model as _model

        return _model.evaluate(config, data, model)

    def end_to_end_model(self, config: Config, data: Prepared, model: keras.Model) -> keras.Model:
        from . import model as _model

        return _model.end_to_end_model(config, data, model)

    def serving(self, config: Config, data: Prepared, full_model: keras.Model) -> tuple:
        from . import serving

        return serving.serving(config, data, full_model)

    def register_layers(self) -> None:
        from .. import pooling  # noqa: F401  (registration happens on import)
        from . import layers  # noqa: F401  (registration happens on import)

    def predict(
        self, serve: Callable, config: Config, inputs: list[str], output: str | None = None
    ) -> list[dict[str, Any]]:
        from . import serving

        return serving.predict(serve, config, inputs, output)

    def evaluate_exported(self, serve: Callable, config: Config, path: str) -> dict[str, Any]:
        from . import serving

        return serving.evaluate_exported(serve, config, path)
