"""Forecast data: read the series, split it chronologically, scale it, cut it into windows.

``data.path`` is a CSV with ``data.time_column`` and numeric columns; ``data.target_columns``
(default: every numeric column) are forecast, ``data.input_columns`` (default: the targets) are
read, the extra ones as covariates. Splits are consecutive row ranges (``data.split``); the
scaler is fitted on the training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...config import PKG_PREFIX, resolve_pkg_path
from ...data import series as series_data
from .. import base
from . import defaults
from .config import Config


@dataclass
class Spec:
    """The explicit sizes and statistics the forecast model is built from."""

    inputs: list[str]  # input channels; the first len(targets) of them are the targets
    targets: list[str]
    mean: np.ndarray  # training mean of every input channel (the export scales with it)
    std: np.ndarray  # training spread of every input channel


@dataclass
class Prepared(base.Prepared):
    """Pipelines of scaled (x [b, lookback, inputs], y [b, horizon, targets]) windows, and the
    series they were cut from (for baselines, plots and metrics.json)."""

    source: str
    inputs: list[str]  # input channels; the first len(targets) of them are the targets
    targets: list[str]
    times: list  # datetime of every row
    values: np.ndarray  # [rows, inputs] in original units (after the fill policy)
    scaled: np.ndarray  # [rows, inputs] z-scored with the training statistics
    scaler: series_data.Scaler
    plan: series_data.SplitPlan
    step: float | str
    gaps: int
    season: int | None
    derived: defaults.Derived  # settings derived from the series (left at 0 by the user)
    test_forecast: np.ndarray | None = None  # scaled model forecasts on the test windows
    linear: tuple | None = None  # the linear baseline (weights, ridges), once fitted
    skip_fit: dict = field(default_factory=dict)  # normalization -> least-squares map, once fitted
    blend_space: str | None = None  # the space of the blend's map, chosen after training

    def sample_starts(self, name: str) -> np.ndarray:
        """The start rows of the windows that NumPy fits and baselines use: every window of the
        split here; a bounded, evenly spaced sample when streaming (:mod:`.stream`)."""
        return self.plan.starts(name)

    def windows(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Scaled NumPy windows of one split at :meth:`sample_starts`, in start order (the order
        of the tf.data test pipeline)."""
        p = self.plan
        return series_data.window_arrays(
            self.scaled, self.sample_starts(name), p.lookback, p.horizon, len(self.targets)
        )

    def window_chunks(self, name: str, channels: int | None = None):
        """:meth:`windows` in chunks (one pass, bounded memory: least-squares fits), of the
        first ``channels`` input channels (default: all)."""
        p = self.plan
        values = self.scaled if channels is None else self.scaled[:, :channels]
        return series_data.window_chunks(
            values, self.sample_starts(name), p.lookback, p.horizon, len(self.targets)
        )


def _path(config: Config) -> str | list[str]:
    def real(path: str) -> str:
        return str(resolve_pkg_path(path)) if path.startswith(PKG_PREFIX) else path

    path = config.data.path
    return [real(p) for p in path] if isinstance(path, list) else real(path)


def load_table(config: Config, path: str, what: str = "data file"):
    """Read a CSV with the run's data settings -> (Series, inputs, targets, values [rows, C])."""
    d = config.data
    table = series_data.read_series(
        path, d.time_column, encoding=d.encoding, delimiter=d.delimiter, what=what, header=d.header
    )
    inputs, targets = series_data.select_columns(table, d.target_columns, d.input_columns)
    values = np.stack([table.values[c] for c in inputs], axis=1)
    values = series_data.fill_missing(values, inputs, d.fill, table.source)
    return table, inputs, targets, values


MIN_STEPS = 30  # optimizer steps an epoch should keep: fewer and the decay outruns learning


def train_batch(batch_size: int, windows: int, log=None) -> int:
    """``batch_size``, halved (not below 16) while an epoch would have < MIN_STEPS steps; a
    changed size is logged (with ``log``) with the reason."""
    batch = batch_size
    while batch > 16 and windows < MIN_STEPS * batch:
        batch //= 2
    if log is not None and batch != batch_size:
        log(
            f"  batch size {batch} instead of {batch_size}: {windows} training "
            f"windows would give fewer than {MIN_STEPS} steps per epoch"
        )
    return batch


