"""Offline check: blend the trained RNN with the LS map (RevIN space), weight chosen on validation."""
import json, sys, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from rnn_recipes.config import load_run_config
from rnn_recipes import export
from rnn_recipes.tasks.forecast import data as fd, model as fm, baselines as fb

run = sys.argv[1]
from pathlib import Path
cfg = load_run_config(Path(run)).config
data = fd.make_datasets(cfg, log=lambda *a: None)
full = export.load_keras(run)
core = [l for l in full.layers if l.name not in ("window", "scale", "unscale")]
k = len(data.targets)
def scaled_forecast(name):
    x, y = data.windows(name)
    # full model in original units -> rescale
    raw = data.scaler.mean + x * data.scaler.std  # inputs original
    f = full.predict(raw.astype("float32"), batch_size=512, verbose=0)
    return (f - data.scaler.mean[:k]) / data.scaler.std[:k], x, y
kernel, bias = fm.fit_skip(data, cfg.model.revin)
out = {}
for name in ("validation", "test"):
    f, x, y = scaled_forecast(name)
    lin = fb.apply_shared_linear(x, kernel, bias, k, cfg.model.revin)
    out[name] = (f, lin, y)
grid = np.round(np.arange(0, 1.01, 0.1), 2)
val = {a: float(np.mean((a * out["validation"][0] + (1 - a) * out["validation"][1] - out["validation"][2]) ** 2)) for a in grid}
best = min(val, key=val.get)
f, lin, y = out["test"]
t = lambda a: float(np.mean((a * f + (1 - a) * lin - y) ** 2))
print(run.split("/")[-1], f"alpha*={best} val {val[best]:.4f} (rnn {val[1.0]:.4f}, lin {val[0.0]:.4f}) | test blend {t(best):.4f} rnn {t(1.0):.4f} lin {t(0.0):.4f} | test at 0.5 {t(0.5):.4f}")
