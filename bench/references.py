"""Strong hand-written Keras references: what a careful Keras engineer writes for each task.

Same architecture as each benchmark's ``REF_ARCH`` (forecast: the recipe's own default SegRNN,
:func:`segrnn_model`), same batch size, same data and split as the recipe; the obvious
optimisations a Keras expert applies by hand and nothing more:

- features or token ids computed ONCE and kept in memory (no per-epoch vectorising or STFT);
- batches of similar length (``tf.data.Dataset.bucket_by_sequence_length``), padded only to the
  longest item of the batch, never to a global maximum;
- forecast windows gathered per batch from one array (no materialised copy of every window).

Each reference returns the training examples/s of its LAST epoch (epoch 2 by default: epoch 1
pays for tracing), timed like the recipe's ``TrainTimer`` (validation excluded), plus the test
accuracy or MSE so a reader sees the reference learns. Running ``python -m bench.references``
prints all three on the shared data.

Batching modes (sentiment and speech):

- ``"mask"``: post-padding + mask (the main strong reference; cuDNN-eligible on GPU);
- ``"prepad"``: pre-padding, no mask (the keras-io habit; the LAST state of a forward RNN is a
  real step, the backward direction reads padding last: faster on CPU, slightly different model);
- ``"exact"`` (sentiment only): batches of exactly one length, no padding and no mask at all.

tf.data's autotuning is off in the timed ``fit`` (``--autotune`` turns it back on), as in the
recipes' pipelines: with it on, deleting an iterator, which ``fit`` does every epoch, can stall
the whole process for 5-10 s (TensorFlow 2.21; ``rnn_recipes.compat.without_autotune``). Both
sides of a comparison run alike, so a ratio measures the training, not which side drew a stall.
"""

from __future__ import annotations

import re
import time
import warnings
import wave
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODES = ("mask", "prepad", "exact")
AUTOTUNE = False  # tf.data autotuning in the timed fit (``--autotune``); see the module docstring


