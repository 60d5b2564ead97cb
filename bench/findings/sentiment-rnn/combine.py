"""Naive Bayes alone, and combined with a prototype RNN's saved probabilities (proto.py's .npz).

For each fold: the recipe's naive Bayes expert (table counted on the fold's training split), its
scores on the same validation/test pipelines proto.py used (same order), then
log p_rnn + w * nb with w chosen on validation among the recipe's weights, as the recipe does.

    python bench/findings/sentiment-rnn/combine.py --variant loo-lr3e-4 --folds 0 1 2 --seed 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proto  # noqa: E402

from rnn_recipes.tasks.sentiment import model as smodel  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    out = proto.OUT  # where proto.py saved its runs ($PROTO_OUT)
    for fold in a.folds:
        config, data = proto.prepare(fold, a.seed, ["model.naive_bayes=true"])
        model = smodel.build_model(config, data.spec)
        smodel.initialize(model, config, data)
        layer = model.get_layer("naive_bayes")

        def nb(ds, layer=layer):
            return np.concatenate([np.asarray(layer.scores(ids)) for ids, _ in ds])

        nbv, nbt = nb(data.validation), nb(data.test)
        saved = np.load(out / f"{a.variant}-f{fold}-s{a.seed}.npz")
        yv, yt = saved["yv"], saved["yt"]
        lv, lt = np.log(saved["pv"] + 1e-12), np.log(saved["pt"] + 1e-12)
        acc = {w: float(((lv + w * nbv).argmax(1) == yv).mean()) for w in smodel.NB_WEIGHTS}
        w = max(acc, key=lambda k: (acc[k], -k))
        rec = {
            "variant": a.variant,
            "fold": fold,
            "nb_val": float((nbv.argmax(1) == yv).mean()),
            "nb_test": float((nbt.argmax(1) == yt).mean()),
            "rnn_val": acc[0.0],
            "rnn_test": float((lt.argmax(1) == yt).mean()),
            "weight": w,
            "combined_val": acc[w],
            "combined_test": float(((lt + w * nbt).argmax(1) == yt).mean()),
        }
        print(json.dumps(rec), flush=True)
        with open(out / "combined.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
