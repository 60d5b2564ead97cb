"""Prototype: what makes the segment-RNN of the forecast recipe learn (issue 12).

Same protocol as the recipe (rnn_recipes.data.series): chronological split, z-scoring with the
training rows, validation/test windows starting one lookback early, MSE on the scaled data over
all channels. Every run prints one JSON line with per-epoch validation MSE, best epoch, seconds
per epoch, and the validation MSE of the model's own linear part and of the least-squares linear
baseline on the same windows.

Usage: python proto.py --name NAME [--skip none|ls_frozen|ls_train|zero] [--loss mae|mse] ...
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from rnn_recipes.data import series as sd  # noqa: E402

# The shared data folder beside the repository (../shared/data from the repository root).
DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"

ETT = str(DATA / "timeseries" / "ett" / "ETTh1.csv")
DAILY = str(DATA / "timeseries" / "daily-min-temperatures.csv")


def load(path, time_column, split, lookback, horizon):
    table = sd.read_series(path, time_column)
    cols = table.numeric_columns
    values = np.stack([table.values[c] for c in cols], axis=1)
    counts = sd.split_counts(split, table.rows)
    plan = sd.plan_splits(counts, lookback, horizon)
    scaler = sd.Scaler.fit(values[: plan.rows["train"][1]])
    scaled = scaler.transform(values).astype(np.float32)
    return scaled, plan, cols


def ls_skip(scaled, plan, revin, name_fit="train", name_val="validation"):
    """Least-squares lookback->horizon map shared by channels (ridge picked on validation)."""

    def ne(name):
        gram, cross, pairs = 0.0, 0.0, []
        for j in range(scaled.shape[1]):
            x, y = sd.window_arrays(
                scaled[:, j : j + 1].astype(np.float64),
                plan.starts(name),
                plan.lookback,
                plan.horizon,
                1,
            )
            x, y = x[:, :, 0], y[:, :, 0]
            if revin:
                m = x.mean(1, keepdims=True)
                s = np.sqrt(x.var(1, keepdims=True) + 1e-5)
                x, y = (x - m) / s, (y - m) / s
            a = np.concatenate([x, np.ones((len(x), 1))], 1)
            gram, cross = gram + a.T @ a, cross + a.T @ y
            pairs.append((a, y))
        return gram, cross, pairs

    gram, cross, _ = ne(name_fit)
    _, _, val = ne(name_val)
    scale = np.trace(gram) / len(gram)
    best = None
    for c in (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        reg = np.eye(len(gram)) * c * scale
        reg[-1, -1] = 0
        w = np.linalg.solve(gram + reg, cross)
        err = sum(float(np.sum((a @ w - y) ** 2)) for a, y in val)
        if best is None or err < best[0]:
            best = (err, w)
    return best[1][:-1].astype(np.float32), best[1][-1].astype(np.float32)


class SegRNN(keras.layers.Layer):
    """RevIN (no affine) + channel-independent segment GRU + PMF decoder (+ optional skip).

    ``skip_scale``: the skip's output is multiplied by a scalar (trainable when
    ``skip_mode == 'ls_scaled'``); ``mode`` = "full" | "linear" | "rnn" picks what is output
    (for measuring the parts).
    """

    def __init__(
        self,
        lookback,
        horizon,
        channels,
        units=256,
        seg=48,
        dropout=0.5,
        revin=True,
        skip=None,
        cell="gru",
        emb_std=0.05,
        **kw,
    ):
        super().__init__(**kw)
        self.L, self.H, self.C, self.d, self.w = lookback, horizon, channels, units, seg
        self.revin, self.skip_mode = revin, skip
        self.emb_std = emb_std
        self.n_in, self.n_out = -(-lookback // seg), -(-horizon // seg)
        self.embed = keras.layers.Dense(units, activation="relu")
        rnn = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
        self.rnn = rnn(units, return_state=True)
        self.drop = keras.layers.Dropout(dropout)
        self.proj = keras.layers.Dense(seg)
        self.skip = keras.layers.Dense(horizon, kernel_initializer="zeros") if skip else None
        self.mode = "full"

    def build(self, shape):
        h = self.d // 2
        init = keras.initializers.RandomNormal(stddev=self.emb_std)
        self.pos = self.add_weight(shape=(self.n_out, self.d - h), initializer=init, name="pos")
        self.chan = self.add_weight(shape=(self.C, h), initializer=init, name="chan")
        self.embed.build((None, self.n_in, self.w))
        self.rnn.build((None, self.n_in, self.d))
        self.proj.build((None, self.d))
        if self.skip is not None:
            self.skip.build((None, self.L))
            self.alpha = self.add_weight(
                shape=(), initializer="ones", name="alpha", trainable=self.skip_mode == "ls_scaled"
            )

    def call(self, x, training=False):
        ops = keras.ops
        C, L, H, w, d = self.C, self.L, self.H, self.w, self.d
        if self.revin:
            mean = ops.mean(x, axis=1, keepdims=True)
            std = ops.sqrt(ops.var(x, axis=1, keepdims=True) + 1e-5)
            x = (x - mean) / std
        s = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, L))
        pad = self.n_in * w - L
        sp = ops.pad(s, ((0, 0), (pad, 0))) if pad else s
        z = self.embed(ops.reshape(sp, (-1, self.n_in, w)))
        outs = self.rnn(z, training=training)
        state = outs[1:]
        m = self.n_out
        q = ops.concatenate(
            [
                ops.broadcast_to(self.pos[None], (C, m, d - d // 2)),
                ops.broadcast_to(self.chan[:, None], (C, m, d // 2)),
            ],
            -1,
        )
        b = ops.shape(x)[0]
        q = ops.reshape(ops.broadcast_to(q[None], (b, C, m, d)), (-1, 1, d))
        init = [ops.reshape(ops.repeat(st[:, None], m, axis=1), (-1, d)) for st in state]
        hy = self.rnn(q, initial_state=init, training=training)[0]
        y = self.proj(self.drop(hy, training=training))
        y = ops.reshape(y, (-1, m * w))[:, :H]
        if self.mode == "linear":
            y = y * 0.0
        if self.skip is not None and self.mode != "rnn":
            y = y + self.alpha * self.skip(s)
        y = ops.transpose(ops.reshape(y, (-1, C, H)), (0, 2, 1))
        if self.revin:
            y = y * std + mean
        return y


def type3(base, hold=3, decay=0.8):
    # SegRNN utils/tools.py "type3": full rate for the first epochs, then x0.8 per epoch.
    return lambda epoch, lr: base * decay ** max(0, epoch - hold)


def mse_on(model, ds):
    se, n = 0.0, 0
    for xb, yb in ds:
        p = model(xb, training=False)
        se += float(tf.reduce_sum((p - yb) ** 2))
        n += int(np.prod(yb.shape))
    return se / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", default="ett")
    ap.add_argument("--lookback", type=int, default=336)
    ap.add_argument("--horizon", type=int, default=96)
    ap.add_argument("--seg", type=int, default=48)
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--revin", type=int, default=1)
    ap.add_argument(
        "--skip", default="none", choices=["none", "ls_frozen", "ls_train", "ls_scaled", "zero"]
    )
    ap.add_argument("--loss", default="mae")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sched", default="type3", choices=["type3", "const", "cosine"])
    ap.add_argument("--clipnorm", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--test", type=int, default=0)
    ap.add_argument("--cell", default="gru")
    ap.add_argument("--emb_std", type=float, default=0.05)
    a = ap.parse_args()

    keras.utils.set_random_seed(a.seed)
    if a.data == "ett":
        scaled, plan, cols = load(ETT, "date", [8640, 2880, 2880], a.lookback, a.horizon)
    else:
        scaled, plan, cols = load(DAILY, "Date", [0.7, 0.1, 0.2], a.lookback, a.horizon)
    C = scaled.shape[1]
    tr_starts = plan.starts("train")[:: a.stride]

    def ds(starts, shuffle):
        return sd.window_dataset(
            scaled,
            starts,
            a.lookback,
            a.horizon,
            C,
            a.batch if shuffle else 512,
            shuffle=shuffle,
            seed=a.seed,
        )

    train, val = ds(tr_starts, True), ds(plan.starts("validation"), False)
    layer = SegRNN(
        a.lookback,
        a.horizon,
        C,
        a.units,
        a.seg,
        a.dropout,
        bool(a.revin),
        None if a.skip == "none" else a.skip,
        cell=a.cell,
        emb_std=a.emb_std,
    )
    inp = keras.Input((a.lookback, C))
    model = keras.Model(inp, layer(inp))
    w_ls, b_ls = ls_skip(scaled, plan, bool(a.revin))
    if a.skip.startswith("ls"):
        layer.skip.set_weights([w_ls, b_ls])
        layer.proj.set_weights([np.zeros_like(v) for v in layer.proj.get_weights()])
        if a.skip == "ls_frozen" or a.skip == "ls_scaled":
            layer.skip.trainable = False
    opt = keras.optimizers.Adam(a.lr, clipnorm=a.clipnorm or None)
    model.compile(opt, a.loss)

    # LS linear baseline (RevIN space if revin) on the same windows.
    def ls_mse(name):
        xv, yv = sd.window_arrays(scaled, plan.starts(name), a.lookback, a.horizon, C)
        xt = np.transpose(xv, (0, 2, 1)).astype(np.float64)
        if a.revin:
            mu = xt.mean(2, keepdims=True)
            sg = np.sqrt(xt.var(2, keepdims=True) + 1e-5)
            pl = ((xt - mu) / sg) @ w_ls + b_ls
            pl = pl * sg + mu
        else:
            pl = xt @ w_ls + b_ls
        return float(np.mean((np.transpose(pl, (0, 2, 1)) - yv) ** 2))

    ls_val = ls_mse("validation")

    hist, times, best, best_w, wait = [], [], None, None, 0
    if a.sched == "cosine":
        steps = a.epochs * len(list(train))
        opt.learning_rate = keras.optimizers.schedules.CosineDecay(a.lr, steps)
    for ep in range(a.epochs):
        if a.sched == "type3":
            opt.learning_rate.assign(type3(a.lr)(ep, a.lr))
        t0 = time.perf_counter()
        h = model.fit(train, epochs=1, verbose=0)
        times.append(time.perf_counter() - t0)
        v = mse_on(model, val)
        hist.append(round(v, 5))
        print(
            f"  ep{ep + 1} train_{a.loss} {h.history['loss'][-1]:.4f} val_mse {v:.4f} "
            f"{times[-1]:.1f}s",
            flush=True,
        )
        if best is None or v < best[0]:
            best, best_w, wait = (v, ep + 1), model.get_weights(), 0
        else:
            wait += 1
            if wait >= a.patience:
                break
    model.set_weights(best_w)
    out = {
        "name": a.name,
        "args": vars(a),
        "val_mse_per_epoch": hist,
        "best_epoch": best[1],
        "val_mse": round(best[0], 5),
        "s_per_epoch": round(float(np.median(times)), 1),
        "train_windows": len(tr_starts),
        "ls_linear_val_mse": round(ls_val, 5),
    }
    if layer.skip is not None:
        layer.mode = "linear"
        out["own_linear_part_val_mse"] = round(mse_on(model, val), 5)
        layer.mode = "full"
        if a.skip == "ls_scaled":
            out["alpha"] = float(layer.alpha.numpy())
    if a.test:
        test = ds(plan.starts("test"), False)
        out["test_mse"] = round(mse_on(model, test), 5)
        out["ls_linear_test_mse"] = round(ls_mse("test"), 5)
        if layer.skip is not None:
            layer.mode = "linear"
            out["own_linear_part_test_mse"] = round(mse_on(model, test), 5)
            layer.mode = "full"
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out), flush=True)
    with open(Path(__file__).with_name("results.jsonl"), "a") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
