"""Time series reading, checks, fill policies, chronological splits and windows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import resolve_pkg_path
from rnn_recipes.data import series
from rnn_recipes.errors import RecipeError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def hourly(n: int, start: str = "2024-01-01 00:00:00") -> list[str]:
    t0 = dt.datetime.fromisoformat(start)
    return [(t0 + dt.timedelta(hours=i)).isoformat(sep=" ") for i in range(n)]


def test_reads_columns_step_and_non_numeric(tmp_path: Path):
    path = write(
        tmp_path / "s.csv",
        "date,a,b,label\n"
        "2024-01-01 00:00:00,1,2.5,x\n"
        "2024-01-01 01:00:00,,3,y\n"
        "2024-01-01 02:00:00,3,NaN,z\n",
    )
    s = series.read_series(path, "date")
    assert s.rows == 3 and s.columns == ["a", "b", "label"]
    assert s.numeric_columns == ["a", "b"]
    assert s.non_numeric == {"label": (1, "x")}
    np.testing.assert_array_equal(np.isnan(s.values["a"]), [False, True, False])
    assert np.isnan(s.values["b"][2])
    assert s.step == 3600 and s.gaps == 0 and series.step_name(s.step) == "1h"


def test_daily_series_with_missing_days_counts_gaps(tmp_path: Path):
    days = ["1984-12-29", "1984-12-30", "1985-01-01", "1985-01-02"]
    path = write(
        tmp_path / "d.csv",
        '"Date","Temp"\r\n' + "".join(f'"{d}",{i}\r\n' for i, d in enumerate(days)),
    )
    s = series.read_series(path, "Date")
    assert s.step == 86400 and s.gaps == 1
    assert series.step_name(s.step) == "1D"


def test_monthly_steps_and_future_times():
    times = [dt.datetime(2023, m, 1) for m in range(1, 13)]
    step, gaps = series.infer_step(times)
    assert step == series.MONTH and gaps == 0
    assert series.future_times(dt.datetime(2023, 12, 31), step, 2) == [
        dt.datetime(2024, 1, 31),
        dt.datetime(2024, 2, 29),
    ]
    assert series.future_times(dt.datetime(2024, 1, 1, 23), 3600, 2) == [
        dt.datetime(2024, 1, 2, 0),
        dt.datetime(2024, 1, 2, 1),
    ]
    assert series.step_name(900) == "15min"
    # Daily and monthly timestamps at midnight print as dates; hourly ones keep the time.
    assert series.format_time(dt.datetime(1991, 1, 1), 86400.0) == "1991-01-01"
    assert series.format_time(dt.datetime(1991, 1, 1), series.MONTH) == "1991-01-01"
    assert series.format_time(dt.datetime(1991, 1, 1), 3600.0) == "1991-01-01 00:00:00"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("time,a\n2024-01-01,1\n", "no time column 'date'; columns found: time, a"),
        ("date,a\n2024-01-01,1\nyesterday,2\n", "row 2 (line 3): cannot parse 'yesterday'"),
        ("date,a\n2024-01-02,1\n2024-01-01,2\n", "row 2 (line 3): timestamp 2024-01-01 goes back"),
        ("date,a\n2024-01-01,1\n2024-01-01,2\n", "row 2 (line 3): timestamp 2024-01-01 repeats"),
        ("date,a\n2024-01-01,1,9\n", "row 1 (line 2) has 3 fields but the header has 2"),
        ("date,a\n", "has a header but no rows"),
        ("", "is empty"),
    ],
)
def test_read_errors_name_the_row_and_the_fix(tmp_path: Path, text: str, fragment: str):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(RecipeError, match=None) as err:
        series.read_series(path, "date")
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_column_selection_puts_targets_first_and_checks_types(tmp_path: Path):
    path = write(tmp_path / "s.csv", "date,a,b,c,t\n2024-01-01,1,2,3,x\n2024-01-02,1,2,3,y\n")
    s = series.read_series(path, "date")
    assert series.select_columns(s, None, None) == (["a", "b", "c"], ["a", "b", "c"])
    assert series.select_columns(s, ["c"], ["a", "c"]) == (["c", "a"], ["c"])
    with pytest.raises(
        RecipeError, match="column 't' .* is not numeric: row 1 \\(line 2\\) has 'x'"
    ):
        series.select_columns(s, ["t"], None)
    with pytest.raises(RecipeError, match="no such column; columns found: a, b, c, t"):
        series.select_columns(s, ["zz"], None)
    with pytest.raises(RecipeError, match="must include every target"):
        series.select_columns(s, ["a"], ["b"])


def test_fill_policies():
    nan = np.nan
    values = np.array([[nan, 1.0], [2.0, 1.0], [nan, 1.0], [6.0, 1.0], [nan, 1.0]])
    with pytest.raises(
        RecipeError, match="column 'x' of f.csv has 3 missing value\\(s\\), the first at row 1"
    ):
        series.fill_missing(values, ["x", "y"], "none", "f.csv")
    ffill = series.fill_missing(values, ["x", "y"], "ffill", "f.csv")
    np.testing.assert_array_equal(ffill[:, 0], [2, 2, 2, 6, 6])
    interp = series.fill_missing(values, ["x", "y"], "interpolate", "f.csv")
    np.testing.assert_array_equal(interp[:, 0], [2, 2, 4, 6, 6])
    assert np.isnan(values[0, 0])  # the input is not changed


def test_split_counts_and_fractions():
    assert series.split_counts([8640, 2880, 2880], 17420) == [8640, 2880, 2880]
    assert series.split_counts([0.7, 0.1, 0.2], 1001) == [701, 100, 200]
    assert series.split_counts([0.5, 0.1, 0.1], 100) == [50, 10, 10]
    with pytest.raises(RecipeError, match="asks for 30 rows .* but the file has 20"):
        series.split_counts([10, 10, 10], 20)
    with pytest.raises(RecipeError, match="add up to 1.2"):
        series.split_counts([0.7, 0.3, 0.2], 100)
    with pytest.raises(RecipeError, match="mixes row counts and fractions"):
        series.split_counts([70, 0.5, 20], 100)


def test_every_test_target_is_forecast_exactly_once_per_window_start():
    lookback, horizon = 7, 3
    plan = series.plan_splits([40, 12, 10], lookback, horizon)
    assert plan.rows == {"train": (0, 40), "validation": (40, 52), "test": (52, 62)}
    for name in series.SPLITS:
        first, end = plan.rows[name]
        starts = plan.starts(name)
        # Window k reads [s, s+lookback) and forecasts [s+lookback, s+lookback+horizon).
        targets = starts[:, None] + lookback + np.arange(horizon)[None, :]
        assert (np.diff(starts) == 1).all()  # every window start, once, in order
        assert targets.min() == (first + lookback if name == "train" else first)
        assert targets.max() == end - 1  # ... through the split's last row, never beyond
        covered = np.unique(targets)
        own = np.arange(first + lookback if name == "train" else first, end)
        np.testing.assert_array_equal(covered, own)  # every target row, no other row
        for h in range(horizon):  # at each horizon step a row is forecast at most once
            assert len(np.unique(targets[:, h])) == len(starts)
    # Validation and test windows start lookback rows early: their inputs reach back.
    assert plan.starts("test")[0] == 52 - lookback
    assert plan.windows("test") == 10 - horizon + 1
    assert plan.windows("train") == 40 - lookback - horizon + 1


def test_too_short_series_says_what_each_split_has_and_needs():
    with pytest.raises(RecipeError) as err:
        series.plan_splits([20, 5, 2], 12, 4)
    msg = str(err.value)
    assert "train has 20 and needs 16, validation has 5 and needs 4, test has 2 and needs 4" in msg


def test_scaler_uses_the_rows_it_is_given_and_keeps_constants_finite():
    values = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = series.Scaler.fit(values)
    np.testing.assert_array_equal(s.mean, [2, 5])
    np.testing.assert_array_equal(s.std, [1, 1])
    assert s.constant == [1]


def test_window_dataset_matches_numpy_windows_and_reshuffles():
    values = np.arange(60, dtype=np.float32).reshape(30, 2)
    starts = np.arange(3, 20)
    x, y = series.window_arrays(values, starts, 5, 3, 1)
    assert x.shape == (17, 5, 2) and y.shape == (17, 3, 1)
    assert x[0, 0, 0] == values[3, 0] and y[0, 0, 0] == values[8, 0]
    ds = series.window_dataset(values, starts, 5, 3, 1, batch_size=4)
    got_x = np.concatenate([b[0].numpy() for b in ds])
    got_y = np.concatenate([b[1].numpy() for b in ds])
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    train = series.window_dataset(values, starts, 5, 3, 1, batch_size=4, shuffle=True, seed=1)
    epochs = [np.concatenate([b[0].numpy()[:, 0, 0] for b in train]) for _ in range(2)]
    for order in epochs:  # every window once per epoch
        assert sorted(order) == sorted(x[:, 0, 0])
    assert not np.array_equal(epochs[0], epochs[1])  # a new order every epoch


def test_bundled_demo_csv_is_the_generator_output(tmp_path: Path):
    write_to = tmp_path / "demo.csv"
    series.write_demo_csv(write_to)
    bundled = resolve_pkg_path("pkg:samples/forecast_demo.csv")
    assert write_to.read_bytes() == bundled.read_bytes()
    assert bundled.stat().st_size < 1_000_000
    s = series.read_series(bundled, "date")
    assert s.columns == ["load", "temperature"] and s.rows == 2880 and s.step == 3600


# --- issue 10: values that were dropped or overflowed without a word ----------------------------


def _load(path: Path, targets=None):
    table = series.read_series(path, "date")
    inputs, _ = series.select_columns(table, targets, None)
    values = np.stack([table.values[c] for c in inputs], axis=1)
    return inputs, series.fill_missing(values, inputs, "none", table.source)


def test_a_bad_cell_in_a_numeric_column_is_an_error_not_a_dropped_target(tmp_path: Path):
    stamps = hourly(4)
    rows = [f"{s},{i},{i * 2}" for i, s in enumerate(stamps)]
    rows[2] = f"{stamps[2]},2,4O"  # a letter O typed for a zero
    path = write(tmp_path / "s.csv", "date,a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(RecipeError, match="column 'b' of .* holds numbers but row 3 .* has '4O'"):
        _load(path)
    # A column of text is still left out when the targets are not named.
    path = write(tmp_path / "t.csv", "date,a,kind\n" + "".join(f"{s},1,x\n" for s in stamps))
    assert _load(path)[0] == ["a"]


@pytest.mark.parametrize("cell", ["1e300", "-2e16", "inf", "-Infinity", "1e400"])
def test_huge_or_infinite_values_are_refused_before_training(tmp_path: Path, cell):
    stamps = hourly(4)
    rows = [f"{s},{i}" for i, s in enumerate(stamps)]
    rows[1] = f"{stamps[1]},{cell}"
    path = write(tmp_path / "s.csv", "date,a\n" + "\n".join(rows) + "\n")
    with pytest.raises(RecipeError, match=r"column 'a' of .* at row 2 \(line 3\); values must be"):
        _load(path)
    rows[1] = f"{stamps[1]},-1e15"  # the bound itself is kept
    path = write(tmp_path / "s.csv", "date,a\n" + "\n".join(rows) + "\n")
    assert _load(path)[1][1, 0] == -1e15


def test_semicolon_file_hint_names_data_delimiter(tmp_path: Path):
    path = write(tmp_path / "s.csv", "date;a\n2024-01-01;1\n")
    with pytest.raises(RecipeError, match=r"set data.delimiter=\";\""):
        series.read_series(path, "date")
    assert series.read_series(path, "date", delimiter=";").columns == ["a"]


@pytest.mark.parametrize("delimiter", ["", ";;", "\n"])
def test_unusable_delimiter_is_a_config_error(tmp_path: Path, delimiter):
    from rnn_recipes.errors import ConfigError

    path = write(tmp_path / "s.csv", "date,a\n2024-01-01,1\n")
    with pytest.raises(ConfigError, match="data.delimiter must be one character"):
        series.read_series(path, "date", delimiter=delimiter)


# --- files as they come: no header, positions, several files (issue 16) ----------------------


def test_headerless_series_by_column_position(tmp_path: Path):
    stamps = hourly(4)
    path = tmp_path / "s.csv"
    # CRLF and no final newline, as exported by spreadsheets.
    path.write_bytes("\r\n".join(f"{t},{i},{10 * i}" for i, t in enumerate(stamps)).encode())
    s = series.read_series(path, 0, header=False)
    assert s.rows == 4 and s.columns == ["1", "2"] and s.step == 3600
    inputs, targets = series.select_columns(s, [2], [2, 1])
    assert targets == ["2"] and inputs == ["2", "1"]
    np.testing.assert_array_equal(s.values["2"], [0, 10, 20, 30])
    # The default time column name means position 0 without a header.
    assert series.read_series(path, "date", header=False).times == s.times
    with pytest.raises(RecipeError, match="data.time_column = 'when' names a column"):
        series.read_series(path, "when", header=False)
    with pytest.raises(RecipeError, match="position 7 but .* has 3 column"):
        series.select_columns(s, [7], None)


def test_a_timestamp_as_column_name_suggests_header_false(tmp_path: Path):
    path = write(tmp_path / "s.csv", "".join(f"{t},{i}\n" for i, t in enumerate(hourly(5))))
    with pytest.raises(RecipeError, match="is a timestamp.*data.header = false"):
        series.read_series(path, "date")


def test_several_files_by_glob_or_list_are_one_series(tmp_path: Path):
    stamps = hourly(6)
    (tmp_path / "exports").mkdir()
    for k in range(2):  # the first file has no final newline
        rows = "\n".join(f"{t},{i}" for i, t in enumerate(stamps[3 * k : 3 * k + 3], 3 * k))
        write(tmp_path / "exports" / f"part{k}.csv", "date,a\n" + rows + ("\n" if k else ""))
    by_glob = series.read_series(str(tmp_path / "exports" / "*.csv"), "date")
    files = [str(tmp_path / "exports" / f"part{k}.csv") for k in range(2)]
    by_list = series.read_series(files, "date")
    for s in (by_glob, by_list):
        assert s.rows == 6 and s.gaps == 0
        np.testing.assert_array_equal(s.values["a"], np.arange(6))
        assert all(f in s.source for f in files)
    with pytest.raises(RecipeError, match=r"part0\.csv row 1 \(line 2\): timestamp .* goes back"):
        series.read_series(files[::-1], "date")
    write(tmp_path / "other.csv", "date,b\n" + stamps[0] + ",1\n")
    with pytest.raises(RecipeError, match="need the same columns"):
        series.read_series([files[0], str(tmp_path / "other.csv")], "date")
    with pytest.raises(RecipeError, match=r"no file matches .*\*\.tsv \(data\.path\)"):
        series.read_series(str(tmp_path / "exports" / "*.tsv"), "date")


def test_a_header_read_as_data_is_named(tmp_path: Path):
    path = write(tmp_path / "s.csv", "date,a\n" + "".join(f"{t},1\n" for t in hourly(3)))
    with pytest.raises(RecipeError, match="row 1 .*'date'.*looks like a header row"):
        series.read_series(path, 0, header=False)
