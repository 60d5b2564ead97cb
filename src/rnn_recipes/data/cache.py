"""Where a streaming pipeline keeps what it computes between epochs: the run folder's ``cache/``.

The runner names the folder (:func:`folder`) around the task's data step, so the task's
``make_datasets`` keeps its signature; a data step called outside a run (tests, notebooks)
gets a temporary folder removed when the process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

CACHE = "cache"  # the folder's name inside a run folder

_folder: contextvars.ContextVar[Path | None] = contextvars.ContextVar("cache_folder", default=None)


@contextlib.contextmanager
def folder(path: Path) -> Iterator[None]:
    """Within this block, :func:`cache_folder` is ``path``."""
    token = _folder.set(Path(path))
    try:
        yield
    finally:
        _folder.reset(token)


def cache_folder(name: str) -> Path:
    """An empty folder ``name`` for cache files: under the run's ``cache/``, else temporary.

    It is emptied first: a run resumed after an interruption may have left a half-written
    cache (TensorFlow then refuses to read it or to write it again).
    """
    root = _folder.get()
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="rnn-recipes-cache-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def remove(root: Path) -> str | None:
    """Delete a finished run's ``cache/`` (nothing reads it afterwards; a resumed run builds it
    again). Returns what it held, for the log ("speech-test, speech-validation: 12.3 MB"), or
    None when there was none."""
    root = Path(root)
    if not root.is_dir():
        return None
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    names = ", ".join(sorted(p.name for p in root.iterdir())) or "empty"
    shutil.rmtree(root, ignore_errors=True)
    return f"{names}: {size / 1e6:.1f} MB"
