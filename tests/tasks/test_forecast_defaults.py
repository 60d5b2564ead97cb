"""Issue 12: season, lookback and segment length derived from the series when left at 0."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import tomllib

from rnn_recipes.config import load_config
from rnn_recipes.data import series as series_data
from rnn_recipes.tasks.forecast import baselines, defaults
from rnn_recipes.tasks.forecast import data as forecast_data
from tests.conftest import invoke
from tests.makers import write_series

HOUR, DAY = 3600.0, 86400.0


def hourly(days: int = 120, seed: int = 0) -> np.ndarray:
    """Two channels with a daily cycle and a weekend dip (a weekly cycle), plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    weekly = np.where((t // 24) % 7 >= 5, -3.0, 0.0)
    a = 10 * np.sin(2 * np.pi * t / 24) + weekly + rng.normal(0, 1, len(t))
    b = 4 * np.cos(2 * np.pi * t / 24) + 2 * weekly + rng.normal(0, 0.5, len(t))
    return np.stack([a, b], axis=1)


def daily_yearly(years: int = 8, seed: int = 0) -> np.ndarray:
    """A daily series with a yearly cycle and persistent weather noise, no weekly cycle."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(years * 365))
    noise = np.zeros(len(t))
    for i in range(1, len(t)):
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 1.5)
    return (11 + 4 * np.cos(2 * np.pi * t / 365) + noise)[:, None]


def ar1(n: int = 2500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = 0.95 * x[i - 1] + rng.normal()
    return x[:, None]


def test_hourly_series_gets_daily_season_two_weeks_and_two_day_segments():
    d = defaults.derive(0, 0, 0, 96, hourly(), HOUR)
    assert d.values == {"season": 24, "lookback": 336, "segment_length": 48}
    assert set(d.prominence) == {24, 168}
    assert min(d.prominence.values()) > defaults.MIN_PROMINENCE
    assert "168" in d.reasons["lookback"] and "336/48 = 7 steps" in d.reasons["segment_length"]


def test_short_daily_series_gets_the_yearly_season_not_a_week():
    d = defaults.derive(0, 60, 0, 7, daily_yearly(), DAY)
    assert d.values == {"season": 365, "segment_length": 8}  # lookback was set: kept
    assert d.prominence[7] < defaults.MIN_PROMINENCE < d.prominence[365]
    assert "fewer than 4 times" in d.reasons["segment_length"]
    # Left to itself it reads two years, in eight segments (not two segments of a year each).
    d = defaults.derive(0, 0, 0, 7, daily_yearly(), DAY)
    assert d.values == {"season": 365, "lookback": 730, "segment_length": 92}


def test_smooth_series_without_a_cycle_gets_no_season():
    d = defaults.derive(0, 0, 0, 7, ar1(), DAY)
    assert d.values["season"] is None and "no cycle" in d.reasons["season"]
    assert d.values["lookback"] == 28 and d.values["segment_length"] == 4


def test_set_values_are_kept_and_not_explained():
    d = defaults.derive(24, 96, 12, 24, hourly(), HOUR)
    assert d.values == {} and d.reasons == {} and d.prominence == {}


def test_lookback_is_cut_to_a_third_of_the_training_rows():
    # 480 rows: only the day is a candidate (three weeks do not fit); the horizon (200) is longer
    # than two days, so the lookback would be the horizon, and a third of the rows is less.
    d = defaults.derive(0, 0, 0, 200, hourly(days=20), HOUR)
    assert d.values["season"] == 24 and d.values["lookback"] == 160
    assert "a third" in d.reasons["lookback"]


def test_seasonal_naive_reaches_back_beyond_the_lookback():
    series = np.arange(1000, dtype=np.float64)[:, None]
    starts = np.array([400, 401])
    got = baselines.seasonal_naive_from_series(series, starts, 60, 7, 1, 365)
    # origin 460: row 460 + h is forecast with row 460 + h - 365
    np.testing.assert_array_equal(got[0, :, 0], np.arange(95, 102))
    # A horizon longer than the season repeats whole seasons, never reading past the origin.
    got = baselines.seasonal_naive_from_series(series, starts[:1], 10, 7, 1, 3)
    np.testing.assert_array_equal(got[0, :, 0], [407, 408, 409, 407, 408, 409, 407])


@pytest.mark.parametrize(
    "kind, expect",
    [
        ("hourly", {"season": 24, "lookback": 336, "segment_length": 48}),
        ("daily", {"season": 365, "lookback": 60, "segment_length": 8}),
    ],
)
def test_run_logs_derived_choices_and_records_them(tmp_path: Path, kind, expect):
    """A short daily series and an hourly one get different choices, logged with their reason,
    written to config.toml (predict reads them) and to metrics.json."""
    if kind == "hourly":
        values, step = hourly(days=60), dt.timedelta(hours=1)
        sets = ["--set", "model.horizon=24"]
    else:
        values, step = daily_yearly(years=5), dt.timedelta(days=1)
        sets = ["--set", "model.horizon=7", "--set", "model.lookback=60"]
    start = dt.datetime(2020, 1, 1)
    stamps = [(start + k * step).isoformat(sep=" ") for k in range(len(values))]
    header = ("date", *"abc"[: values.shape[1]])
    path = write_series(tmp_path / f"{kind}.csv", stamps, values, header=header)
    out = tmp_path / "run"
    result = invoke(
        "run", "forecast", "--data", path, *sets,
        "--set", "model.units=8", "--set", "train.verbose=quiet", "--epochs", "1", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for key, value in expect.items():
        if key == "lookback" and kind == "daily":
            continue  # set on the command line: not derived, not logged
        section = "data" if key == "season" else "model"
        assert f"{section}.{key} = {value}: " in result.output
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["data"]["season"] == expect["season"]
    assert config["model"]["lookback"] == expect["lookback"]
    assert config["model"]["segment_length"] == expect["segment_length"]
    metrics = json.loads((out / "metrics.json").read_text())
    derived = metrics["data"]["derived"]
    assert derived["season"]["value"] == expect["season"] and derived["season"]["reason"]
    assert metrics["test"]["lookback"] == expect["lookback"]
    naive = metrics["test"]["baselines"]["seasonal_naive"]
    assert naive["season"] == expect["season"]  # daily: 365 > lookback 60, read from the series
    # predict reads the derived lookback back from the run folder.
    result = invoke("predict", out, path, "-o", tmp_path / "forecasts")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "forecasts" / f"{kind}-forecast.csv").is_file()


def test_make_datasets_fills_the_config(tmp_path: Path):
    values = hourly(days=60)
    start = dt.datetime(2020, 1, 1)
    stamps = [(start + dt.timedelta(hours=k)).isoformat(sep=" ") for k in range(len(values))]
    path = write_series(tmp_path / "h.csv", stamps, values, header=("date", "a", "b"))
    cfg = load_config("forecast", sets=[f"data.path={path}", "model.horizon=24"]).config
    assert (cfg.model.lookback, cfg.model.segment_length, cfg.data.season) == (0, 0, 0)
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    assert (cfg.model.lookback, cfg.model.segment_length, cfg.data.season) == (336, 48, 24)
    assert data.plan.lookback == 336 and data.season == 24
    assert series_data.step_name(data.step) == "1h"


def test_summary_says_when_the_model_loses_to_a_baseline():
    test = {
        "mse": 0.5,
        "mae": 0.5,
        "windows": 10,
        "baselines": {"repeat_last": {"mse": 0.9}, "linear": {"mse": 0.4}},
        "beats": {"repeat_last": True, "linear": False},
    }
    line = baselines.summary(test)
    assert "beats repeat-last" in line and "does NOT beat linear" in line
    test["beats"]["linear"] = True
    assert "NOT" not in baselines.summary(test)
