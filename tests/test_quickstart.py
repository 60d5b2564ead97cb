"""The README's main job, exactly as a new user runs it: the built-in recipe on the demo data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_quick_start

OBVIOUS = {
    "This movie was wonderful, I loved every minute of it.": "positive",
    "Fantastic food and the friendliest staff, highly recommend.": "positive",
    "A superb, delightful book that I will read again.": "positive",
    "Terrible service and rude staff, a complete waste of money.": "negative",
    "Boring, dull and far too long. I hated it.": "negative",
    "The headphones broke after two days, awful quality.": "negative",
}


@pytest.mark.slow
def test_quick_start_trains_a_useful_model(tmp_path: Path):
    proc, _ = run_quick_start("sentiment", tmp_path)
    # Stage lines a person can follow, in order.
    stages = [
        "Loading data",
        "train ",
        "Built the vocabulary",
        "Training for up to",
        "Evaluating",
        "Exporting",
        "Test: accuracy",
        "Run folder:",
    ]
    positions = [proc.stdout.find(s) for s in stages]
    assert -1 not in positions and positions == sorted(positions), proc.stdout
    # Native TensorFlow start-up chatter is filtered out of stderr.
    assert "cudart_stub" not in proc.stderr and "port.cc" not in proc.stderr

    texts = list(OBVIOUS)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnn_recipes.cli",
            "predict",
            str(tmp_path / "run"),
            *texts,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    labels = {r["input"]: r["label"] for r in map(json.loads, out.stdout.strip().splitlines())}
    assert labels == OBVIOUS
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.6  # 48 held-out demo reviews; chance is 0.5
