"""The fast offline check before TFDS would retry its downloads for minutes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from rnn_recipes.data import tfds
from rnn_recipes.errors import RecipeError


def _no_network(*args, **kwargs):
    raise AssertionError("a prepared dataset must not touch the network")


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("imdb_reviews", "imdb_reviews/plain_text/1.0.0"),
        ("imdb_reviews/plain_text:1.0.0", "imdb_reviews/plain_text/1.0.0"),
        ("mnist", "mnist/3.0.1"),
    ],
)
def test_prepared_dataset_returns_without_network(tmp_path: Path, monkeypatch, name, layout):
    (tmp_path / layout).mkdir(parents=True)
    (tmp_path / layout / "dataset_info.json").write_text("{}")
    monkeypatch.setattr(socket, "create_connection", _no_network)
    assert tfds.is_prepared(name, tmp_path)
    tfds.check_reachable(name, tmp_path)


def test_unprepared_dataset_and_unreachable_host_fail_fast(tmp_path: Path, monkeypatch):
    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "imdb_reviews").mkdir()  # a download that never finished: no dataset_info.json
    monkeypatch.setattr(tfds, "HOST", ("192.0.2.1", 443))  # TEST-NET-1: never answers
    monkeypatch.setattr(tfds, "TIMEOUT", 1.0)
    start = time.monotonic()
    with pytest.raises(RecipeError) as info:
        tfds.check_reachable("imdb_reviews", tmp_path)
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert f"TFDS dataset 'imdb_reviews' is not prepared in {tmp_path}" in message
    assert "192.0.2.1 cannot be reached" in message and "data.tfds_data_dir" in message


def test_reachable_host_passes(tmp_path: Path, monkeypatch):
    server = socket.create_server(("127.0.0.1", 0))
    try:
        monkeypatch.setattr(tfds, "_target", lambda: server.getsockname()[:2])
        tfds.check_reachable("imdb_reviews", tmp_path)
    finally:
        server.close()
