"""The benchmark harness's own logic (the benchmarks themselves are not part of the tests)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from bench import common
from bench.sentiment import write_rt_polarity_split


def test_rt_polarity_protocol_split(tmp_path: Path):
    src = tmp_path / "rt"
    src.mkdir()
    pos = [f"good {i} \u2014 fine" for i in range(25)]  # byte 0x97 in cp1252
    neg = [f"bad {i}" for i in range(13)]
    (src / "rt-polarity.pos").write_bytes(("\n".join(pos) + "\n").encode("cp1252"))
    (src / "rt-polarity.neg").write_bytes(("\n".join(neg) + "\n").encode("cp1252"))
    train, test = write_rt_polarity_split(src, tmp_path / "out")
    rows = {p.name: list(csv.DictReader(p.read_text("utf-8").splitlines())) for p in (train, test)}
    test_texts = [r["text"] for r in rows["test.csv"]]
    assert test_texts == [
        "good 0 \u2014 fine",
        "good 10 \u2014 fine",
        "good 20 \u2014 fine",
        "bad 0",
        "bad 10",
    ]
    assert len(rows["train.csv"]) == 25 + 13 - 5
    assert {r["label"] for r in rows["test.csv"]} == {"positive", "negative"}


def _result(**overrides):
    result = {
        "machine": {"cpus": 2},
        "versions": {"tensorflow": "x"},
        "commands": ["rnn-recipes run sentiment"],
        "quality": {"metric": "accuracy", "mean": 0.8, "std": 0.01, "target": 0.8},
        "speed": {"recipe_examples_per_s": 300.0, "reference_examples_per_s": 100.0, "ratio": 3.0},
        "latency_ms": {"p50": 2.0, "p99": 4.0},
        "quickstart_s": 20.0,
        "peak_rss_mb": 900.0,
    }
    result.update(overrides)
    return result


def test_result_file_and_markdown(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "REPO", tmp_path)
    path = common.write_result("sentiment", _result())
    data = json.loads(path.read_text())
    assert data["task"] == "sentiment" and data["date"]
    assert data["speed"]["ratio"] == 3.0
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| sentiment | accuracy 0.800 ± 0.010 (target 0.8) | 3.00×" in md
    assert "rnn-recipes run sentiment" in md
    with pytest.raises(ValueError, match="quality lacks 'target'"):
        common.write_result("sentiment", _result(quality={"metric": "a", "mean": 1, "std": 0}))
    with pytest.raises(ValueError, match="lacks"):
        common.write_result("sentiment", {k: v for k, v in _result().items() if k != "speed"})


def test_run_child_reports_time_and_memory_and_failures(tmp_path: Path):
    measured = common.run_child([sys.executable, "-c", "x = bytearray(50_000_000)"])
    assert measured["seconds"] > 0 and measured["peak_rss_mb"] >= 50
    with pytest.raises(RuntimeError, match="failed"):
        common.run_child([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "log")
