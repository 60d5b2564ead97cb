"""Lazy handles to TensorFlow, Keras and TFDS.

Task modules write ``from rnn_recipes._lazy import keras, tf`` and then read like a keras-io
example (``keras.layers.LSTM(...)``), but nothing heavy is imported until an attribute is first
used. That keeps ``rnn-recipes --help``, ``list`` and ``show`` instant (TensorFlow takes seconds
to import).

Importing the package changes nothing global. Only the command line (``cli.main``) quiets
TensorFlow's native start-up chatter, with :func:`quiet_native_logs`; library callers keep their
stderr as it is.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
from types import ModuleType

# Native (C++) log lines TensorFlow prints at start-up and first use: "I0000 00:00:17... port.cc"
# and friends. Since TF 2.17 they bypass TF_CPP_MIN_LOG_LEVEL until absl logging is initialised.
# Native warnings ("W...") are kept: they may matter to the user.
_NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog"
    rb"|I\d{4} \d\d:\d\d:\d\d"
    rb"|E\d{4} .*(cuInit|oneDNN supports|Unable to register|computation placer"
    rb"|NodeDef mentions attribute)"
    rb"|To enable the following instructions:)"
)
_filtered = False


def _filter_native_stderr() -> None:
    """Drop TensorFlow's native info/warning chatter from stderr, keep everything else.

    File descriptor 2 becomes a pipe read by a small thread that forwards every line except the
    known start-up noise; Python's own ``sys.stderr`` is pointed straight at the real stderr so
    messages and tracebacks are never delayed. Set RNN_RECIPES_NATIVE_LOGS=1 to see everything.
    """
    global _filtered
    if _filtered or os.environ.get("RNN_RECIPES_NATIVE_LOGS"):
        return
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return  # stderr is captured (e.g. by a test runner): leave it alone
    except (AttributeError, OSError, ValueError):
        return
    _filtered = True
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(  # noqa: SIM115 - lives as long as the process
        real, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
    )

    def pump() -> None:
        with open(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                keep = [line for line in lines if not _NATIVE_NOISE.match(line)]
                if keep:
                    os.write(real, b"\n".join(keep) + b"\n")
            if pending and not _NATIVE_NOISE.match(pending):
                os.write(real, pending)

    threading.Thread(target=pump, name="native-stderr-filter", daemon=True).start()


def quiet_native_logs() -> None:
    """For the command line only: hide TensorFlow's native info chatter on stderr.

    TensorFlow's C++ start-up lines (oneDNN, CUDA stubs, CPU features) drown the stage lines a
    user should read. Since TF 2.17 they ignore TF_CPP_MIN_LOG_LEVEL, so they are filtered
    unless the user asked for native logs (level 0, or RNN_RECIPES_NATIVE_LOGS=1).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0":
        _filter_native_stderr()


def check_backend() -> None:
    """The recipes are written for Keras on TensorFlow: say so once, in one line.

    ``KERAS_BACKEND`` set to another backend (by the user's shell, or ``~/.keras/keras.json``)
    would otherwise fail much later inside a tf.data pipeline or an export.
    """
    from .errors import RecipeError

    backend = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        raise RecipeError(
            f"KERAS_BACKEND is {backend!r}, but rnn-recipes needs the TensorFlow backend; "
            "unset it or set KERAS_BACKEND=tensorflow"
        )


class LazyModule:
    """A module proxy that imports the real module on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            check_backend()
            module = importlib.import_module(self._name)
            if self._name == "keras" and module.backend.backend() != "tensorflow":
                from .errors import RecipeError

                raise RecipeError(
                    f"Keras is configured for the {module.backend.backend()!r} backend "
                    "(~/.keras/keras.json); rnn-recipes needs TensorFlow: set "
                    "KERAS_BACKEND=tensorflow"
                )
            self._module = module
        return self._module

    def __getattr__(self, attr: str):
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<lazy module {self._name!r} ({state})>"


tf = LazyModule("tensorflow")
keras = LazyModule("keras")
tfds = LazyModule("tensorflow_datasets")
