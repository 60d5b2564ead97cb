"""TensorFlow Datasets as an input adapter: one loader for every task, failing fast offline.

Offline, ``tfds.load`` retries its downloads for minutes (209 s in one measurement) before it
gives up with a long traceback. :func:`check_reachable` answers the same question in a few
seconds: a dataset already prepared in the data folder needs no network, and otherwise one socket
connection to the download host, with a short timeout, tells whether a download can work.
No TensorFlow import here, so the check runs before TensorFlow starts.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import RecipeError

# TFDS fetches dataset metadata and prepared copies from Google Cloud Storage first.
HOST = ("storage.googleapis.com", 443)
TIMEOUT = 3.0  # seconds; a reachable host answers in well under one


def default_data_dir() -> Path:
    """Where TFDS keeps datasets when ``data.tfds_data_dir`` is not set."""
    return Path(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()


def is_prepared(name: str, data_dir: str | Path | None = None) -> bool:
    """Whether ``name`` (``imdb_reviews``, ``imdb_reviews/plain_text:1.0.0``) is prepared.

    A prepared dataset has a ``dataset_info.json`` under ``DATA_DIR/NAME/[CONFIG/]VERSION/``.
    """
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    base = name.split(":")[0].strip("/")
    folder = root / base
    if not folder.is_dir():
        return False
    # At most two levels below (config and version): never a deep walk of a large folder.
    return (
        any(folder.glob("dataset_info.json"))
        or any(folder.glob("*/dataset_info.json"))
        or any(folder.glob("*/*/dataset_info.json"))
    )


def _target() -> tuple[str, int]:
    """The host a download connects to first: the HTTPS proxy when one is configured."""
    proxy = urllib.request.getproxies().get("https")
    if proxy:
        parts = urllib.parse.urlsplit(proxy if "//" in proxy else f"//{proxy}")
        if parts.hostname:
            return parts.hostname, parts.port or 443
    return HOST


def check_reachable(name: str, data_dir: str | Path | None = None) -> None:
    """Return when ``name`` is prepared in ``data_dir`` or its download host can be reached.

    Args:
        name: the TFDS dataset name (``data.tfds``).
        data_dir: ``data.tfds_data_dir``; ``None`` means TFDS's default folder.

    Raises:
        RecipeError: the dataset is not prepared and the host does not answer within
            :data:`TIMEOUT` seconds; the message says how to prepare the data offline.
    """
    if is_prepared(name, data_dir):
        return
    host, port = _target()
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer in {TIMEOUT:g} s"
    where = Path(data_dir).expanduser() if data_dir else default_data_dir()
    raise RecipeError(
        f"TFDS dataset '{name}' is not prepared in {where} and {host} cannot be reached "
        f"({reason}); load it once on a machine with network (tfds.load('{name}')) and copy its "
        f"tensorflow_datasets/{name.split(':')[0]} folder to {where}, or set "
        "data.tfds_data_dir to a prepared copy"
    )


def load(name: str, split: Any, data_dir: str | None) -> tuple[Any, Any]:
    """``tfds.load(name, split=split, as_supervised=True, with_info=True)``.

    Downloads on first use; offline, fails in seconds unless the dataset is prepared in
    ``data_dir`` (:func:`check_reachable`). Every failure becomes one RecipeError line saying
    what to do.

    Returns:
        (the dataset(s) for ``split``, the dataset's ``DatasetInfo``)
    """
    from .._lazy import tfds

    check_reachable(name, data_dir)  # seconds, not minutes of retries, when offline
    try:
        return tfds.load(name, split=split, data_dir=data_dir, as_supervised=True, with_info=True)
    except Exception as exc:  # TFDS raises many kinds; all mean "could not get the data"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(
            f"cannot load TFDS dataset '{name}': {first} (TFDS downloads it on first use; "
            "without network, point data.tfds_data_dir at a prepared copy)"
        ) from None


def label_names(info: Any, key: str = "label") -> list[str] | None:
    """The class names of a ``ClassLabel`` feature, or None when labels are bare integers."""
    return getattr(info.features[key], "names", None)


def label_name(names: list[str] | None, label: Any) -> str:
    """One label as text: its class name when the set has names, else the integer."""
    return names[int(label)] if names else str(int(label))


def as_numpy(dataset: Any):
    """Iterate a TFDS dataset as NumPy values."""
    from .._lazy import tfds

    return tfds.as_numpy(dataset)
