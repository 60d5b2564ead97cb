"""Forecast serving: the exported signature, and predict / evaluate on an exported run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import tf
from ...data import series as series_data
from ...errors import RecipeError
from .baselines import baseline_forecasts, error_block, linear_baseline
from .config import Config
from .data import Prepared
from .plots import plot_forecast


def serving(config: Config, data: Prepared, full_model):
    """``serving_default``: raw windows [batch, lookback, inputs] -> forecasts in original units.

    Also returns the targets' training mean and spread (``target_mean``, ``target_std``,
    [batch, targets]) so a consumer can compute errors on the scaled data, as the report does,
    the column names (``input_columns``, ``target_columns``) the window and forecast follow, and
    the run's linear baseline forecast (``linear_baseline``, original units), so that
    ``rnn-recipes evaluate`` compares against the same baselines as metrics.json.
    """
    k = len(data.targets)
    mean = tf.constant(data.scaler.mean[:k], dtype=tf.float32)
    std = tf.constant(data.scaler.std[:k], dtype=tf.float32)
    input_names, target_names = tf.constant(data.inputs), tf.constant(data.targets)
    weights, _ = linear_baseline(data)  # per target: [lookback + 1, horizon], bias last
    kernel = tf.constant(np.stack([w[:-1] for w in weights]), dtype=tf.float32)  # [k, L, H]
    bias = tf.constant(np.stack([w[-1] for w in weights], axis=1), dtype=tf.float32)  # [H, k]

    def serve(window):
        batch = tf.shape(window)[0]
        scaled = (window[:, :, :k] - mean) / std
        linear = tf.einsum("blk,klh->bhk", scaled, kernel) + bias
        return {
            "forecast": full_model(window, training=False),
            "linear_baseline": linear * std + mean,
            "target_mean": tf.tile(mean[None], [batch, 1]),
            "target_std": tf.tile(std[None], [batch, 1]),
            "input_columns": tf.tile(input_names[None], [batch, 1]),
            "target_columns": tf.tile(target_names[None], [batch, 1]),
        }

    spec = tf.TensorSpec([None, config.model.lookback, len(data.inputs)], tf.float32, "window")
    return serve, [spec]


def serve_windows(serve, windows: np.ndarray, batch: int = 512) -> dict[str, np.ndarray]:
    """Run the exported signature over windows in batches -> its outputs, concatenated."""
    outs = []
    for start in range(0, len(windows), batch):
        chunk = tf.constant(windows[start : start + batch], dtype=tf.float32)
        outs.append(serve(window=chunk))
    return {key: np.concatenate([o[key].numpy() for o in outs]) for key in outs[0]}


def run_serving(
    serve, windows: np.ndarray, batch: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the exported signature in batches -> (forecasts, target mean, target std)."""
    out = serve_windows(serve, windows, batch)
    return out["forecast"], out["target_mean"][0], out["target_std"][0]


def model_columns(serve) -> tuple[list[str], list[str]]:
    """(input columns, target columns) the exported model was trained on, read from the model."""
    spec = serve.structured_input_signature[1]["window"]
    out = serve(window=tf.zeros([1, *spec.shape[1:]], tf.float32))
    names = [
        [c.decode("utf-8") for c in out[key].numpy()[0]]
        for key in ("input_columns", "target_columns")
    ]
    return names[0], names[1]


def _read_for_model(serve, config: Config, path: str):
    """Read a predict/evaluate CSV; it must have the training run's input columns."""
    table = series_data.read_series(
        path,
        config.data.time_column,
        encoding=config.data.encoding,
        delimiter=config.data.delimiter,
        what="input file",
        header=config.data.header,
    )
    inputs, targets = model_columns(serve)
    missing = [c for c in inputs if c not in table.columns]
    if missing:
        raise RecipeError(
            f"{path} lacks column(s) {', '.join(missing)} that the model was trained on; columns "
            f"found: {', '.join(table.columns)} (the model reads {', '.join(inputs)})"
        )
    series_data.select_columns(table, targets, inputs)  # numeric checks, one clear line each
    values = np.stack([table.values[c] for c in inputs], axis=1)
    values = series_data.fill_missing(values, inputs, config.data.fill, path)
    return table, inputs, targets, values


