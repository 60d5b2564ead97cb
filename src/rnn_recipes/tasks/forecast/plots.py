"""Forecast plots: error by horizon step, test windows, and a predicted future."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...report import _pyplot
from .config import Config
from .data import Prepared


def plots(config: Config, data: Prepared, metrics: dict[str, Any], folder) -> None:
    plt = _pyplot()
    test = metrics["test"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    steps = np.arange(1, config.model.horizon + 1)
    ax.plot(steps, test["per_step"]["mse"], label="model", linewidth=2)
    for name, b in test["baselines"].items():
        if "per_step" in b:
            ax.plot(steps, b["per_step"]["mse"], label=name.replace("_", " "), alpha=0.8)
    ax.set_xlabel("horizon step")
    ax.set_ylabel("test MSE (scaled)")
    ax.set_title("error by horizon step")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "error_by_horizon.png", dpi=110)
    plt.close(fig)

    if data.test_forecast is None:
        return
    k, lb, h = len(data.targets), config.model.lookback, config.model.horizon
    starts = data.sample_starts("test")  # the windows test_forecast holds
    picks = np.linspace(0, len(starts) - 1, num=min(3, len(starts))).astype(int)
    cols = min(k, 3)
    fig, axes = plt.subplots(len(picks), cols, figsize=(5 * cols, 2.6 * len(picks)), squeeze=False)
    show = min(lb, 2 * h)  # the recent past, not the whole lookback
    # The x axis is the series' own time column, as in predict's plot: row numbers said nothing
    # about when, and their fractional ticks ran into each other.
    times = np.array(data.times, dtype="datetime64[s]")
    for r, p in enumerate(picks):
        s = starts[p]
        for j in range(cols):
            ax = axes[r, j]
            past = np.arange(s + lb - show, s + lb)
            future = np.arange(s + lb, s + lb + h)
            ax.plot(times[past], data.values[past, j], color="0.4", label="history")
            ax.plot(times[future], data.values[future, j], color="black", label="actual")
            pred = data.test_forecast[p, :, j] * data.scaler.std[j] + data.scaler.mean[j]
            ax.plot(times[future], pred, color="tab:red", label="forecast")
            ax.set_title(f"{data.targets[j]}, test window {p + 1}", fontsize=9)
            ax.grid(alpha=0.3)
            _time_axis(ax)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "forecast_examples.png", dpi=110)
    plt.close(fig)


def _time_axis(ax) -> None:
    """Few, short date ticks (matplotlib's concise format: the date once, then hours)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=5)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(axis="x", labelsize=8)


def plot_forecast(path, table, targets, values, future, forecast, lookback) -> None:
    plt = _pyplot()
    k = len(targets)
    fig, axes = plt.subplots(k, 1, figsize=(9, 2.6 * k), squeeze=False)
    past = table.times[-lookback:]
    for j, name in enumerate(targets):
        ax = axes[j, 0]
        ax.plot(past, values[-lookback:, j], color="0.3", label="history")
        ax.plot(future, forecast[:, j], color="tab:red", label="forecast")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
