"""The task registry: a task name maps to the module that solves it.

Task modules are imported on demand; importing one does not import TensorFlow (they use
:mod:`rnn_recipes._lazy`), so the registry is cheap to consult from ``list`` and ``show``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ConfigError

_TASKS = {
    "sentiment": "rnn_recipes.tasks.sentiment",
}


def names() -> list[str]:
    return sorted(_TASKS)


def get(name: str) -> ModuleType:
    """Return the task module called ``name``; unknown names list the known ones."""
    if name not in _TASKS:
        raise ConfigError(f"unknown task '{name}'; known tasks: {', '.join(names())}")
    return importlib.import_module(_TASKS[name])
