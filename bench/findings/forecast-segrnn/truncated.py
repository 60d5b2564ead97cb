"""Offline check: test MSE of finished forecast runs on every test window and on SegRNN's
truncated test set (its loader drops the last incomplete batch of 256: the first 2560 of
ETTh1's 2785 windows at lookback 720), and of the runs' mean forecast (a seed ensemble).

    python bench/findings/forecast-segrnn/truncated.py RUN_DIR [RUN_DIR...]

The runs must share their data settings (the first run's config.toml is read).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

from rnn_recipes import export
from rnn_recipes.config import load_run_config
from rnn_recipes.data import series as sd
from rnn_recipes.tasks.forecast import data as fd

KEPT = 2560  # 2785 // 256 * 256: what a drop_last loader of batch 256 evaluates

runs = [Path(a) for a in sys.argv[1:]]
cfg = load_run_config(runs[0]).config
data = fd.make_datasets(cfg, log=lambda *_: None)
p, k = data.plan, len(data.targets)
for split in ("validation", "test"):
    _, y = data.windows(split)
    raw, _ = sd.window_arrays(
        data.values.astype(np.float32), data.sample_starts(split), p.lookback, p.horizon, k
    )
    preds = []
    for run in runs:  # model.keras takes raw windows; the protocol's errors are on scaled values
        f = export.load_keras(run).predict(raw, batch_size=256, verbose=0)
        preds.append((f - data.scaler.mean[:k]) / data.scaler.std[:k])
    for name, f in [
        *((r.name, f) for r, f in zip(runs, preds)),
        ("mean of runs", np.mean(preds, 0)),
    ]:
        err = (f - y) ** 2
        print(
            f"{split} {name}: all {len(y)} {err.mean():.4f}, first {KEPT} {err[:KEPT].mean():.4f}"
        )
