"""Lazy handles to TensorFlow, Keras and TFDS.

Task modules write ``from rnn_recipes._lazy import keras, tf`` and then read like a keras-io
example (``keras.layers.LSTM(...)``), but nothing heavy is imported until an attribute is first
used. That keeps ``rnn-recipes --help``, ``list`` and ``show`` instant (TensorFlow takes seconds
to import).

Importing the package changes nothing global. Only the command line (``cli.main``) quiets
TensorFlow's native start-up chatter, with :func:`quiet_native_logs`, and bounds the C library's
malloc arenas, with :func:`limit_malloc_arenas`; library callers keep their process as it is
(and may call either themselves).
"""

from __future__ import annotations

import ctypes
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


# glibc's mallopt parameter for the most arenas malloc may create (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """For the command line: let glibc's malloc use at most ``arenas`` arenas.

    glibc gives threads that allocate at the same time their own arenas, up to 8 per core, and
    freed memory stays in the arena it came from. TensorFlow's thread pools and tf.data's
    threads allocate and free tensors in every epoch, so a run's resident memory crept up from
    epoch to epoch (ETTh1 336->96, small model, 16 epochs: 891 -> 1115 MB at the epochs' peaks)
    while with two arenas it stays flat from the second epoch (897 -> 915 MB). Same as the
    environment variable MALLOC_ARENA_MAX=2, which wins when it is set. Returns whether the
    limit was set (False: not glibc, or MALLOC_ARENA_MAX set by the user).
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_ARENA_MAX, arenas) == 1


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