def predict(serve, config: Config, inputs: list[str], output=None) -> list[dict[str, Any]]:
    """Forecast the ``horizon`` steps after the end of each CSV; writes a CSV and a PNG per input.

    Files go to ``output`` (a folder; default: the current folder) as ``<name>-forecast.csv`` and
    ``<name>-forecast.png``; existing files of those names are an error, never replaced.
    """
    m = config.model
    prepared = []
    for path in inputs:  # check every input before writing anything
        table, names, targets, values = _read_for_model(serve, config, path)
        if table.rows < m.lookback:
            raise RecipeError(
                f"{path} has {table.rows} rows; the model needs the last {m.lookback} "
                "(model.lookback)"
            )
        if table.step == 0.0:
            raise RecipeError(f"{path} needs at least two rows to tell the time step")
        prepared.append((path, table, targets, values))
    stems: dict[str, str] = {}
    for path, *_ in prepared:  # two inputs must not write the same forecast file
        stem = Path(path).stem
        if stem in stems and stems[stem] != str(path):
            raise RecipeError(
                f"{stems[stem]} and {path} would both write {stem}-forecast.csv; rename one, or "
                "predict them in two commands with different --output folders"
            )
        stems[stem] = str(path)
    folder = Path(output) if output is not None else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise RecipeError(f"--output {folder} is a file; give a folder for the forecast files")
    for path, *_ in prepared:  # never replace files: they may be the user's, or older forecasts
        for existing in (folder / f"{Path(path).stem}-forecast.{ext}" for ext in ("csv", "png")):
            if existing.exists():
                raise RecipeError(
                    f"{existing} already exists; remove it or give another --output folder"
                )
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for path, table, targets, values in prepared:
        forecast, _, _ = run_serving(serve, values[None, -m.lookback :])
        future = series_data.future_times(table.times[-1], table.step, m.horizon)
        stamps = [series_data.format_time(t, table.step) for t in future]
        stem = Path(path).stem
        csv_path = folder / f"{stem}-forecast.csv"
        png_path = folder / f"{stem}-forecast.png"
        # The column as the file names it (a position given as data.time_column is no name).
        _write_forecast_csv(csv_path, table.time_column, stamps, targets, forecast[0])
        plot_forecast(png_path, table, targets, values, future, forecast[0], m.lookback)
        records.append(
            {
                "input": str(path),
                "forecast_csv": str(csv_path),
                "plot": str(png_path),
                "last_observed": series_data.format_time(table.times[-1], table.step),
                "timestamps": stamps,
                "forecast": {
                    c: [float(v) for v in forecast[0][:, j]] for j, c in enumerate(targets)
                },
            }
        )
    return records


def _write_forecast_csv(path: Path, time_column, stamps, targets, forecast) -> None:
    import csv

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([time_column, *targets])
        for stamp, row in zip(stamps, forecast):
            writer.writerow([stamp, *(f"{v:.6g}" for v in row)])
    tmp.replace(path)


def format_prediction(record: dict[str, Any]) -> str:
    steps = len(record["timestamps"])
    names = ", ".join(record["forecast"])
    return (
        f"{record['input']}: {steps} steps of {names} from {record['timestamps'][0]} -> "
        f"{record['forecast_csv']} (plot {record['plot']})"
    )


def evaluate_exported(serve, config: Config, path: str) -> dict[str, Any]:
    """Forecast every window of a labelled CSV with the exported model; errors vs baselines.

    Every window start of the file is used (``rows - lookback - horizon + 1`` windows). Scaled
    figures use the training run's statistics, returned by the exported signature.
    """
    m = config.model
    table, inputs, targets, values = _read_for_model(serve, config, path)
    need = m.lookback + m.horizon
    if table.rows < need:
        raise RecipeError(
            f"{path} has {table.rows} rows; evaluating needs at least lookback + horizon = {need}"
        )
    k = len(targets)
    starts = np.arange(table.rows - need + 1)
    x, y = series_data.window_arrays(values, starts, m.lookback, m.horizon, k)
    served = serve_windows(serve, x)
    forecast, mean, std = served["forecast"], served["target_mean"][0], served["target_std"][0]
    scale = lambda a: (a - mean) / std  # noqa: E731
    season = config.data.season or None  # the run detected it, or found none (0)
    block = error_block(scale(forecast), scale(y), mean, std, targets)
    block["windows"] = len(x)
    block["source"] = str(path)
    forecasts = baseline_forecasts(scale(x[:, :, :k]), m.horizon, k, season)
    # The run's own linear baseline travels in the export (runs exported before it did lack it).
    forecasts["linear"] = (
        scale(served["linear_baseline"])
        if "linear_baseline" in served
        else "this run's export has no linear baseline (exported by an older rnn-recipes)"
    )
    baselines = {}
    for name, pred in forecasts.items():
        baselines[name] = (
            {"skipped": pred}
            if isinstance(pred, str)
            else error_block(pred, scale(y), mean, std, targets)
        )
    block["baselines"] = baselines
    block["beats"] = {n: block["mse"] < b["mse"] for n, b in baselines.items() if "mse" in b}
    return block


def format_metrics(metrics: dict[str, Any]) -> list[str]:
    lines = [
        f"MSE {metrics['mse']:.4f}, MAE {metrics['mae']:.4f} (scaled); original units MSE "
        f"{metrics['original_mse']:.4g}, MAE {metrics['original_mae']:.4g} on "
        f"{metrics['windows']} windows"
    ]
    for name, b in metrics["baselines"].items():
        if "mse" in b:
            lines.append(f"  {name.replace('_', '-'):<15} MSE {b['mse']:.4f}  MAE {b['mae']:.4f}")
        else:
            lines.append(f"  {name.replace('_', '-'):<15} skipped: {b['skipped']}")
    width = max((len(c) for c in metrics["per_column"]), default=0)
    for name, c in metrics["per_column"].items():
        lines.append(
            f"  {name:<{width}}  MSE {c['mse']:.4f}  MAE {c['mae']:.4f}  (original units: MSE "
            f"{c['original_mse']:.4g}, MAE {c['original_mae']:.4g})"
        )
    return lines
