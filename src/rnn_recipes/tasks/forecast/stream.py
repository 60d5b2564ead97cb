"""Forecast data that does not fit in memory: the series on disk, windows cut inside tf.data.

The CSV files are read a block of rows at a time (:func:`~rnn_recipes.data.series.
read_series_to_disk`, the same checks and messages as reading them whole) into the run folder's
``cache/``: the timestamps and every value column, then the selected input columns (the fill
policy applied one column at a time; the file of every column is then removed) and the same
columns z-scored with float32, all as memmaps.
The scaler's mean and spread come from two passes over the training rows, a block at a time.

A window is a start row into the scaled memmap: the training pipeline walks a fresh permutation
of the start rows every epoch (``tf.random.experimental.index_shuffle``: a full shuffle that holds
no index) and gathers each batch of windows from the memmap; validation walks every window in
order. Nothing is cached: windows are views.

What needs NumPy arrays of windows (the least-squares fits of the linear baseline and of
``linear_map``, the baselines, and the test metrics that compare the model with them) works on an
evenly spaced sample of at most ``data.sample_windows`` windows per split
(:meth:`StreamPrepared.sample_starts`), so their memory is bounded by that setting. The season
and lookback are derived from the last ``DERIVE_ROWS`` training rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..._lazy import tf
from ...data import series as series_data
from ...data.cache import cache_folder
from ...data.files import expand_paths
from . import defaults
from .config import Config
from .data import Prepared, Spec, _path, log_loaded, train_batch

# Rows of the scaled series written (and statistics summed) per block.
BLOCK_ROWS = 262144
# Season and lookback are derived from at most this many of the last training rows: three
# yearly cycles of hourly data (3 x 8,760), with room to spare; more only costs memory.
DERIVE_ROWS = 100_000


def stream_decision(config: Config) -> tuple[bool, str]:
    """Whether to stream, and the log line saying why ("" when ``data.stream = false``)."""
    d = config.data
    if d.stream is False:
        return False, ""
    if d.stream is True:
        return True, "streaming: data.stream = true"
    files = [p for p in expand_paths(_path(config), "data.path") if p.is_file()]
    total = sum(os.stat(p).st_size for p in files) / 2**20
    size = f"{total / 1024:.1f} GB" if total >= 1024 else f"{total:.1f} MB"
    if total > d.stream_above_mb:
        return True, f"streaming: {size} of data files > data.stream_above_mb={d.stream_above_mb:g}"
    return False, f"in memory: {size} of data files <= data.stream_above_mb={d.stream_above_mb:g}"


@dataclass
class StreamPrepared(Prepared):
    """Prepared data whose ``times``, ``values`` and ``scaled`` are memmaps in ``cache/``."""

    sample_limit: int = 0  # data.sample_windows

    def sample_starts(self, name: str) -> np.ndarray:
        """At most ``data.sample_windows`` start rows of ``name``, evenly spaced, in order."""
        first, _ = self.plan.span[name]
        n = self.plan.windows(name)
        if n <= self.sample_limit:
            return first + np.arange(n)
        return first + np.unique(np.linspace(0, n - 1, self.sample_limit).round().astype(np.int64))


def _fill_inputs(config: Config, disk, inputs: list[str], folder) -> np.ndarray:
    """The input columns, the fill policy applied, as a float64 memmap [rows, inputs].

    One column at a time (a column of the series in memory at once, not the table).
    """
    table = disk.series
    rows = table.rows
    out = np.memmap(folder / "values.f64", dtype=np.float64, mode="w+", shape=(rows, len(inputs)))
    for j, name in enumerate(inputs):
        col = series_data.fill_missing(
            np.asarray(table.values[name])[:, None], [name], config.data.fill, table.source
        )
        out[:, j] = col[:, 0]
        del col
    out.flush()
    return np.memmap(folder / "values.f64", dtype=np.float64, mode="r", shape=out.shape)


def _scaler(values: np.ndarray, train_end: int) -> series_data.Scaler:
    """:meth:`Scaler.fit` on the training rows, in blocks: the mean, then the spread about it."""
    total = np.zeros(values.shape[1])
    for a in range(0, train_end, BLOCK_ROWS):
        total += values[a : min(a + BLOCK_ROWS, train_end)].sum(axis=0)
    mean = total / train_end
    squares = np.zeros(values.shape[1])
    for a in range(0, train_end, BLOCK_ROWS):
        squares += ((values[a : min(a + BLOCK_ROWS, train_end)] - mean) ** 2).sum(axis=0)
    std = np.sqrt(squares / train_end)
    constant = [int(j) for j in np.flatnonzero(std < 1e-12)]
    return series_data.Scaler(mean=mean, std=np.where(std < 1e-12, 1.0, std), constant=constant)


def _scaled(values: np.ndarray, scaler: series_data.Scaler, folder) -> np.ndarray:
    out = np.memmap(folder / "scaled.f32", dtype=np.float32, mode="w+", shape=values.shape)
    for a in range(0, len(values), BLOCK_ROWS):
        out[a : a + BLOCK_ROWS] = scaler.transform(values[a : a + BLOCK_ROWS])
    out.flush()
    return np.memmap(folder / "scaled.f32", dtype=np.float32, mode="r", shape=values.shape)


def window_pipeline(
    scaled: np.ndarray,
    starts,
    lookback: int,
    horizon: int,
    n_targets: int,
    batch_size: int,
    shuffle_seed: int | None = None,
):
    """(x [b, lookback, channels], y [b, horizon, n_targets]) batches gathered from a memmap.

    Args:
        starts: ``(first, count)`` for every window of a split, or an array of start rows.
        shuffle_seed: set: a new permutation of the windows every epoch (held by no index).
    """
    channels = scaled.shape[1]
    offsets = np.arange(lookback + horizon)
    if isinstance(starts, tuple):
        first, count = starts
        ds = tf.data.Dataset.range(count)
        if shuffle_seed is not None:
            # A fresh seed per iteration (epoch), then a stateless permutation of [0, count).
            seeds = tf.data.Dataset.random(seed=shuffle_seed, rerandomize_each_iteration=True)
            ds = seeds.take(1).flat_map(
                lambda r: tf.data.Dataset.range(count).map(
                    lambda i: tf.random.experimental.index_shuffle(
                        i, tf.stack([r, tf.constant(shuffle_seed, tf.int64)]), count - 1
                    )
                )
            )
        ds = ds.map(lambda i: i + first)
    else:
        ds = tf.data.Dataset.from_tensor_slices(np.asarray(starts, dtype=np.int64))

    def gather(s: np.ndarray) -> np.ndarray:
        return np.asarray(scaled[s[:, None] + offsets[None, :]], dtype=np.float32)

    def windows(s):
        w = tf.numpy_function(gather, [s], tf.float32, stateful=False)
        w.set_shape([None, lookback + horizon, channels])
        return w[:, :lookback, :], w[:, lookback:, :n_targets]

    ds = ds.batch(batch_size).map(windows, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_datasets(config: Config, log: Callable[[str], None] = print) -> StreamPrepared:
    """The forecast pipelines over a series kept on disk (see the module docstring)."""
    d, m, t = config.data, config.model, config.train
    folder = cache_folder("forecast-series")
    disk = series_data.read_series_to_disk(
        _path(config),
        d.time_column,
        folder,
        encoding=d.encoding,
        delimiter=d.delimiter,
        header=d.header,
    )
    table = disk.series
    inputs, targets = series_data.select_columns(table, d.target_columns, d.input_columns)
    values = _fill_inputs(config, disk, inputs, folder)
    # Only the inputs are used from here: the file of every value column goes (the timestamps
    # stay, for the logs, metrics.json and the plots).
    del disk
    table.values = {}
    (folder / "raw.f64").unlink()
    rows = len(values)
    counts = series_data.split_counts(d.split, rows)
    tail = np.asarray(values[max(0, counts[0] - DERIVE_ROWS) : counts[0], : len(targets)])
    derived = defaults.derive(d.season, m.lookback, m.segment_length, m.horizon, tail, table.step)
    del tail
    for key, value in derived.values.items():
        setattr(d if key == "season" else m, key, value or 0)
    plan = series_data.plan_splits(counts, m.lookback, m.horizon)

    first, last = series_data.to_datetime(table.times[0]), series_data.to_datetime(table.times[-1])
    note = f" (the last {DERIVE_ROWS:,} training rows)" if rows > DERIVE_ROWS else ""
    log_loaded(table, rows, (first, last), inputs, targets, derived, log, note)

    scaler = _scaler(values, plan.rows["train"][1])
    if scaler.constant:
        names = ", ".join(inputs[j] for j in scaler.constant)
        log(f"  constant in the training rows (scaled with spread 1): {names}")
    scaled = _scaled(values, scaler, folder)

    split_counts = {}
    for name in series_data.SPLITS:
        a, b = plan.rows[name]
        split_counts[name] = {"rows": b - a, "windows": plan.windows(name)}
        log(
            f"  {name:<10} {b - a:>6} rows {a}-{b - 1}, "
            f"{plan.windows(name):>6} windows of {m.lookback} + {m.horizon}"
        )
    log(
        f"  streaming: the series is on disk (the run folder's cache/), windows gathered per "
        f"batch; fits, baselines and test metrics on at most {d.sample_windows:,} evenly spaced "
        "windows per split"
    )
    batch = train_batch(t.batch_size, plan.windows("train"), log)
    prepared = StreamPrepared(
        train=None,
        validation=None,
        test=None,
        counts=split_counts,
        train_examples=plan.windows("train"),
        spec=Spec(inputs, targets, scaler.mean, scaler.std),
        source=table.source,
        inputs=inputs,
        targets=targets,
        times=table.times,
        values=values,
        scaled=scaled,
        scaler=scaler,
        plan=plan,
        step=table.step,
        gaps=table.gaps,
        season=d.season or None,
        derived=derived,
        sample_limit=d.sample_windows,
    )
    k, eval_batch = len(targets), max(t.batch_size, 256)

    def pipeline(name: str, size: int, **options):
        span = (plan.span[name][0], plan.windows(name))  # every window of the split
        return window_pipeline(scaled, span, m.lookback, m.horizon, k, size, **options)

    prepared.train = pipeline("train", batch, shuffle_seed=t.seed)
    prepared.validation = pipeline("validation", eval_batch)
    # The test pipeline is the sample the baselines are scored on, so the model's forecasts and
    # theirs are compared on the same windows.
    prepared.test = window_pipeline(
        scaled, prepared.sample_starts("test"), m.lookback, m.horizon, k, eval_batch
    )
    return prepared
