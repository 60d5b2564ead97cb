"""Generated data for the speech and forecast tests, and the tiny model options of each task.

Speech clips are tones, one pitch per class with a little noise, named
``{label}_{speaker}_{take}.wav`` like FSDD, so a 4-unit GRU learns them in a few epochs. Forecast
series are hourly, with a daily cycle, two targets and a covariate.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

from rnn_recipes.data import audio
from tests.conftest import TINY as SENTIMENT_TINY

# --- sentiment ---------------------------------------------------------------------------------


def sentiment_run(data: Path, *extra) -> list:
    """``run sentiment`` arguments for a reviews file (the tiny model of the tests), then
    ``extra``."""
    return ["run", "sentiment", "--data", data, *SENTIMENT_TINY, *extra]


# --- speech ------------------------------------------------------------------------------------

RATE = 8000
PITCH = {"low": 300.0, "mid": 900.0, "high": 2000.0}
SPEAKERS = ("amy", "bo", "cy", "dee", "ed")
REGEX = r"^(?P<label>[a-z]+)_(?P<speaker>[a-z]+)_\d+\.wav$"
SPEECH_TINY = [
    "--set",
    "model.units=4",
    "--set",
    "model.layers=1",
    "--set",
    "features.mel_bins=8",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.verbose=quiet",
]


def speech_run(clips: Path, *extra) -> list:
    """``run speech`` arguments for clips from :func:`make_wavs` (labels from the file names,
    8 kHz, the tiny model with 8 units and a fast learning rate), then ``extra``."""
    return [
        "run",
        "speech",
        "--data",
        clips,
        "--set",
        f"data.label_regex={REGEX}",
        "--set",
        "data.sample_rate=8000",
        *SPEECH_TINY,
        "--set",
        "model.units=8",
        "--set",
        "train.learning_rate=0.02",
        *extra,
    ]


def clip(label: str, seed: int, seconds: float | None = None, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rate * (seconds or rng.uniform(0.08, 0.2)))
    t = np.arange(n) / rate
    f = PITCH[label] * rng.uniform(0.95, 1.05)
    return 0.4 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(n)


def make_wavs(
    folder: Path,
    labels=("low", "high"),
    speakers=SPEAKERS,
    takes: int = 4,
    layout: str = "regex",
    rate: int = RATE,
) -> Path:
    """``{label}_{speaker}_{take}.wav`` files, flat (regex) or one sub-folder per label."""
    folder.mkdir(parents=True, exist_ok=True)
    seed = 0
    for label in labels:
        for speaker in speakers:
            for take in range(takes):
                where = folder / label if layout == "folders" else folder
                where.mkdir(exist_ok=True)
                seed += 1
                audio.write_wav(where / f"{label}_{speaker}_{take}.wav", clip(label, seed), rate)
    return folder


def write_manifest(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- forecast ----------------------------------------------------------------------------------

LOOKBACK, HORIZON = 48, 12
# A model small enough that an epoch takes about a second.
FORECAST_TINY = [
    "--set",
    f"model.lookback={LOOKBACK}",
    "--set",
    f"model.horizon={HORIZON}",
    "--set",
    "model.segment_length=12",
    "--set",
    "model.units=8",
    "--set",
    "train.batch_size=32",
    "--set",
    "train.verbose=quiet",
]


def make_series(n: int = 600, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Hourly: two targets with a daily cycle around different levels, plus a covariate."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    daily = np.sin(2 * np.pi * t / 24)
    a = 100 + 10 * daily + rng.normal(0, 1, n)
    b = 5 + 2 * np.roll(daily, 3) + rng.normal(0, 0.2, n)
    cov = 20 + 5 * daily + rng.normal(0, 0.5, n)
    start = dt.datetime(2024, 3, 1)
    stamps = [(start + dt.timedelta(hours=int(i))).isoformat(sep=" ") for i in t]
    return stamps, np.stack([a, b, cov], axis=1)


def write_series(path: Path, stamps, values, header=("date", "a", "b", "cov")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for stamp, row in zip(stamps, values):
            writer.writerow([stamp, *(f"{v:.4f}" for v in row)])
    return path


# Options that make a run of each task take seconds; a test's own options come after and win.
TINY_FOR = {
    "sentiment": SENTIMENT_TINY,
    "speech": [*SPEECH_TINY, "--set", "data.sample_rate=8000"],
    "forecast": FORECAST_TINY,
}
