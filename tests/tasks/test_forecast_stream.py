"""Forecast series larger than memory: the streaming pipeline (``data.stream``).

Fixtures are the generated hourly series of :func:`tests.makers.make_series`. The tests check
what streaming promises (the series read in blocks with the in-memory checks and messages, the
same scaler, splits and windows, every training window once per epoch in a new order, a bounded
sample for the NumPy fits, a model that trains, exports and predicts), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.data import series as series_data
from rnn_recipes.errors import RecipeError
from rnn_recipes.tasks.forecast import data as forecast_data
from rnn_recipes.tasks.forecast import stream
from tests.conftest import assert_clean_failure, invoke
from tests.makers import FORECAST_TINY as TINY
from tests.makers import make_series, write_series

QUIET = lambda *_: None  # noqa: E731


def _prepared(path: Path, *sets: str, log=QUIET):
    config = load_config("forecast", sets=[*TINY[1::2], f"data.path={path}", *sets]).config
    return forecast_data.make_datasets(config, log=log)


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    return write_series(tmp_path / "s.csv", *make_series(2000))


def _starts(ds) -> np.ndarray:
    """Each window's first value of channel 0: identifies the window within this series."""
    return np.concatenate([x.numpy()[:, 0, 0] for x, _ in ds])


def test_streamed_and_in_memory_give_the_same_scaler_splits_and_windows(series_csv: Path):
    memory = _prepared(series_csv, "data.stream=false")
    streamed = _prepared(series_csv, "data.stream=true", "data.sample_windows=100")
    assert isinstance(streamed, stream.StreamPrepared)
    assert isinstance(streamed.scaled, np.memmap) and isinstance(streamed.values, np.memmap)
    np.testing.assert_allclose(streamed.scaler.mean, memory.scaler.mean, rtol=1e-12)
    np.testing.assert_allclose(streamed.scaler.std, memory.scaler.std, rtol=1e-9)
    assert streamed.plan == memory.plan and streamed.step == memory.step
    assert streamed.derived.values == memory.derived.values
    np.testing.assert_allclose(np.asarray(streamed.scaled), memory.scaled, atol=1e-6)
    # Validation: every window, in order, as in memory.
    for (a, ya), (b, yb) in zip(memory.validation, streamed.validation):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
        np.testing.assert_allclose(ya.numpy(), yb.numpy(), atol=1e-6)
    # Training: every window exactly once per epoch, in a new order each epoch.
    first, second = _starts(streamed.train), _starts(streamed.train)
    every = np.sort(_starts(memory.train))
    np.testing.assert_allclose(np.sort(first), every, atol=1e-6)
    np.testing.assert_allclose(np.sort(second), every, atol=1e-6)
    assert not np.allclose(first, second)
    # NumPy windows (fits, baselines, test metrics): an evenly spaced sample of 100.
    starts = streamed.sample_starts("test")
    assert len(starts) == 100 and starts[0] == memory.plan.starts("test")[0]
    assert starts[-1] == memory.plan.starts("test")[-1]
    x, _ = streamed.windows("test")
    assert x.shape == (100, *memory.windows("test")[0].shape[1:])
    assert sum(len(y) for _, y in streamed.test) == 100
    # Above the split's window count, the sample is every window: the in-memory windows.
    whole = _prepared(series_csv, "data.stream=true", "data.sample_windows=100000")
    np.testing.assert_array_equal(whole.sample_starts("test"), memory.plan.starts("test"))
    np.testing.assert_allclose(whole.windows("train")[0], memory.windows("train")[0], atol=1e-6)