def _autotune_option(dataset):
    """``dataset`` with tf.data's autotuning as :data:`AUTOTUNE` says."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = AUTOTUNE
    return dataset.with_options(options)


# ---------------------------------------------------------------------------------------------
# shared pieces


def _keras():
    import keras

    return keras


class EpochTimer:
    """Seconds of the training part of each epoch (validation excluded), as ``TrainTimer``."""

    def __new__(cls):
        keras = _keras()

        class _Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self.cpu_seconds: list[float] = []
                self._start: float | None = None
                self._cpu_start = 0.0

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()
                self._cpu_start = time.process_time()

            def on_test_begin(self, logs=None):
                if self._start is not None:
                    self.seconds.append(time.perf_counter() - self._start)
                    self.cpu_seconds.append(time.process_time() - self._cpu_start)
                    self._start = None

            def on_epoch_end(self, epoch, logs=None):
                self.on_test_begin()

        return _Timer()


def _train_and_test(model, data: dict[str, Any], epochs: int, metric: str) -> dict[str, Any]:
    """:func:`fit_timed` on ``data["train"]``, then the test figure under ``metric``: the last
    compiled metric, or the loss when the model compiled none."""
    speed = fit_timed(model, data["train"], data["examples"], epochs)
    result = model.evaluate(data["test"], verbose=0)
    value = result[-1] if isinstance(result, list) else result
    return {**speed, metric: float(value), "examples": data["examples"]}


def fit_timed(
    model, train, examples: int, epochs: int, validation=None, callbacks: list | None = None
) -> dict[str, Any]:
    """``model.fit`` for ``epochs``; examples/s of the last epoch and of all epochs together.

    Args:
        model: a compiled Keras model.
        train: the training ``tf.data.Dataset`` (one pass = one epoch).
        examples: training examples per epoch.
        epochs: epochs to run (the last one is the measured one; use >= 2).
        validation: optional validation dataset (its passes are not timed).
        callbacks: more Keras callbacks (e.g. a learning-rate schedule).
    """
    timer = EpochTimer()
    train = _autotune_option(train)
    validation = None if validation is None else _autotune_option(validation)
    with warnings.catch_warnings():
        # Bucketed pipelines have no known size; Keras calls the end of epoch 1 "ran out of data".
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        model.fit(
            train,
            epochs=epochs,
            validation_data=validation,
            callbacks=[timer, *(callbacks or [])],
            shuffle=False,  # the pipelines shuffle themselves
            verbose=0,
        )
    return {
        "examples_per_s": examples / timer.seconds[-1],
        "examples_per_s_all_epochs": epochs * examples / sum(timer.seconds),
        "epoch_seconds": [round(s, 3) for s in timer.seconds],
        # Process CPU time (all threads): moves less than wall time on a shared machine.
        "examples_per_cpu_s": examples / timer.cpu_seconds[-1],
        "epoch_cpu_seconds": [round(s, 3) for s in timer.cpu_seconds],
        "tf_data_autotune": AUTOTUNE,
    }


def bucket_bounds(lengths: np.ndarray, buckets: int) -> list[int]:
    """Upper length bounds (exclusive) of ``buckets`` buckets at equal quantiles of ``lengths``."""
    qs = np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in qs if q >= 1})


def bucketed(examples, lengths: np.ndarray, batch_size: int, seed: int, mode: str, buckets: int):
    """Shuffled batches of similar (or, with ``mode="exact"``, equal) length.

    Args:
        examples: a cached ``tf.data.Dataset`` of ``(sequence [time, ...], label)``, unpadded.
        lengths: each example's length, in order (for the bucket boundaries).
        batch_size: examples per batch.
        seed: shuffle seed (reshuffled every epoch).
        mode: ``"mask"`` or ``"prepad"`` (padded to the batch's longest, right or left) or
            ``"exact"`` (one length per batch, no padding).
        buckets: number of length buckets for the padded modes.
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")

    def length(x, y):
        return tf.shape(x)[0]

    def exact_key(x, y):
        return tf.cast(tf.shape(x)[0], tf.int64)

    def one_batch(key, window):
        return window.batch(batch_size)

    ds = examples.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
    if mode == "exact":
        ds = ds.group_by_window(exact_key, one_batch, window_size=batch_size)
        return ds.prefetch(tf.data.AUTOTUNE)
    if mode == "prepad":  # reversed, right-padded, reversed back: left-padded
        ds = ds.map(_reverse_time)
    bounds = bucket_bounds(lengths, buckets)
    ds = ds.bucket_by_sequence_length(
        length, bucket_boundaries=bounds, bucket_batch_sizes=[batch_size] * (len(bounds) + 1)
    )
    if mode == "prepad":
        ds = ds.map(_reverse_batch_time)
    return ds.prefetch(tf.data.AUTOTUNE)


def _reverse_time(x, y):
    import tensorflow as tf

    return tf.reverse(x, [0]), y


def _reverse_batch_time(x, y):
    import tensorflow as tf

    return tf.reverse(x, [1]), y


def _ragged_examples(sequences: list[np.ndarray], labels: np.ndarray):
    """A cached dataset of unpadded ``(sequence, label)`` from a list of arrays (one copy)."""
    import tensorflow as tf

    ragged = tf.RaggedTensor.from_row_lengths(
        np.concatenate(sequences), [len(s) for s in sequences]
    )
    ds = tf.data.Dataset.from_tensor_slices((ragged, labels))
    return ds.map(_dense).cache()


def _dense(x, y):
    """A ragged element as a dense tensor (slices of a 2-D ragged tensor may already be)."""
    return x.to_tensor() if hasattr(x, "to_tensor") else x, y


def _padded_eval(sequences: list[np.ndarray], labels: np.ndarray, batch: int, mode: str):
    """Evaluation batches padded to each batch's longest (right, or left for ``prepad``)."""

    ds = _ragged_examples(sequences, labels)
    if mode == "prepad":
        return ds.map(_reverse_time).padded_batch(batch).map(_reverse_batch_time)
    return ds.padded_batch(batch)


def _holdout(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: 10% held out, like the recipe's validation_split."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = n // 10
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# ---------------------------------------------------------------------------------------------
# sentiment


def read_rt_polarity(folder: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """rt-polarity fold 0: test = 0-based line index % 10 == 0 of each file, train the rest."""
    out: dict[str, tuple[list[str], list[int]]] = {"train": ([], []), "test": ([], [])}
    for name, label in (("rt-polarity.pos", 1), ("rt-polarity.neg", 0)):
        text = (Path(folder) / name).read_text(encoding="cp1252")
        lines = [x.strip() for x in text.split("\n") if x.strip()]
        for i, line in enumerate(lines):
            texts, labels = out["test" if i % 10 == 0 else "train"]
            texts.append(line)
            labels.append(label)
    return {k: (t, np.array(y, np.int32)) for k, (t, y) in out.items()}


def token_sequences(vectorizer, texts: list[str]) -> list[np.ndarray]:
    """Unpadded token ids per text, vectorised once (in chunks of 4096)."""
    import tensorflow as tf

    out: list[np.ndarray] = []
    for start in range(0, len(texts), 4096):
        ids = vectorizer(tf.constant(texts[start : start + 4096])).numpy()
        lengths = (ids != 0).sum(axis=1)  # 0 is padding only; out-of-vocabulary is 1
        # An empty text would be a zero-length sequence; keep one padding id so it batches.
        out.extend(row[: max(n, 1)] for row, n in zip(ids, lengths))
    return out


def sentiment_data(
    splits: dict[str, tuple[list[str], np.ndarray]],
    batch_size: int = 32,
    seed: int = 0,
    mode: str = "mask",
    buckets: int = 8,
    max_tokens: int = 20000,
) -> dict[str, Any]:
    """Vocabulary adapted on train, ids computed once, bucketed training batches.

    Returns ``{"train", "validation", "test"}`` datasets, ``"examples"`` (training examples),
    ``"vocabulary"`` (size) and ``"lengths"`` (training lengths).
    """
    keras = _keras()
    texts, labels = splits["train"]
    train_idx, val_idx = _holdout(len(texts), seed)
    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens)
    vectorizer.adapt([texts[i] for i in train_idx])
    seqs = token_sequences(vectorizer, texts)
    lengths = np.array([len(seqs[i]) for i in train_idx])
    train_examples = _ragged_examples([seqs[i] for i in train_idx], labels[train_idx])
    test_texts, test_labels = splits["test"]
    eval_mode = "prepad" if mode == "prepad" else "mask"
    return {
        "train": bucketed(train_examples, lengths, batch_size, seed, mode, buckets),
        "validation": _padded_eval([seqs[i] for i in val_idx], labels[val_idx], 256, eval_mode),
        "test": _padded_eval(token_sequences(vectorizer, test_texts), test_labels, 256, eval_mode),
        "examples": len(train_idx),
        "vocabulary": vectorizer.vocabulary_size(),
        "lengths": lengths,
    }


def sentiment_model(vocabulary: int, mask: bool, embedding_dim: int = 128, units: int = 64):
    """bench/sentiment.py's REF_ARCH: Embedding(128) -> 2 x BiLSTM(64) -> last state -> sigmoid."""
    keras = _keras()
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocabulary, embedding_dim, mask_zero=mask)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(units))(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def sentiment(
    folder: Path = DATA / "sentiment" / "rt-polarity",
    epochs: int = 2,
    seed: int = 0,
    mode: str = "mask",
    buckets: int = 8,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Strong reference for the sentiment benchmark (rt-polarity fold 0).

    Args:
        folder: holds rt-polarity.pos and rt-polarity.neg.
        epochs: training epochs; the last one is timed.
        seed: split, shuffle and weight seed.
        mode: ``"mask"`` (main), ``"prepad"`` or ``"exact"`` (see the module docstring).
        buckets: length buckets of the padded modes.
        batch_size: the benchmark's 32.

    Returns:
        examples/s of the last epoch (and of all epochs), epoch seconds, test accuracy.
    """
    keras = _keras()
    keras.utils.set_random_seed(seed)
    data = sentiment_data(read_rt_polarity(folder), batch_size, seed, mode, buckets)
    model = sentiment_model(data["vocabulary"], mask=mode == "mask")
    return {**_train_and_test(model, data, epochs, "accuracy"), "mode": mode}


# ---------------------------------------------------------------------------------------------
# speech

FSDD_NAME = re.compile(r"^(?P<label>\d)_(?P<speaker>[a-z]+)_(?P<index>\d+)\.wav$")


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def mfcc_frames(
    waves: list[np.ndarray],
    sample_rate: int = 8000,
    frame_length: float = 0.025,
    frame_step: float = 0.010,
    mel_bins: int = 40,
    fmin: float = 20.0,
    mfcc: int = 13,
) -> list[np.ndarray]:
    """MFCC frames per clip with tf.signal (REF_ARCH's 13 of 40 mel bands, 25 ms / 10 ms).

    Computed once per clip, unpadded; the frame settings are the speech task's defaults.
    """
    import tensorflow as tf

    length = int(round(frame_length * sample_rate))
    step = int(round(frame_step * sample_rate))
    fft = 2 ** int(np.ceil(np.log2(length)))
    mel = tf.signal.linear_to_mel_weight_matrix(
        mel_bins, fft // 2 + 1, sample_rate, fmin, sample_rate / 2
    )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)], reduce_retracing=True)
    def features(wave_):
        wave_ = tf.pad(wave_, [[0, tf.maximum(0, length - tf.shape(wave_)[0])]])
        power = tf.abs(tf.signal.stft(wave_, length, step, fft)) ** 2
        log_mel = tf.math.log(tf.tensordot(power, mel, 1) + 1e-6)
        return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[:, :mfcc]

    return [features(tf.constant(w)).numpy() for w in waves]


def read_fsdd(folder: Path) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """FSDD's official split: takes 0-4 test, the rest train; waveforms and digit labels."""
    out: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for path in sorted(Path(folder).glob("*.wav")):
        match = FSDD_NAME.match(path.name)
        if not match:
            continue
        waves, labels = out["test" if int(match["index"]) <= 4 else "train"]
        waves.append(_read_wav(path))
        labels.append(int(match["label"]))
    return {k: (w, np.array(y, np.int32)) for k, (w, y) in out.items()}


def speech_data(
    splits: dict[str, tuple[list[np.ndarray], np.ndarray]],
    batch_size: int = 32,
    seed: int = 0,
    mode: str = "mask",
    buckets: int = 8,
    sample_rate: int = 8000,
) -> dict[str, Any]:
    """MFCCs computed once, standardised with training statistics, bucketed training batches."""
    waves, labels = splits["train"]
    train_idx, val_idx = _holdout(len(waves), seed)
    feats = mfcc_frames(waves, sample_rate)
    stacked = np.concatenate([feats[i] for i in train_idx])
    mean, std = stacked.mean(axis=0), stacked.std(axis=0) + 1e-6
    feats = [((f - mean) / std).astype(np.float32) for f in feats]
    test = [((f - mean) / std).astype(np.float32) for f in mfcc_frames(splits["test"][0])]
    lengths = np.array([len(feats[i]) for i in train_idx])
    eval_mode = "prepad" if mode == "prepad" else "mask"
    examples = _ragged_examples([feats[i] for i in train_idx], labels[train_idx])
    return {
        "train": bucketed(examples, lengths, batch_size, seed, mode, buckets),
        "validation": _padded_eval([feats[i] for i in val_idx], labels[val_idx], 256, eval_mode),
        "test": _padded_eval(test, splits["test"][1], 256, eval_mode),
        "examples": len(train_idx),
        "features": feats[0].shape[1],
        "lengths": lengths,
    }


def speech_model(features: int, mask: bool, units: int = 64, classes: int = 10):
    """bench/speech.py's REF_ARCH: 2 x LSTM(64) (unidirectional) -> last state -> softmax.

    The mask comes from the padding frames: all-zero frames after standardisation (a real
    standardised frame is never exactly zero in every coefficient).
    """
    keras = _keras()
    inputs = keras.Input(shape=(None, features))
    x = keras.layers.Masking(0.0)(inputs) if mask else inputs
    x = keras.layers.LSTM(units, return_sequences=True)(x)
    x = keras.layers.LSTM(units)(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def speech(
    folder: Path = DATA / "speech" / "fsdd" / "recordings",
    epochs: int = 2,
    seed: int = 0,
    mode: str = "mask",
    buckets: int = 8,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Strong reference for the speech benchmark (FSDD, official split). Args as :func:`sentiment`
    (``mode`` is ``"mask"`` or ``"prepad"``)."""
    if mode == "exact":
        raise ValueError(
            "FSDD has ~94 distinct clip lengths (too many partial batches): use mode 'mask' or 'prepad'"
        )
    keras = _keras()
    keras.utils.set_random_seed(seed)
    data = speech_data(read_fsdd(folder), batch_size, seed, mode, buckets)
    model = speech_model(data["features"], mask=mode == "mask")
    return {**_train_and_test(model, data, epochs, "accuracy"), "mode": mode}


# ---------------------------------------------------------------------------------------------
# forecast


def window_batches(
    series: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    horizon: int,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
):
    """``(inputs [b, lookback, c], targets [b, horizon, c])`` gathered per batch from ONE array.

    The series is one constant; a batch is ``tf.gather`` of its start rows plus a range, so no
    window is copied before it is needed (keras' ``timeseries_dataset_from_array`` does the same
    gathering, but per window and with a ``map`` to split inputs from targets).
    """
    import tensorflow as tf

    values = tf.constant(series, tf.float32)
    offsets = tf.range(lookback + horizon)
    ds = tf.data.Dataset.from_tensor_slices(starts.astype(np.int32))
    if shuffle:
        ds = ds.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)

    def gather(first):
        windows = tf.gather(values, first[:, None] + offsets[None, :])
        return windows[:, :lookback], windows[:, lookback:]

    return (
        ds.batch(batch_size)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def forecast_data(
    values: np.ndarray,
    split: tuple[int, int, int] = (8640, 2880, 2880),
    lookback: int = 336,
    horizon: int = 96,
    batch_size: int = 128,
    seed: int = 0,
) -> dict[str, Any]:
    """Z-scored series (training statistics) and the protocol's windows per split.

    Validation and test windows start ``lookback`` rows before their split, as the recipe's.
    """
    n_train = split[0]
    mean, std = values[:n_train].mean(axis=0), values[:n_train].std(axis=0)
    scaled = ((values - mean) / std).astype(np.float32)
    out: dict[str, Any] = {"channels": values.shape[1]}
    first = 0
    for name, n in zip(("train", "validation", "test"), split):
        read_first = first if name == "train" else first - lookback
        starts = np.arange(read_first, first + n - lookback - horizon + 1)
        out[name] = window_batches(
            scaled, starts, lookback, horizon, batch_size, name == "train", seed
        )
        out[f"{name}_windows"] = len(starts)
        first += n
    out["examples"] = out["train_windows"]
    return out


def forecast_model(lookback: int, horizon: int, channels: int, units: int = 64):
    """bench/forecast.py's matched reference: LSTM(64) over every step -> Dense(H x C)."""
    keras = _keras()
    inputs = keras.Input(shape=(lookback, channels))
    x = keras.layers.LSTM(units)(inputs)
    x = keras.layers.Dense(horizon * channels)(x)
    outputs = keras.layers.Reshape((horizon, channels))(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def segrnn_model(
    lookback: int = 336,
    horizon: int = 96,
    channels: int = 7,
    units: int = 256,
    segment: int = 48,
    dropout: float = 0.5,
    learning_rate: float = 1e-3,
):
    """bench/forecast.py's matched reference: SegRNN (Lin et al. 2023) in plain Keras.

    The recipe's default model on ETTh1 written from the paper: each window's last value
    subtracted per channel (and added back), channels independent (folded into the batch), the
    lookback cut into segments of ``segment`` steps (zero-padded at the front) embedded by
    Dense(units, relu), a GRU(units) over the segments, and parallel decoding: one GRU step per
    output segment from the encoder's final state, its input a learnt [position ; channel]
    embedding (N(0, 1) at the start, as the paper's ``torch.randn``), then Dropout and
    Dense(segment). MAE loss, Adam, the test figure as a metric (MSE).
    """
    keras = _keras()
    ops = keras.ops
    n_in, n_out = -(-lookback // segment), -(-horizon // segment)
    half = units // 2

    class SegRNNReference(keras.Model):
        def __init__(self):
            super().__init__(name="segrnn_reference")
            self.embed = keras.layers.Dense(units, activation="relu")
            self.gru = keras.layers.GRU(units, return_state=True)
            self.drop = keras.layers.Dropout(dropout)
            self.project = keras.layers.Dense(segment)
            normal = keras.initializers.RandomNormal(stddev=1.0)
            self.position = self.add_weight(shape=(n_out, units - half), initializer=normal)
            self.channel = self.add_weight(shape=(channels, half), initializer=normal)

        def call(self, x, training=False):
            last = x[:, -1:, :]
            series = ops.reshape(ops.transpose(x - last, (0, 2, 1)), (-1, lookback))
            pad = n_in * segment - lookback
            if pad:
                series = ops.pad(series, ((0, 0), (pad, 0)))
            z = self.embed(ops.reshape(series, (-1, n_in, segment)))  # [b*c, n_in, units]
            _, state = self.gru(z, training=training)  # [b*c, units]
            query = ops.concatenate(
                [
                    ops.broadcast_to(self.position[None], (channels, n_out, units - half)),
                    ops.broadcast_to(self.channel[:, None], (channels, n_out, half)),
                ],
                axis=-1,
            )  # [c, n_out, units]
            batch = ops.shape(x)[0]
            query = ops.reshape(ops.tile(query[None], (batch, 1, 1, 1)), (-1, 1, units))
            state = ops.reshape(ops.repeat(state[:, None], n_out, axis=1), (-1, units))
            out, _ = self.gru(query, initial_state=state, training=training)
            y = self.project(self.drop(out, training=training))  # [b*c*n_out, segment]
            y = ops.reshape(y, (-1, channels, n_out * segment))[:, :, :horizon]
            return ops.transpose(y, (0, 2, 1)) + last

    model = SegRNNReference()
    model(np.zeros((1, lookback, channels), np.float32))  # builds every layer
    model.compile(keras.optimizers.Adam(learning_rate), "mae", metrics=["mse"])
    return model


def type3_schedule(learning_rate: float = 1e-3):
    """SegRNN's "type3" decay (the recipe's default): the base rate for 4 epochs, then x0.8."""
    keras = _keras()
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: learning_rate * 0.8 ** max(0, epoch - 3)
    )


def read_columns(path: Path, columns: list[str] | None) -> np.ndarray:
    """A CSV with a date column first: float32 values of ``columns`` (default: all)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    values = np.array([[float(x) for x in r[1:]] for r in rows[1:]], np.float32)
    return values[:, [names.index(c) for c in columns]] if columns else values


# The forecast references: "segrnn" is the matched one (the recipe's default model and
# training); "lstm" the keras-io weather example's LSTM(64) -> Dense(H x C), a labelled extra row.
FORECAST_ARCHS = ("segrnn", "lstm")


def forecast(
    path: Path = DATA / "timeseries" / "ett" / "ETTh1.csv",
    epochs: int = 2,
    seed: int = 0,
    columns: tuple[str, ...] | None = None,
    lookback: int = 336,
    horizon: int = 96,
    batch_size: int = 256,
    split: tuple[int, int, int] = (8640, 2880, 2880),
    arch: str = "segrnn",
    segment: int = 48,
    units: int = 256,
) -> dict[str, Any]:
    """Strong reference for the forecast speed comparison (ETTh1 M, 336 -> 96).

    ``arch="segrnn"`` (the matched reference): :func:`segrnn_model` with the recipe's default
    sizes (GRU(256), segments of 48, dropout 0.5), MAE, Adam(1e-3) with SegRNN's type3 decay,
    batch 256, all channels (``columns`` None). ``arch="lstm"``: :func:`forecast_model`,
    LSTM(64) -> Dense(H x C) on MSE. ``split`` is the protocol's train / validation / test rows
    (the first 14,400 of ETTh1); batches are gathered per batch from one array
    (:func:`window_batches`) and the validation passes are not timed.

    Returns:
        windows/s of the last epoch (and of all epochs), epoch seconds (wall and CPU), test MSE
        (scaled), trainable parameters.
    """
    if arch not in FORECAST_ARCHS:
        raise ValueError(f"arch must be one of {FORECAST_ARCHS}, not {arch!r}")
    keras = _keras()
    keras.utils.set_random_seed(seed)
    values = read_columns(path, list(columns) if columns else None)
    data = forecast_data(values, split, lookback, horizon, batch_size, seed)
    if arch == "segrnn":
        model = segrnn_model(lookback, horizon, data["channels"], units, segment)
        callbacks = [type3_schedule(1e-3)]
    else:
        model = forecast_model(lookback, horizon, data["channels"])
        callbacks = []
    speed = fit_timed(model, data["train"], data["examples"], epochs, data["validation"], callbacks)
    result = model.evaluate(data["test"], verbose=0)
    mse = result[-1] if isinstance(result, list) else result
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {
        **speed,
        "mse": float(mse),
        "examples": data["examples"],
        "arch": arch,
        "trainable_params": params,
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.references [TASK] [--mode M] [--epochs N] [--buckets B]``: one JSON line
    per reference run (with the load average before and after), for bench/profile_speed.py."""
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(prog="python -m bench.references")
    parser.add_argument(
        "task", nargs="?", choices=("sentiment", "speech", "forecast", "all"), default="all"
    )
    parser.add_argument("--mode", choices=MODES, default="mask")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--arch", choices=FORECAST_ARCHS, default="segrnn", help="forecast: which reference"
    )
    parser.add_argument("--data-root", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument(
        "--autotune",
        action="store_true",
        help="keep tf.data's autotuning on in the timed fit (stock tf.data; see the docstring)",
    )
    args = parser.parse_args(argv)
    global AUTOTUNE
    AUTOTUNE = args.autotune
    root = args.data_root
    runs = {
        "sentiment": lambda: sentiment(
            root / "sentiment" / "rt-polarity",
            epochs=args.epochs,
            seed=args.seed,
            mode=args.mode,
            buckets=args.buckets,
        ),
        "speech": lambda: speech(
            root / "speech" / "fsdd" / "recordings",
            epochs=args.epochs,
            seed=args.seed,
            mode=args.mode,
            buckets=args.buckets,
        ),
        "forecast": lambda: forecast(
            root / "timeseries" / "ett" / "ETTh1.csv",
            epochs=args.epochs,
            seed=args.seed,
            arch=args.arch,
            columns=("OT",) if args.arch == "lstm" else None,
            batch_size=128 if args.arch == "lstm" else 256,
        ),
    }
    for task in runs if args.task == "all" else [args.task]:
        load = os.getloadavg()[0]
        result = runs[task]()
        record = {"task": task, **result, "load_before": load, "load_after": os.getloadavg()[0]}
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