def log_loaded(table, rows: int, span, inputs, targets, derived, log, derived_note: str = ""):
    """The lines that say what was read: rows and time span, targets, covariates, unused
    columns and every derived setting with its reason (``derived_note`` appended)."""
    first, last = span
    gaps = f", {table.gaps} irregular gap(s) taken as one step" if table.gaps else ""
    log(f"Loaded {table.source}")
    log(
        f"  {rows} rows from {series_data.format_time(first, table.step)} to "
        f"{series_data.format_time(last, table.step)}, every "
        f"{series_data.step_name(table.step)}{gaps}"
    )
    covariates = inputs[len(targets) :]
    log(
        f"  targets: {', '.join(targets)}"
        + (f"; covariates: {', '.join(covariates)}" if covariates else "")
    )
    unused = [c for c in table.columns if c not in inputs]
    if unused:
        log(f"  not used: {', '.join(unused)}")
    for key, value in derived.values.items():
        section = "data" if key == "season" else "model"
        log(f"  {section}.{key} = {value or 'none'}: {derived.reasons[key]}{derived_note}")


def make_datasets(config: Config, log=print) -> Prepared:
    """Read and check the series, split it, fit the scaler on train, build the window pipelines.

    With ``data.stream`` (or "auto" and more data than ``data.stream_above_mb``) the series is
    kept on disk instead: :mod:`.stream`.
    """
    from . import stream

    streaming, why = stream.stream_decision(config)
    if why:
        log(why)
    if streaming:
        return stream.make_datasets(config, log)
    d, m, t = config.data, config.model, config.train
    table, inputs, targets, values = load_table(config, _path(config))
    counts = series_data.split_counts(d.split, table.rows)
    derived = defaults.derive(
        d.season,
        m.lookback,
        m.segment_length,
        m.horizon,
        values[: counts[0], : len(targets)],
        table.step,
    )
    # Derived settings become the run's own: config.toml, the model and predict read them.
    for key, value in derived.values.items():
        setattr(d if key == "season" else m, key, value or 0)
    plan = series_data.plan_splits(counts, m.lookback, m.horizon)
    season = d.season or None

    log_loaded(table, table.rows, (table.times[0], table.times[-1]), inputs, targets, derived, log)

    scaler = series_data.Scaler.fit(values[: plan.rows["train"][1]])
    if scaler.constant:
        names = ", ".join(inputs[j] for j in scaler.constant)
        log(f"  constant in the training rows (scaled with spread 1): {names}")
    scaled = scaler.transform(values).astype(np.float32)

    split_counts = {}
    for name in series_data.SPLITS:
        first, end = plan.rows[name]
        split_counts[name] = {"rows": end - first, "windows": plan.windows(name)}
        log(
            f"  {name:<10} {end - first:>6} rows {first}-{end - 1}, "
            f"{plan.windows(name):>6} windows of {m.lookback} + {m.horizon}"
        )

    batch = train_batch(t.batch_size, plan.windows("train"), log)

    def pipeline(name: str):
        return series_data.window_dataset(
            scaled,
            plan.starts(name),
            m.lookback,
            m.horizon,
            len(targets),
            batch if name == "train" else max(t.batch_size, 256),
            shuffle=name == "train",
            seed=t.seed,
        )

    return Prepared(
        train=pipeline("train"),
        validation=pipeline("validation"),
        test=pipeline("test"),
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
        season=season,
        derived=derived,
    )


def run_info(config: Config, data: Prepared) -> dict[str, Any]:
    """The ``data`` section of metrics.json: what was read and how it was scaled."""
    return {
        "data": {
            "source": data.source,
            "rows": len(data.times),
            "start": series_data.format_time(series_data.to_datetime(data.times[0]), data.step),
            "end": series_data.format_time(series_data.to_datetime(data.times[-1]), data.step),
            "frequency": series_data.step_name(data.step),
            "irregular_gaps": data.gaps,
            "season": data.season,
            "derived": data.derived.record(),
            "input_columns": data.inputs,
            "target_columns": data.targets,
            "split_rows": {k: list(v) for k, v in data.plan.rows.items()},
            "scaler": {
                c: {"mean": float(data.scaler.mean[j]), "std": float(data.scaler.std[j])}
                for j, c in enumerate(data.inputs)
            },
        }
    }
