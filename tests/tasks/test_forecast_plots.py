"""Forecast report plots: the test windows are drawn against the series' own time column."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np

from rnn_recipes import report
from rnn_recipes.tasks.forecast import plots


def _overlapping(labels) -> bool:
    boxes = [t.get_window_extent() for t in labels if t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_forecast_examples_use_the_time_column_with_readable_ticks(tmp_path, monkeypatch):
    lookback, horizon, rows = 48, 24, 400
    times = [dt.datetime(2024, 3, 1) + dt.timedelta(hours=i) for i in range(rows)]
    values = np.sin(np.arange(rows) / 24.0)[:, None]
    starts = np.arange(300, rows - lookback - horizon)
    data = SimpleNamespace(
        test_forecast=np.zeros((len(starts), horizon, 1)),
        targets=["load"],
        plan=SimpleNamespace(starts=lambda name: starts),
        sample_starts=lambda name: starts,  # the windows test_forecast holds
        values=values,
        scaler=SimpleNamespace(mean=np.zeros(1), std=np.ones(1)),
        times=times,
    )
    config = SimpleNamespace(model=SimpleNamespace(lookback=lookback, horizon=horizon))
    metrics = {"test": {"per_step": {"mse": np.ones(horizon)}, "baselines": {}}}
    figures = []
    monkeypatch.setattr(report._Figures, "close", staticmethod(figures.append))
    plots.plots(config, data, metrics, tmp_path)

    examples = figures[-1]
    assert (tmp_path / "forecast_examples.png").is_file()
    examples.canvas.draw()
    for ax in examples.axes:
        history = ax.get_lines()[0].get_xdata()
        assert np.issubdtype(np.asarray(history).dtype, np.datetime64)  # times, not row numbers
        ticks = ax.get_xticklabels()
        assert 2 <= sum(bool(t.get_text()) for t in ticks) <= 6
        assert not _overlapping(ticks), [t.get_text() for t in ticks]
    first = examples.axes[0].get_lines()[0].get_xdata()[0]
    s = starts[0]
    assert first == np.datetime64(times[s + lookback - min(lookback, 2 * horizon)])
