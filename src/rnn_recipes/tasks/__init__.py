"""The task registry: a task name maps to the module that solves it.

Task modules are imported on demand; importing one does not import TensorFlow (they use
:mod:`rnn_recipes._lazy`), so the registry is cheap to consult from ``list`` and ``show``.

What the runner and CLI use from a task module (see ``sentiment.py`` for the reference):

* ``Config`` (dataclass with ``task``, ``description``, ``data``, ``model``, ``train`` sections),
  ``PATH_KEYS`` (dotted keys holding file paths), ``SOURCE_GROUPS`` (data-source keys a higher
  config layer replaces as a group) and ``validate(config)`` for checks across keys.
* ``make_datasets(config, log)`` -> an object with ``train``, ``validation``, ``test``
  (``tf.data`` pipelines ready for ``fit``), ``counts`` (examples per split, for metrics.json)
  and ``train_examples``.
* ``build_model(config, data)``, ``compile_model(model, config)``, and
  ``end_to_end_model(config, data, model)``: the raw-input model saved as ``model.keras``.
* ``serving(config, data, full_model)`` -> (function, input signature) exported as
  ``serving_default``.
* ``evaluate(config, data, model)`` -> the ``test`` section of metrics.json; ``summary(test)``
  -> one line; ``plots(config, data, metrics, folder)`` writes task plots.
* ``predict(serve, config, inputs, output)`` -> records; ``format_prediction(record)`` -> a line;
  ``evaluate_exported(serve, config, path)`` -> metrics; ``format_metrics(metrics)`` -> lines.
* Optional: ``run_info(config, data)`` (extra metrics.json sections), ``extra_serving(config,
  data, full_model)`` (more signatures), ``register_layers()`` (custom Keras layers, called
  before ``model.keras`` is loaded), ``after_training(config, data, model, log)`` (settles what
  training does not learn, before the test evaluation; returns extra metrics.json sections).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ConfigError

_TASKS = {
    "sentiment": "rnn_recipes.tasks.sentiment",
    "speech": "rnn_recipes.tasks.speech",
    "forecast": "rnn_recipes.tasks.forecast",
}


def names() -> list[str]:
    return sorted(_TASKS)


def get(name: str) -> ModuleType:
    """Return the task module called ``name``; unknown names list the known ones."""
    if name not in _TASKS:
        raise ConfigError(f"unknown task '{name}'; known tasks: {', '.join(names())}")
    return importlib.import_module(_TASKS[name])
