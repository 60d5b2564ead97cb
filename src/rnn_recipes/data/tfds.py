"""TensorFlow Datasets: fail fast when a dataset is neither prepared nor downloadable.

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
