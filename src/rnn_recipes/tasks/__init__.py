"""The tasks: one package per task, each registering a :class:`~.base.Task` subclass.

``names()`` and ``get(name)`` read the registry in :mod:`.base`; looking a task up imports only
its package and its TensorFlow-free ``config`` module, so ``list`` and ``show`` stay instant.
See docs/adding-a-task.md for the interface and a worked example.
"""

from __future__ import annotations

from .base import Prepared, Task, get, names, register, unregister

__all__ = ["Prepared", "Task", "get", "names", "register", "unregister"]
