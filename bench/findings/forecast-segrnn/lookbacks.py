"""Offline check (session 20): blend finished forecast runs of different lookbacks (their windows
start one lookback early, so validation and test targets are the same) with a weight chosen on
validation MSE; print each run's and each pair's validation and test MSE.

    python bench/findings/forecast-segrnn/lookbacks.py RUN_720 RUN_336 [RUN...]
"""

import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

from rnn_recipes import export
from rnn_recipes.config import load_run_config
from rnn_recipes.data import series as sd
from rnn_recipes.tasks.forecast import data as fd

SPLITS = ("validation", "test")


def scaled_forecasts(run: Path) -> tuple[dict, dict]:
    """The run's exported model's forecasts (scaled, as the protocol's errors) and the targets."""
    cfg = load_run_config(run).config
    data = fd.make_datasets(cfg, log=lambda *_: None)
    p, k = data.plan, len(data.targets)
    model = export.load_keras(run)
    forecasts, targets = {}, {}
    for split in SPLITS:
        _, targets[split] = data.windows(split)
        raw, _ = sd.window_arrays(
            data.values.astype(np.float32), data.sample_starts(split), p.lookback, p.horizon, k
        )
        f = model.predict(raw, batch_size=256, verbose=0)
        forecasts[split] = (f - data.scaler.mean[:k]) / data.scaler.std[:k]
    return forecasts, targets


runs = [Path(a) for a in sys.argv[1:]]
preds, targets = {}, None
for run in runs:
    preds[run.name], y = scaled_forecasts(run)
    if targets is not None:
        assert all(np.allclose(targets[s], y[s]) for s in SPLITS), "the runs' targets differ"
    targets = y


def mse(forecast, split: str) -> float:
    return float(((forecast - targets[split]) ** 2).mean())


for name, f in preds.items():
    print(
        f"{name}: validation {mse(f['validation'], 'validation'):.4f}, test {mse(f['test'], 'test'):.4f}"
    )


def mixed(a: str, b: str, w: float, split: str):
    return w * preds[a][split] + (1 - w) * preds[b][split]


for a, b in itertools.combinations(preds, 2):
    grid = np.arange(0, 1.0001, 0.05)
    val, w = min((mse(mixed(a, b, w, "validation"), "validation"), w) for w in grid)
    print(
        f"{w:.2f} x {a} + {1 - w:.2f} x {b} (weight chosen on validation): validation {val:.4f}, "
        f"test {mse(mixed(a, b, w, 'test'), 'test'):.4f}; "
        f"0.5 each: test {mse(mixed(a, b, 0.5, 'test'), 'test'):.4f}"
    )
