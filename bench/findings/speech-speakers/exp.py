"""Speaker-disjoint FSDD prototype: on-the-fly waveform augmentation in tf.data, per-batch features,
CMVN / PCEN, BiGRU with mean/attention pooling. Screening: train 4 speakers, validate on a 5th."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--test", default="lucas")
p.add_argument("--val", default="nicolas")
p.add_argument("--norm", default="cmvn", choices=["global", "cmn", "cmvn", "pcen"])
p.add_argument("--speed", type=float, nargs=2, default=None)  # e.g. 0.85 1.15
p.add_argument("--vtlp", type=float, default=0.0)  # e.g. 0.1 -> alpha in [0.9, 1.1]
p.add_argument("--snr", type=float, nargs=2, default=None)  # e.g. 10 30 dB
p.add_argument("--noise_p", type=float, default=1.0)
p.add_argument("--shift", type=float, default=0.0)  # seconds of random leading silence, max
p.add_argument(
    "--trim_db", type=float, default=0.0
)  # endpointing: drop lead/trail frames this far below the loudest
p.add_argument(
    "--pad", type=float, default=0.0
)  # seconds, max, of random trailing silence (training)
p.add_argument("--gain", type=float, default=0.0)  # dB, +-
p.add_argument("--specaug", type=int, nargs=4, default=[0, 10, 0, 8])  # tmasks tw fmasks fw
p.add_argument("--units", type=int, default=64)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--pool", default="mean", choices=["mean", "attention", "meanmax"])
p.add_argument("--dropout", type=float, default=0.2)
p.add_argument("--smooth", type=float, default=0.0)
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--patience", type=int, default=0)  # 0: run all epochs, keep best val weights
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--cosine", action="store_true")
p.add_argument("--batch", type=int, default=32)
p.add_argument("--mel", type=int, default=40)
p.add_argument("--seed", type=int, default=1337)
p.add_argument("--eval_test", action="store_true")
p.add_argument("--tag", default="")
p.add_argument("--out", default=str(Path(__file__).with_name("results.jsonl")))
a = p.parse_args()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import tensorflow as tf

keras.utils.set_random_seed(a.seed)
SR, FL, FS, FFT = 8000, 200, 80, 256
d = np.load(Path(__file__).with_name("fsdd_cache.npz"))
offsets = np.concatenate([[0], np.cumsum(d["lengths"])])
allw = d["wave"]  # load once: every d["wave"] re-reads the whole array
waves = [allw[offsets[i] : offsets[i + 1]] for i in range(len(d["lengths"]))]
labels, speakers, LENS = d["labels"], d["speakers"], d["lengths"]
tr = np.where((speakers != a.test) & (speakers != a.val))[0]
va = np.where(speakers == a.val)[0]
te = np.where(speakers == a.test)[0]
assert a.test != a.val
MEL = tf.signal.linear_to_mel_weight_matrix(a.mel, FFT // 2 + 1, SR, 20.0, SR / 2)
NBINS = FFT // 2 + 1


def features(wave, lengths, alpha=None):
    """[B, N] zero-padded waves + lengths -> [B, T, mel] log-mel (or PCEN), frames past end = 0."""
    wave = tf.pad(wave, [[0, 0], [0, tf.maximum(FL - tf.shape(wave)[1], 0)]])
    stft = tf.signal.stft(wave, FL, FS, FFT, window_fn=tf.signal.hann_window, pad_end=False)
    power = tf.square(tf.abs(stft))
    if (
        alpha is not None
    ):  # VTLP: output bin f reads input bin h(f); piecewise linear, Nyquist fixed
        f = tf.range(NBINS, dtype=tf.float32)[None, :]
        nyq = float(NBINS - 1)
        f0 = 0.8 * nyq * tf.minimum(alpha[:, None], 1.0)
        low = f / alpha[:, None]
        high = f0 / alpha[:, None] + (f - f0) * (nyq - f0 / alpha[:, None]) / (nyq - f0)
        src = tf.clip_by_value(tf.where(f <= f0, low, high), 0.0, nyq)  # [B, F]
        i0 = tf.cast(tf.floor(src), tf.int32)
        i1 = tf.minimum(i0 + 1, NBINS - 1)
        w = (src - tf.cast(i0, tf.float32))[:, None, :]
        g0 = tf.gather(power, i0, axis=2, batch_dims=1)
        g1 = tf.gather(power, i1, axis=2, batch_dims=1)
        power = g0 * (1 - w) + g1 * w
    mel = tf.tensordot(power, MEL, 1)
    if a.norm == "pcen":
        # PCEN (Wang et al. 2017): AGC by an IIR-smoothed energy, then root compression.
        s, al, delta, r, eps = 0.04, 0.98, 2.0, 0.5, 1e-6
        mel = mel * 1e4  # FSDD levels are small; PCEN's delta assumes energies of order 1+

        def step(m_prev, e):
            return (1 - s) * m_prev + s * e

        tm = tf.transpose(mel, [1, 0, 2])
        sm = tf.scan(step, tm, initializer=tm[0])
        sm = tf.transpose(sm, [1, 0, 2])
        feats = tf.pow(mel / tf.pow(eps + sm, al) + delta, r) - delta**r
    else:
        feats = tf.math.log(mel + 1e-6)
    frames = tf.maximum(1 + (lengths - FL) // FS, 1)
    T = tf.shape(feats)[1]
    valid = tf.sequence_mask(frames, T)
    if a.trim_db > 0:
        # Endpointing: keep the span from the first to the last frame within trim_db of the clip's
        # loudest frame, shifted to start at frame 0 (right-padded masks stay cuDNN-friendly).
        energy = 10.0 * tf.math.log(tf.reduce_sum(power, -1) + 1e-10) / tf.math.log(10.0)
        energy = tf.where(valid, energy, -1e9)
        loud = energy > tf.reduce_max(energy, 1, keepdims=True) - a.trim_db
        pos = tf.range(T)[None, :]
        first = tf.reduce_min(tf.where(loud, pos, T), 1)
        last = tf.reduce_max(tf.where(loud, pos, -1), 1)
        idx = tf.minimum(first[:, None] + pos, T - 1)
        feats = tf.gather(feats, idx, axis=1, batch_dims=1)
        frames = last - first + 1
        valid = tf.sequence_mask(frames, T)
    return feats * tf.cast(valid, feats.dtype)[:, :, None]


def augment(wave, label):
    """One training clip, changed in voice/level/timing but not in word."""
    n = tf.shape(wave)[0]
    if a.speed:
        r = tf.random.uniform([], a.speed[0], a.speed[1])  # speed (Ko et al. 2015): resample
        m = tf.cast(tf.floor(tf.cast(n - 1, tf.float32) / r), tf.int32) + 1
        pos = tf.range(m, dtype=tf.float32) * r
        i0 = tf.minimum(tf.cast(tf.floor(pos), tf.int32), n - 1)
        i1 = tf.minimum(i0 + 1, n - 1)
        w = pos - tf.cast(i0, tf.float32)
        wave = tf.gather(wave, i0) * (1 - w) + tf.gather(wave, i1) * w
    if a.shift > 0:
        k = tf.random.uniform([], 0, int(a.shift * SR) + 1, dtype=tf.int32)
        wave = tf.concat([tf.zeros([k]), wave], 0)
    if a.pad > 0:
        k = tf.random.uniform([], 0, int(a.pad * SR) + 1, dtype=tf.int32)
        wave = tf.concat([wave, tf.zeros([k])], 0)
    if a.gain > 0:
        wave = wave * tf.pow(10.0, tf.random.uniform([], -a.gain, a.gain) / 20)
    if a.snr:
        snr = tf.random.uniform([], a.snr[0], a.snr[1])
        power = tf.reduce_mean(tf.square(wave)) + 1e-10
        noise = tf.random.normal(tf.shape(wave)) * tf.sqrt(power / tf.pow(10.0, snr / 10))
        keep = tf.cast(tf.random.uniform([]) < a.noise_p, tf.float32)
        wave = wave + keep * noise
    return wave, label


def batch_features(wave, lengths, label):
    alpha = tf.random.uniform([tf.shape(wave)[0]], 1 - a.vtlp, 1 + a.vtlp) if a.vtlp else None
    return features(wave, lengths, alpha), label


def onehot(y):
    return tf.one_hot(y, 10)


def eval_frames(idx):
    out = []
    order = np.argsort(LENS[idx])
    feats = [None] * len(idx)
    fn = tf.function(features)
    for s in range(0, len(idx), 128):
        ch = order[s : s + 128]
        L = np.array([len(waves[idx[i]]) for i in ch])
        W = np.zeros((len(ch), L.max()), np.float32)
        for r_, i in enumerate(ch):
            W[r_, : L[r_]] = waves[idx[i]]
        F = fn(tf.constant(W), tf.constant(L, tf.int32)).numpy()
        for r_, i in enumerate(ch):
            nz = np.where(np.any(F[r_] != 0, axis=1))[0]
            feats[i] = F[r_, : nz[-1] + 1] if len(nz) else F[r_, :1]
    return feats


def frames_ds(feats, y):
    rag = tf.RaggedTensor.from_row_lengths(np.concatenate(feats), [len(f) for f in feats])
    return tf.data.Dataset.from_tensor_slices((rag, y)).map(
        lambda x, y: (x.to_tensor() if isinstance(x, tf.RaggedTensor) else x, onehot(y))
    )


t0 = time.time()
tr_feats = eval_frames(tr)
va_ds = frames_ds(eval_frames(va), labels[va]).cache().padded_batch(128).prefetch(2)
te_ds = frames_ds(eval_frames(te), labels[te]).cache().padded_batch(128).prefetch(2)


# global statistics from training speakers only, after the per-utterance step
def utt(f):
    if a.norm == "cmn":
        return f - f.mean(0)
    if a.norm == "cmvn":
        return (f - f.mean(0)) / np.sqrt(f.var(0) + 1e-3)
    return f


allf = np.concatenate([utt(f) for f in tr_feats])
mean, var = allf.mean(0), allf.var(0)
augmenting = bool(a.speed or a.snr or a.shift or a.gain or a.vtlp)
lens_tr = np.array([len(f) for f in tr_feats])
bounds = sorted({int(q) for q in np.quantile(lens_tr, [0.2, 0.4, 0.6, 0.8])})
if augmenting:
    rag = tf.RaggedTensor.from_row_lengths(np.concatenate([waves[i] for i in tr]), LENS[tr])
    base = tf.data.Dataset.from_tensor_slices((rag, labels[tr])).cache()
    wbounds = [b * FS + FL for b in bounds]
    train_ds = (
        base.shuffle(len(tr), seed=a.seed, reshuffle_each_iteration=True)
        .map(
            lambda x, y: augment(x.to_tensor() if isinstance(x, tf.RaggedTensor) else x, y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .map(lambda x, y: (x, tf.shape(x)[0], y))
        .bucket_by_sequence_length(
            lambda x, n, y: n, [b + 1 for b in wbounds], [a.batch] * (len(wbounds) + 1)
        )
        .map(lambda x, n, y: batch_features(x, n, y), num_parallel_calls=tf.data.AUTOTUNE)
        .map(lambda x, y: (x, onehot(y)))
        .prefetch(tf.data.AUTOTUNE)
    )
else:
    train_ds = (
        frames_ds(tr_feats, labels[tr])
        .cache()
        .shuffle(len(tr), seed=a.seed, reshuffle_each_iteration=True)
        .bucket_by_sequence_length(
            lambda x, y: tf.shape(x)[0], [b + 1 for b in bounds], [a.batch] * (len(bounds) + 1)
        )
        .prefetch(tf.data.AUTOTUNE)
    )
prep_s = time.time() - t0

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protolayers import AttentionPool, SpecAug, UttNorm

inp = keras.Input((None, a.mel))
x = keras.layers.Masking(0.0)(inp)
if a.norm in ("cmn", "cmvn"):
    x = UttNorm(variance=a.norm == "cmvn")(x)
x = keras.layers.Normalization(mean=mean, variance=np.maximum(var, 1e-6))(x)
if a.specaug[0] or a.specaug[2]:
    x = SpecAug(*a.specaug)(x)
for i in range(a.layers):
    x = keras.layers.Bidirectional(keras.layers.GRU(a.units, return_sequences=True))(x)
if a.pool == "mean":
    x = keras.layers.GlobalAveragePooling1D()(x)
elif a.pool == "attention":
    x = AttentionPool()(x)
else:
    x = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling1D()(x), keras.layers.GlobalMaxPooling1D()(x)]
    )
x = keras.layers.Dropout(a.dropout)(x)
out = keras.layers.Dense(10, activation="softmax")(x)
model = keras.Model(inp, out)
steps = int(np.ceil(len(tr) / a.batch)) + 5
lr = (
    keras.optimizers.schedules.CosineDecay(a.lr, a.epochs * steps, alpha=0.05) if a.cosine else a.lr
)
model.compile(
    keras.optimizers.Adam(lr, clipnorm=1.0),
    keras.losses.CategoricalCrossentropy(label_smoothing=a.smooth),
    metrics=["accuracy"],
)


class Timer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, e, logs=None):
        self.t = time.time()

    def on_epoch_end(self, e, logs=None):
        self.times.append(time.time() - self.t)


timer = Timer()
cbs = [
    timer,
    keras.callbacks.EarlyStopping(
        "val_accuracy", patience=a.patience or 10**6, restore_best_weights=True, mode="max"
    ),
]
t1 = time.time()
h = model.fit(train_ds, validation_data=va_ds, epochs=a.epochs, callbacks=cbs, verbose=0)
train_s = time.time() - t1
va_acc = h.history["val_accuracy"]
best = int(np.argmax(va_acc))
# training-only throughput: epoch time minus validation pass is small; report examples/s of epochs 2+
ep = np.array(timer.times[1:]) if len(timer.times) > 1 else np.array(timer.times)
res = dict(
    tag=a.tag,
    args=vars(a),
    val_best=float(max(va_acc)),
    val_last=float(va_acc[-1]),
    best_epoch=best + 1,
    epochs_run=len(va_acc),
    val_curve=[round(v, 3) for v in va_acc],
    ex_per_s=float(len(tr) / np.median(ep)),
    prep_s=round(prep_s, 1),
    train_s=round(train_s, 1),
    still_improving=bool(best >= len(va_acc) - 2),
)
if a.eval_test:
    res["test"] = float(model.evaluate(te_ds, verbose=0)[1])
print(json.dumps({k: v for k, v in res.items() if k != "args"}))
with open(a.out, "a") as f:
    f.write(json.dumps(res) + "\n")