def test_block_reader_gives_read_series_values_and_messages(tmp_path: Path):
    stamps, values = make_series(700)
    values[5, 1] = np.nan
    path = write_series(tmp_path / "s.csv", stamps, values)
    whole = series_data.read_series(path, "date")
    folder = tmp_path / "disk"
    folder.mkdir()
    disk = series_data.read_series_to_disk(path, "date", folder, chunk_rows=64)
    got = disk.series
    assert got.rows == whole.rows and got.step == whole.step and got.columns == whole.columns
    assert [series_data.to_datetime(t) for t in got.times] == whole.times
    for name in whole.values:
        np.testing.assert_array_equal(np.asarray(got.values[name]), whole.values[name])

    def message(rows, name="bad.csv") -> tuple[str, str]:
        bad = tmp_path / name
        bad.write_text("date,a,b\n" + "".join(rows))
        with pytest.raises(RecipeError) as a:
            series_data.read_series(bad, "date")
        out = tmp_path / f"{name}.d"
        out.mkdir(exist_ok=True)
        with pytest.raises(RecipeError) as b:
            series_data.read_series_to_disk(bad, "date", out, chunk_rows=2)
        return str(a.value), str(b.value)

    ok = [f"2024-01-01 {h:02d}:00,{h},{h}\n" for h in range(8)]
    for rows in (
        [*ok[:5], ok[4], *ok[5:]],  # a repeated timestamp past the first blocks
        [*ok[:6], "2024-01-01 07:00,1\n"],  # too few fields
        [*ok[:6], "yesterday,1,2\n"],  # not a timestamp
    ):
        whole_message, disk_message = message(rows)
        assert disk_message == whole_message
    # A column with a non-number is reported by select_columns as in memory.
    bad = tmp_path / "mixed.csv"
    bad.write_text("date,a,b\n" + "".join(ok[:6]) + "2024-01-01 07:00,oops,1\n")
    out = tmp_path / "mixed.d"
    out.mkdir()
    disk = series_data.read_series_to_disk(bad, "date", out)
    assert disk.series.non_numeric == series_data.read_series(bad, "date").non_numeric


def test_fill_policies_stream_as_in_memory(tmp_path: Path):
    stamps, values = make_series(1500)
    values[[0, 1, 700, 701, 702], 0] = np.nan
    path = write_series(tmp_path / "gaps.csv", stamps, values)
    for fill in ("ffill", "interpolate"):
        memory = _prepared(path, f'data.fill="{fill}"', "data.stream=false")
        streamed = _prepared(path, f'data.fill="{fill}"', "data.stream=true")
        np.testing.assert_allclose(np.asarray(streamed.values), memory.values)
    with pytest.raises(RecipeError, match="missing value"):
        _prepared(path, "data.stream=true")


def test_auto_streams_above_the_size_threshold_and_says_why(series_csv: Path):
    lines: list[str] = []
    streamed = _prepared(series_csv, "data.stream_above_mb=0.01", log=lines.append)
    assert isinstance(streamed, stream.StreamPrepared)
    assert any(x.startswith("streaming: ") and "> data.stream_above_mb=0.01" in x for x in lines)
    lines.clear()
    assert not isinstance(_prepared(series_csv, log=lines.append), stream.StreamPrepared)
    assert any(x.startswith("in memory: ") for x in lines)


def test_streaming_run_trains_exports_and_predicts(tmp_path: Path):
    stamps, values = make_series(2000)
    data = write_series(tmp_path / "s.csv", stamps, values)
    out = tmp_path / "run"
    result = invoke(
        *["run", "forecast", "--data", data, *TINY, "--set", "data.stream=true"],
        *["--set", "data.sample_windows=100", "--epochs", "2", "-o", out],
    )
    assert result.exit_code == 0, result.output
    assert "streaming: data.stream = true" in result.output and "Test: MSE" in result.output
    # The series lived in cache/ while the run trained; the finished run does not keep it.
    assert "Removed the streaming cache (forecast-series: " in result.output
    assert not (out / "cache").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["windows"] == 100  # the sample the baselines are scored on
    # The blend is settled on a sample of the validation windows too (fewer than all of them).
    assert metrics["counts"]["validation"]["windows"] > 100
    assert 0 <= metrics["blend"]["rnn_weight"] <= 1 and "rnn_alone" in metrics["test"]
    assert metrics["data"]["start"] == "2024-03-01 00:00:00"
    assert (out / "plots" / "forecast_examples.png").is_file()
    recent = write_series(tmp_path / "recent.csv", stamps[-100:], values[-100:])
    result = invoke("predict", out, recent, "-o", tmp_path / "fc")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('data.stream="yes"', "data.stream"),
        ("data.sample_windows=0", "data.sample_windows must be at least 1"),
        ("data.stream_above_mb=0", "data.stream_above_mb must be above 0"),
    ],
)
def test_bad_streaming_settings_are_one_line(series_csv: Path, tmp_path: Path, setting, expected):
    result = invoke("run", "forecast", "--data", series_csv, "--set", setting, "-o", tmp_path / "r")
    assert_clean_failure(result, expected)
