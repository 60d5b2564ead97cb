"""Offline check (session 20): blend finished forecast runs of different lookbacks (their windows
start one lookback early, so validation and test targets are the same) with a weight chosen on
validation MSE; print each run's and each pair's validation and test MSE.

    python bench/findings/forecast-segrnn/lookbacks.py RUN_720 RUN_336 [RUN...]
"""
import os, sys, itertools
from pathlib import Path
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from rnn_recipes import export
from rnn_recipes.config import load_run_config
from rnn_recipes.data import series as sd
from rnn_recipes.tasks.forecast import data as fd

runs = [Path(a) for a in sys.argv[1:]]
P = {}
Y = {}
for run in runs:
    cfg = load_run_config(run).config
    data = fd.make_datasets(cfg, log=lambda *_: None)
    p, k = data.plan, len(data.targets)
    model = export.load_keras(run)
    for split in ("validation", "test"):
        _, y = data.windows(split)
        raw, _ = sd.window_arrays(data.values.astype(np.float32), data.sample_starts(split), p.lookback, p.horizon, k)
        f = model.predict(raw, batch_size=256, verbose=0)
        P[run.name, split] = (f - data.scaler.mean[:k]) / data.scaler.std[:k]
        if split in Y:
            assert Y[split].shape == y.shape and np.allclose(Y[split], y), "targets differ"
        Y[split] = y
mse = lambda f, s: float(((f - Y[s]) ** 2).mean())
for r in runs:
    print(f"{r.name}: val {mse(P[r.name,'validation'],'validation'):.4f} test {mse(P[r.name,'test'],'test'):.4f}")
for a, b in itertools.combinations([r.name for r in runs], 2):
    best = min((mse(w*P[a,'validation']+(1-w)*P[b,'validation'],'validation'), w) for w in np.arange(0,1.0001,0.05))
    w = best[1]
    print(f"{a}+{b}: w={w:.2f} val {best[0]:.4f} test {mse(w*P[a,'test']+(1-w)*P[b,'test'],'test'):.4f} (0.5: test {mse(.5*P[a,'test']+.5*P[b,'test'],'test'):.4f})")
if len(runs) > 2:
    print(f"mean of all: val {mse(np.mean([P[r.name,'validation'] for r in runs],0),'validation'):.4f} test {mse(np.mean([P[r.name,'test'] for r in runs],0),'test'):.4f}")
