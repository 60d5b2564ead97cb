"""Validation / test MSE of the forecast recipe's least-squares map in each per-window space
(FINDINGS.md section 8). Run from the repository root:
python bench/findings/forecast-segrnn/map_spaces.py
(reads ../shared/data through the recipes)."""

from pathlib import Path

import numpy as np

from rnn_recipes.config import load_config
from rnn_recipes.tasks.forecast import baselines as fb
from rnn_recipes.tasks.forecast import data as fd
from rnn_recipes.tasks.forecast import model as fm

RECIPES = Path(__file__).resolve().parents[3] / "recipes"
ETT, DAILY = str(RECIPES / "etth1-336-96.toml"), str(RECIPES / "daily-min-temperatures.toml")
cases = [
    ("etth1 336-96", ETT, []),
    ("etth1 336-192", ETT, ["model.horizon=192"]),
    ("etth1 336-336", ETT, ["model.horizon=336"]),
    ("etth1 336-720", ETT, ["model.horizon=720"]),
    ("etth1 720-96", ETT, ["model.lookback=720"]),
    ("daily 60-7", DAILY, []),
]
for name, recipe, sets in cases:
    cfg = load_config(recipe, sets=sets).config
    data = fd.make_datasets(cfg, log=lambda *a: None)
    k = len(data.targets)
    xv, yv = data.windows("validation")
    xt, yt = data.windows("test")
    row = []
    for norm in ("revin", "last", "none"):
        kern, b = fm.fit_skip(data, norm)
        v = np.mean((fb.apply_shared_linear(xv, kern, b, k, norm) - yv) ** 2)
        t = np.mean((fb.apply_shared_linear(xt, kern, b, k, norm) - yt) ** 2)
        row.append(f"{norm} val {v:.4f} test {t:.4f}")
    print(name, " | ".join(row), flush=True)
