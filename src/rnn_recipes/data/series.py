"""Tabular time series from CSV: reading, checks, fill policies, chronological splits, windows.

A series file is a CSV with a header row, one timestamp column and numeric value columns, one row
per time step in increasing time order::

    date,load,temperature
    2024-01-01 00:00:00,101.2,7.5
    2024-01-01 01:00:00,98.7,7.1

Everything here works on NumPy arrays; only :func:`window_dataset` touches TensorFlow. Every
failure is a one-line :class:`RecipeError` that names the file, the column or row, and the fix.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import check_delimiter
from ..errors import ConfigError, RecipeError
from .files import column_at, expand_paths

# Spellings of "no value" found in exported spreadsheets and R/pandas dumps.
MISSING = {"", "nan", "na", "n/a", "null", "none", "?", "-"}
# The largest magnitude a value may have. The model reads raw windows as float32 and the scaler,
# losses and baselines square values: past about 1e19 a square overflows float32 (and 1e300
# overflowed float64 at test evaluation, after a whole training). 1e15 leaves room for sums of
# squares; larger series are rescaled by the user (divide by 1e6, say), which loses nothing that
# float32 would have kept.
MAX_ABS = 1e15
FILLS = ("none", "ffill", "interpolate")
# data.time_column's default; without a header it means position 0 (time first, as usual).
DEFAULT_TIME_COLUMN = "date"

# Formats tried after ISO 8601 (datetime.fromisoformat), in order.
_TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y-%m",
    "%Y%m%d",
)

MONTH = "month"  # a step of one calendar month (28-31 days)


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class Series:
    """A series read from CSV: timestamps plus float columns (NaN where a value was missing)."""

    source: str
    time_column: str
    times: list[dt.datetime]
    columns: list[str]  # every column except the time column, in file order
    values: dict[str, np.ndarray] = field(default_factory=dict)  # numeric columns only, float64
    non_numeric: dict[str, tuple[int, str]] = field(default_factory=dict)  # column -> (row, text)
    mixed: list[str] = field(default_factory=list)  # non-numeric columns with some numbers too
    step: float | str = 0.0  # seconds between rows (the most common gap), or MONTH
    header: list[str] = field(default_factory=list)  # every column name (positions if none)
    gaps: int = 0  # steps whose gap differs from `step` (rows are still taken as consecutive)

    @property
    def rows(self) -> int:
        return len(self.times)

    @property
    def numeric_columns(self) -> list[str]:
        return [c for c in self.columns if c in self.values]


def _parse_time(text: str) -> dt.datetime | None:
    text = text.strip()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = None
        for fmt in _TIME_FORMATS:
            try:
                value = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if value is not None and value.tzinfo is not None:
        # Mixed offsets (daylight saving) are compared in UTC; the series is stored naive UTC.
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _delimiter_hint(header: list[str], delimiter: str) -> str | None:
    """A hint naming data.delimiter when a one-column header is split by another character."""
    if len(header) != 1:
        return None
    for sep in (";", "\t", "|", ","):
        if sep != delimiter and sep in header[0]:
            shown = "\\t" if sep == "\t" else sep
            return f'the file seems to separate fields with {sep!r}: set data.delimiter="{shown}"'
    return None


def _row_label(row: int) -> str:
    """Rows are counted from 1 after the header, which is line row + 1 of the file."""
    return f"row {row} (line {row + 1})"


def _read_rows(
    path: Path, encoding: str, delimiter: str, header: bool, what: str
) -> tuple[list[str] | None, list[list[str]]]:
    """The header (None without one) and the non-blank rows of one CSV file."""
    if not path.exists():
        raise RecipeError(f"{what} not found: {path}")
    if path.is_dir():
        raise RecipeError(f"{path} is a folder, expected a CSV file of time series")
    try:
        text = path.read_text(encoding=encoding)
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path} is not {encoding} text ({exc.reason} at byte {exc.start}); set data.encoding "
            "(e.g. cp1252 or latin-1)"
        ) from None
    except LookupError:
        raise RecipeError(f"unknown encoding '{encoding}' in data.encoding") from None
    if not text.strip():
        raise RecipeError(f"{what} {path} is empty")
    reader = csv.reader(text.lstrip("\ufeff").splitlines(), delimiter=delimiter)
    names = [h.strip() for h in next(reader)] if header else None
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    return names, rows


def _time_name(time_column: str | int, header: list[str], path: str, delimiter: str) -> str:
    """The header name of the time column given by name or 0-based position."""
    if isinstance(time_column, int):
        return column_at(time_column, header, path, "data.time_column")
    if time_column not in header:
        looks = [h for h in header if _parse_time(h) is not None]
        hint = (
            f"its first row looks like data (column name '{looks[0]}' is a timestamp): if the "
            "file has no header row, set data.header = false and data.time_column to the time "
            "column's position, e.g. 0"
            if looks
            else _delimiter_hint(header, delimiter) or "set data.time_column"
        )
        raise RecipeError(
            f"{path} has no time column '{time_column}'; columns found: {', '.join(header)} "
            f"({hint})"
        )
    return time_column


def read_series(
    path: str | Path | list[str | Path],
    time_column: str | int,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    what: str = "data file",
    header: bool = True,
) -> Series:
    """Read a CSV series (one file, a glob or a list of files) and check its timestamps.

    Args:
        path: the CSV file; or a glob (``exports/*.csv``) or a list of files holding
            consecutive stretches of one series, with the same columns, read in order (a glob's
            matches sorted) and joined; timestamps must keep increasing from file to file.
        time_column: the header name, or the 0-based position, of the timestamp column.
        encoding: the file's text encoding.
        delimiter: the field separator.
        what: how messages name the file ("data file", "predict input").
        header: whether the first row names the columns; without one, the columns are named
            by their positions ("0", "1", ...) and picked by position.

    Returns:
        A :class:`Series`; columns that are not numbers everywhere are listed in ``non_numeric``
        (with the first offending row) instead of ``values``.
    """
    check_delimiter(delimiter, "data.delimiter")
    files = expand_paths(path, "data.path")
    parts = [(f, *_read_rows(f, encoding, delimiter, header, what)) for f in files]
    first_file, first_names, _ = parts[0]
    if header:
        header_row = first_names
        for f, names, _ in parts[1:]:
            if names != header_row:
                raise RecipeError(
                    f"{f} has columns {', '.join(names)} but {first_file} has "
                    f"{', '.join(header_row)}; files of one series need the same columns"
                )
    else:
        width = max((len(r) for _, _, rows in parts for r in rows), default=0)
        header_row = [str(j) for j in range(width)]
    rows: list[list[str]] = []
    origin: list[tuple[Path, int]] = []  # (file, row within it) of every row, for messages
    for f, _, file_rows in parts:
        rows += file_rows
        origin += [(f, k) for k in range(1, len(file_rows) + 1)]
    source = (
        str(first_file) if len(files) == 1 else f"{len(files)} files: " + ", ".join(map(str, files))
    )

    def where(i: int) -> str:
        """Row i (1-based, over all files) as its file and row, with the line number."""
        f, k = origin[i - 1]
        return f"{f} {_row_label(k) if header else f'row {k} (line {k})'}"

    if not header and time_column == DEFAULT_TIME_COLUMN:
        time_column = 0  # the default name means the usual layout: time first
    if not header and isinstance(time_column, str):
        raise RecipeError(
            f"data.time_column = {time_column!r} names a column, but with data.header = false "
            "columns have no names; set data.time_column to a 0-based position, e.g. 0"
        )
    time_column = _time_name(time_column, header_row, str(first_file), delimiter)
    if not rows:
        raise RecipeError(f"{first_file} has a header but no rows of data")
    width = len(header_row)
    for i, r in enumerate(rows, start=1):
        if len(r) != width:
            raise RecipeError(
                f"{where(i)} has {len(r)} fields but the header has {width}; "
                "fix that row (quote values that contain the delimiter)"
            )
    t_index = header_row.index(time_column)
    times: list[dt.datetime] = []
    for i, r in enumerate(rows, start=1):
        value = _parse_time(r[t_index])
        if value is None:
            fix = (
                "it looks like a header row: set data.header = true"
                if not header and i == 1
                else "write ISO 8601, e.g. 2024-01-31 13:00:00"
            )
            raise RecipeError(
                f"{where(i)}: cannot parse '{r[t_index]}' in time column "
                f"'{time_column}' as a timestamp ({fix})"
            )
        if times and value <= times[-1]:
            kind = "repeats" if value == times[-1] else "goes back before"
            raise RecipeError(
                f"{where(i)}: timestamp {r[t_index]} {kind} the previous row's "
                f"({times[-1]}); timestamps must be strictly increasing (sort the file and drop "
                "duplicate rows; several files are read in the order given)"
            )
        times.append(value)

    series = Series(
        source=source,
        time_column=time_column,
        times=times,
        columns=[h for h in header_row if h != time_column],
        header=header_row,
    )
    for j, name in enumerate(header_row):
        if j == t_index:
            continue
        col = np.empty(len(rows), dtype=np.float64)
        bad = None
        numbers = 0
        for i, r in enumerate(rows):
            cell = r[j].strip()
            if cell.lower() in MISSING:
                col[i] = np.nan
                continue
            try:
                col[i] = float(cell)  # "inf" and "1e400" stay infinite: fill_missing refuses them
                numbers += 1
            except ValueError:
                if bad is None:
                    bad = (i + 1, cell)
        if bad is None:
            series.values[name] = col
        else:
            series.non_numeric[name] = bad
            if numbers:
                series.mixed.append(name)
    series.step, series.gaps = infer_step(times)
    return series


# ---------------------------------------------------------------------------------------------
# Frequency


def _months_between(a: dt.datetime, b: dt.datetime) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def infer_step(times: Sequence[dt.datetime]) -> tuple[float | str, int]:
    """The sampling step (most common gap, in seconds, or MONTH) and how many gaps differ."""
    if len(times) < 2:
        return 0.0, 0
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    if all(28 * 86400 <= g <= 31 * 86400 for g in gaps) and all(
        _months_between(a, b) == 1 for a, b in zip(times, times[1:])
    ):
        return MONTH, 0
    step, _ = Counter(gaps).most_common(1)[0]
    return step, sum(g != step for g in gaps)


def step_name(step: float | str) -> str:
    """A readable name for a step: '1h', '15min', '1D', '1M'."""
    if step == MONTH:
        return "1M"
    seconds = float(step)
    for unit, size in (("W", 7 * 86400), ("D", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def future_times(last: dt.datetime, step: float | str, count: int) -> list[dt.datetime]:
    """The ``count`` timestamps after ``last``, ``step`` apart."""
    if step == MONTH:
        out = []
        for k in range(1, count + 1):
            month = last.month - 1 + k
            year, month = last.year + month // 12, month % 12 + 1
            day = min(last.day, _days_in_month(year, month))
            out.append(last.replace(year=year, month=month, day=day))
        return out
    delta = dt.timedelta(seconds=float(step))
    return [last + delta * k for k in range(1, count + 1)]


def _days_in_month(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day


def format_time(value: dt.datetime, step: float | str | None = None) -> str:
    """ISO text; just the date for midnight timestamps of daily (or coarser) data."""
    daily = step == MONTH or (isinstance(step, float | int) and step and step % 86400 == 0)
    if daily and value.time() == dt.time(0):
        return value.date().isoformat()
    return value.isoformat(sep=" ")


# ---------------------------------------------------------------------------------------------
# Columns and missing values


def select_columns(
    series: Series,
    targets: Sequence[str | int] | None,
    inputs: Sequence[str | int] | None,
) -> tuple[list[str], list[str]]:
    """Resolve data.target_columns and data.input_columns against the file.

    Columns are named, or given by 0-based position in the file (for files without a header).

    Returns:
        (input columns, target columns), as names. Targets come first among the inputs, in
        their own order, followed by the covariates, so the first ``len(targets)`` input
        channels are the targets.
    """
    where = series.source

    def named(columns: Sequence[str | int] | None, key: str) -> list[str] | None:
        if columns is None:
            return None
        out = []
        for c in columns:
            if isinstance(c, int):
                if not 0 <= c < len(series.header):
                    raise RecipeError(
                        f"{key} lists position {c} but {where} has {len(series.header)} "
                        f"column(s) (positions 0 to {len(series.header) - 1})"
                    )
                c = series.header[c]
            out.append(c)
        return out

    targets = named(targets, "data.target_columns")
    inputs = named(inputs, "data.input_columns")

    def check(names: Sequence[str], key: str) -> None:
        for name in names:
            if name == series.time_column:
                raise ConfigError(f"{key} names the time column '{name}'; list value columns")
            if name not in series.columns:
                raise RecipeError(
                    f"{key} names column '{name}' but {where} has no such column; columns "
                    f"found: {', '.join(series.columns)}"
                )
            if name in series.non_numeric:
                row, cell = series.non_numeric[name]
                raise RecipeError(
                    f"column '{name}' of {where} is not numeric: {_row_label(row)} has "
                    f"'{cell}' (fix the value, or leave '{name}' out of {key})"
                )

    if targets:
        check(targets, "data.target_columns")
        targets = list(targets)
    else:
        if series.mixed:
            # A column of numbers with one bad cell is not a text column to leave out: forecasting
            # the other columns instead, without a word, was the defect.
            name = series.mixed[0]
            row, cell = series.non_numeric[name]
            raise RecipeError(
                f"column '{name}' of {where} holds numbers but {_row_label(row)} has '{cell}'; "
                "fix that value (leave it empty for a missing value), or name the columns to "
                "forecast in data.target_columns"
            )
        targets = series.numeric_columns
        if not targets:
            raise RecipeError(
                f"{where} has no numeric column besides the time column '{series.time_column}' "
                f"(non-numeric: {', '.join(series.non_numeric)})"
            )
    if inputs:
        check(inputs, "data.input_columns")
        missing = [t for t in targets if t not in inputs]
        if missing:
            raise ConfigError(
                f"data.input_columns must include every target (the model reads a target's own "
                f"history); add {', '.join(missing)}"
            )
        extra = [c for c in inputs if c not in targets]
    else:
        extra = []
    return [*targets, *extra], list(targets)


def check_magnitudes(values: np.ndarray, columns: Sequence[str], source: str) -> None:
    """Refuse infinite values and values beyond ``MAX_ABS`` (NaN is a missing value, not here).

    Raises:
        RecipeError: naming the column, the row and the value, before anything is trained.
    """
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (np.abs(values) > MAX_ABS)
    if not bad.any():
        return
    row, j = np.argwhere(bad)[0]
    raise RecipeError(
        f"column '{columns[j]}' of {source} has {values[row, j]:g} at {_row_label(int(row) + 1)}; "
        f"values must be finite and within ±{MAX_ABS:g} (the model computes in float32): "
        "fix the value, or rescale the column (e.g. divide it by 1e6)"
    )


def fill_missing(values: np.ndarray, columns: Sequence[str], fill: str, source: str) -> np.ndarray:
    """Apply the fill policy to a [rows, columns] array; 'none' makes any NaN an error."""
    values = np.array(values, dtype=np.float64, copy=True)
    check_magnitudes(values, columns, source)
    nan = np.isnan(values)
    if not nan.any():
        return values
    if fill == "none":
        row, j = np.argwhere(nan)[0]
        n = int(nan[:, j].sum())
        raise RecipeError(
            f"column '{columns[j]}' of {source} has {n} missing value(s), the first at "
            f'{_row_label(int(row) + 1)}; set data.fill = "ffill" or "interpolate", or fix '
            "the file"
        )
    for j in range(values.shape[1]):
        col, miss = values[:, j], nan[:, j]
        if not miss.any():
            continue
        if miss.all():
            raise RecipeError(f"column '{columns[j]}' of {source} has no values at all")
        idx = np.arange(len(col))
        if fill == "interpolate":
            # Linear in row position; before the first / after the last value it stays flat.
            col[miss] = np.interp(idx[miss], idx[~miss], col[~miss])
        else:  # ffill; leading gaps take the first value seen (there is nothing to carry)
            last = np.where(~miss, idx, 0)
            np.maximum.accumulate(last, out=last)
            first = int(np.argmax(~miss))
            last[:first] = first
            values[:, j] = col[last]
    return values


# ---------------------------------------------------------------------------------------------
# Chronological splits


@dataclass
class SplitPlan:
    """Row ranges of the three splits, and the ranges their windows are cut from.

    ``rows[name]`` is (first, end) of the rows a split owns (its targets); ``span[name]`` starts
    ``lookback`` rows earlier for validation and test (the standard long-horizon protocol), so
    the first target of each split is forecast from the rows just before it.
    """

    rows: dict[str, tuple[int, int]]
    span: dict[str, tuple[int, int]]
    lookback: int
    horizon: int

    def windows(self, name: str) -> int:
        first, end = self.span[name]
        return max(0, end - first - self.lookback - self.horizon + 1)

    def starts(self, name: str) -> np.ndarray:
        """Window start rows: window k reads rows [s, s+lookback), forecasts [s+lookback, ...)."""
        first, _ = self.span[name]
        return first + np.arange(self.windows(name))


SPLITS = ("train", "validation", "test")


def split_counts(split: Sequence[float], rows: int) -> list[int]:
    """data.split as row counts: three counts, or three fractions of the file."""
    if len(split) != 3:
        raise ConfigError(
            f"data.split takes three numbers [train, validation, test], got {list(split)}"
        )
    if any(v < 0 for v in split) or not any(split):
        raise ConfigError(f"data.split values must be positive, got {list(split)}")
    if all(v <= 1 for v in split):
        if sum(split) > 1 + 1e-9:
            raise ConfigError(f"data.split fractions add up to {sum(split):g}, more than 1")
        counts = [int(math.floor(v * rows + 1e-9)) for v in split]
        if abs(sum(split) - 1) < 1e-9:
            counts[0] = rows - counts[1] - counts[2]  # rounding leftovers go to train
        return counts
    if not all(float(v).is_integer() for v in split):
        raise ConfigError(
            f"data.split mixes row counts and fractions ({list(split)}); give three row counts "
            "or three fractions"
        )
    counts = [int(v) for v in split]
    if sum(counts) > rows:
        raise RecipeError(
            f"data.split asks for {sum(counts)} rows ({' + '.join(map(str, counts))}) but the "
            f"file has {rows}"
        )
    return counts


def plan_splits(counts: Sequence[int], lookback: int, horizon: int) -> SplitPlan:
    """Chronological train/validation/test rows, and the lookback-early window spans."""
    n_train, n_val, n_test = counts
    bounds = {
        "train": (0, n_train),
        "validation": (n_train, n_train + n_val),
        "test": (n_train + n_val, n_train + n_val + n_test),
    }
    span = {
        "train": (0, n_train),
        "validation": (n_train - lookback, n_train + n_val),
        "test": (n_train + n_val - lookback, n_train + n_val + n_test),
    }
    need = {"train": lookback + horizon, "validation": horizon, "test": horizon}
    short = [name for name in SPLITS if bounds[name][1] - bounds[name][0] < need[name]]
    if short or n_train < lookback:
        have = ", ".join(
            f"{name} has {bounds[name][1] - bounds[name][0]} and needs {need[name]}"
            for name in SPLITS
        )
        raise RecipeError(
            f"the series is too short for lookback {lookback} + horizon {horizon}: {have} rows "
            "(validation and test windows start lookback rows early); lower model.lookback or "
            "model.horizon, or change data.split"
        )
    return SplitPlan(rows=bounds, span=span, lookback=lookback, horizon=horizon)


# ---------------------------------------------------------------------------------------------
# Scaling


@dataclass
class Scaler:
    """Per-column z-score statistics, fitted on training rows only."""

    mean: np.ndarray
    std: np.ndarray
    constant: list[int]  # columns with zero spread in train (scaled with std 1)

    @classmethod
    def fit(cls, train_values: np.ndarray) -> Scaler:
        mean = train_values.mean(axis=0)
        std = train_values.std(axis=0)
        constant = [int(j) for j in np.flatnonzero(std < 1e-12)]
        std = np.where(std < 1e-12, 1.0, std)
        return cls(mean=mean, std=std, constant=constant)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std


# ---------------------------------------------------------------------------------------------
# Windows


def window_arrays(
    values: np.ndarray, starts: np.ndarray, lookback: int, horizon: int, n_targets: int
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy windows: x [n, lookback, channels] and y [n, horizon, n_targets]."""
    idx = starts[:, None] + np.arange(lookback + horizon)[None, :]
    windows = values[idx]
    return windows[:, :lookback, :], windows[:, lookback:, :n_targets]


# Windows per chunk of :func:`window_chunks` and of the forecast task's error sums: at most
# WINDOW_CHUNK, and at most CHUNK_VALUES values (16 MB in float64) however long the windows
# (ETTh1 336 -> 720, 7 channels: 283 windows a chunk; all its training windows are 224 MB).
WINDOW_CHUNK = 2048
CHUNK_VALUES = 1 << 21


def chunk_size(values_per_window: int) -> int:
    """How many windows of ``values_per_window`` values one chunk takes."""
    return max(1, min(WINDOW_CHUNK, CHUNK_VALUES // max(values_per_window, 1)))


def window_chunks(
    values: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    horizon: int,
    n_targets: int,
    size: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`window_arrays` of ``starts`` in consecutive chunks of ``size`` windows, for
    NumPy fits that need one pass over the windows but not all of them at once (overlapping
    windows copied out of the series take ``lookback + horizon`` times its memory); ``size``
    defaults to :func:`chunk_size`."""
    size = size or chunk_size((lookback + horizon) * values.shape[1])
    for first in range(0, len(starts), size):
        yield window_arrays(values, starts[first : first + size], lookback, horizon, n_targets)


def window_dataset(
    values: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    horizon: int,
    n_targets: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
):
    """A ``tf.data`` pipeline of (x [b, lookback, channels], y [b, horizon, n_targets]) windows.

    This does what ``keras.utils.timeseries_dataset_from_array`` does (sliding windows over an
    in-memory array), but the window start rows are reshuffled every epoch (Keras shuffles them
    once) and the windows are gathered a batch at a time from one constant tensor, so memory stays
    at one copy of the series however many windows overlap. The start indices are cached, training
    batches are shuffled, and every pipeline prefetches.
    """
    from .._lazy import tf

    series = tf.constant(values, dtype=tf.float32)
    offsets = tf.range(lookback + horizon, dtype=tf.int64)
    ds = tf.data.Dataset.from_tensor_slices(starts.astype(np.int64)).cache()
    if shuffle:
        ds = ds.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def gather(s):
        w = tf.gather(series, s[:, None] + offsets[None, :])
        return w[:, :lookback, :], w[:, lookback:, :n_targets]

    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if not shuffle:
        ds = ds.cache()  # evaluation windows are the same every epoch
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------
# Demo data


def demo_series(days: int = 120, seed: int = 7) -> tuple[list[str], np.ndarray]:
    """A synthetic hourly electricity load with a temperature covariate.

    Load has a daily shape (night trough, morning and evening peaks), a weekly cycle (lower on
    weekends), a slow upward trend, a response to temperature (heating below 15 °C) and AR(1)
    noise. Temperature follows a daily cycle around a slowly drifting level with its own AR(1)
    noise. Deterministic for a given seed.

    Returns:
        (timestamps as text, values [rows, 2] with columns load, temperature)
    """
    rng = np.random.default_rng(seed)
    n = days * 24
    t = np.arange(n, dtype=np.float64)
    hour = t % 24
    dow = (t // 24) % 7  # day 0 is a Monday
    level = 12 + 6 * np.sin(2 * np.pi * (t / 24 - 30) / 365) * -1
    temp_noise = np.zeros(n)
    shocks = rng.normal(0, 0.6, n)
    for i in range(1, n):
        temp_noise[i] = 0.97 * temp_noise[i - 1] + shocks[i]
    temperature = level + 4 * np.sin(2 * np.pi * (hour - 9) / 24) + temp_noise
    daily = (
        10 * np.sin(2 * np.pi * (hour - 6) / 24)
        + 6 * np.sin(4 * np.pi * (hour - 3) / 24)
        + 4 * np.exp(-0.5 * ((hour - 19) / 1.5) ** 2)
    )
    weekend = np.isin(dow, (5, 6))
    weekly = np.where(weekend, -12.0, 0.0) + np.where(dow == 0, -3.0, 0.0)
    weekly = weekly * (1 + 0.5 * (daily > 0))
    heating = 1.8 * np.clip(15 - temperature, 0, None)
    noise = np.zeros(n)
    shocks = rng.normal(0, 1.5, n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + shocks[i]
    load = 100 + 0.01 * t + daily + weekly + heating + noise
    start = dt.datetime(2024, 1, 1)
    stamps = [format_time(start + dt.timedelta(hours=int(k))) for k in range(n)]
    return stamps, np.stack([load, temperature], axis=1)


def write_demo_csv(path: str | Path) -> None:
    """Write :func:`demo_series` as the bundled sample CSV (3 decimals)."""
    stamps, values = demo_series()
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["date", "load", "temperature"])
        for stamp, (load, temp) in zip(stamps, values):
            writer.writerow([stamp, f"{load:.3f}", f"{temp:.3f}"])


# ---------------------------------------------------------------------------------------------
# Reading to disk, for series larger than memory

# Rows parsed per block before they are written out: a few MB of floats.
DISK_CHUNK_ROWS = 65536


@dataclass
class DiskSeries:
    """A series read into files instead of memory (:func:`read_series_to_disk`).

    ``series`` describes it as :func:`read_series` would (its ``values`` are columns of the
    on-disk array, its ``times`` a ``datetime64[us]`` array on disk), so :func:`select_columns`
    and the checks apply unchanged.
    """

    series: Series
    raw: np.ndarray  # memmap [rows, columns] float64, NaN where a value is missing or not a number


def _file_rows(path: Path, encoding: str, delimiter: str, what: str):
    """The fields of each non-blank row of one CSV file, read as it goes."""
    if not path.exists():
        raise RecipeError(f"{what} not found: {path}")
    if path.is_dir():
        raise RecipeError(f"{path} is a folder, expected a CSV file of time series")
    if path.stat().st_size == 0:
        raise RecipeError(f"{what} {path} is empty")
    try:
        f = open(path, encoding=encoding, newline="")  # noqa: SIM115 (closed below)
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None
    except LookupError:
        raise RecipeError(f"unknown encoding '{encoding}' in data.encoding") from None
    with f:
        lines = (line.lstrip("\ufeff") if n == 0 else line for n, line in enumerate(f))
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield row
        except UnicodeDecodeError as exc:
            raise RecipeError(
                f"{path} is not {encoding} text ({exc.reason} near line {reader.line_num + 1}); "
                "set data.encoding (e.g. cp1252 or latin-1)"
            ) from None


def read_series_to_disk(
    path: str | Path | list[str | Path],
    time_column: str | int,
    folder: Path,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    what: str = "data file",
    header: bool = True,
    chunk_rows: int = DISK_CHUNK_ROWS,
) -> DiskSeries:
    """:func:`read_series`, a block of rows at a time, into files under ``folder``.

    The timestamps and every non-time column (as float64) are written to ``folder`` as they are
    parsed, and mapped back as read-only memmaps: memory holds one block of rows, not the file.
    The checks and messages are :func:`read_series`'s, except that without a header the first
    row sets the number of fields (in memory, the widest row does).
    """
    check_delimiter(delimiter, "data.delimiter")
    files = expand_paths(path, "data.path")
    source = (
        str(files[0]) if len(files) == 1 else f"{len(files)} files: " + ", ".join(map(str, files))
    )
    if not header and time_column == DEFAULT_TIME_COLUMN:
        time_column = 0
    if not header and isinstance(time_column, str):
        raise RecipeError(
            f"data.time_column = {time_column!r} names a column, but with data.header = false "
            "columns have no names; set data.time_column to a 0-based position, e.g. 0"
        )
    header_row: list[str] | None = None
    t_index = 0
    width = 0
    rows = 0
    numbers: list[int] = []
    non_numeric: dict[int, tuple[int, str]] = {}
    gaps: Counter = Counter()
    monthly = True
    previous: dt.datetime | None = None
    times_path, raw_path = folder / "times.i64", folder / "raw.f64"
    block_t: list[int] = []
    block_v: list[list[float]] = []
    epoch = dt.datetime(1970, 1, 1)

    def flush(t_out, v_out):
        if block_t:
            np.asarray(block_t, dtype=np.int64).tofile(t_out)
            np.asarray(block_v, dtype=np.float64).tofile(v_out)
            block_t.clear()
            block_v.clear()

    with open(times_path, "wb") as t_out, open(raw_path, "wb") as v_out:
        for f in files:
            k = 0  # row within this file
            names_seen = not header
            for r in _file_rows(f, encoding, delimiter, what):
                if not names_seen:
                    names = [h.strip() for h in r]
                    names_seen = True
                    if header_row is None:
                        header_row = names
                        width = len(names)
                        time_name = _time_name(time_column, names, str(f), delimiter)
                        t_index = names.index(time_name)
                        numbers = [0] * width
                    elif names != header_row:
                        raise RecipeError(
                            f"{f} has columns {', '.join(names)} but {files[0]} has "
                            f"{', '.join(header_row)}; files of one series need the same columns"
                        )
                    continue
                k += 1
                rows += 1
                if header_row is None:  # no header: the first row sets the width
                    width = len(r)
                    header_row = [str(j) for j in range(width)]
                    time_name = _time_name(time_column, header_row, str(f), delimiter)
                    t_index = header_row.index(time_name)
                    numbers = [0] * width
                here = f"{f} {_row_label(k) if header else f'row {k} (line {k})'}"
                if len(r) != width:
                    raise RecipeError(
                        f"{here} has {len(r)} fields but the header has {width}; "
                        "fix that row (quote values that contain the delimiter)"
                    )
                value = _parse_time(r[t_index])
                if value is None:
                    fix = (
                        "it looks like a header row: set data.header = true"
                        if not header and rows == 1
                        else "write ISO 8601, e.g. 2024-01-31 13:00:00"
                    )
                    raise RecipeError(
                        f"{here}: cannot parse '{r[t_index]}' in time column "
                        f"'{header_row[t_index]}' as a timestamp ({fix})"
                    )
                if previous is not None:
                    if value <= previous:
                        kind = "repeats" if value == previous else "goes back before"
                        raise RecipeError(
                            f"{here}: timestamp {r[t_index]} {kind} the previous row's "
                            f"({previous}); timestamps must be strictly increasing (sort the "
                            "file and drop duplicate rows; several files are read in the order "
                            "given)"
                        )
                    gap = (value - previous).total_seconds()
                    gaps[gap] += 1
                    if monthly and not (
                        28 * 86400 <= gap <= 31 * 86400 and _months_between(previous, value) == 1
                    ):
                        monthly = False
                previous = value
                block_t.append((value - epoch) // dt.timedelta(microseconds=1))
                cells = []
                for j, cell in enumerate(r):
                    if j == t_index:
                        cells.append(np.nan)
                        continue
                    cell = cell.strip()
                    if cell.lower() in MISSING:
                        cells.append(np.nan)
                        continue
                    try:
                        cells.append(float(cell))
                        numbers[j] += 1
                    except ValueError:
                        non_numeric.setdefault(j, (rows, cell))
                        cells.append(np.nan)
                block_v.append(cells)
                if len(block_t) >= chunk_rows:
                    flush(t_out, v_out)
            if not names_seen:
                raise RecipeError(f"{what} {f} is empty")
        flush(t_out, v_out)
    if header_row is None or rows == 0:
        if header_row is None:
            raise RecipeError(f"{what} {files[0]} is empty")
        raise RecipeError(f"{files[0]} has a header but no rows of data")
    times = np.memmap(times_path, dtype="datetime64[us]", mode="r", shape=(rows,))
    raw = np.memmap(raw_path, dtype=np.float64, mode="r", shape=(rows, width))
    time_name = header_row[t_index]
    series = Series(
        source=source,
        time_column=time_name,
        times=times,  # type: ignore[arg-type]  # an array on disk, not a list
        columns=[h for h in header_row if h != time_name],
        header=header_row,
    )
    for j, name in enumerate(header_row):
        if j == t_index:
            continue
        if j in non_numeric:
            series.non_numeric[name] = non_numeric[j]
            if numbers[j]:
                series.mixed.append(name)
        else:
            series.values[name] = raw[:, j]
    if rows < 2:
        series.step, series.gaps = 0.0, 0
    elif monthly:
        series.step, series.gaps = MONTH, 0
    else:
        step, _ = gaps.most_common(1)[0]
        series.step, series.gaps = step, sum(n for g, n in gaps.items() if g != step)
    return DiskSeries(series, raw)


def to_datetime(value) -> dt.datetime:
    """A timestamp of a series as a ``datetime`` (the on-disk series holds ``datetime64``)."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(1970, 1, 1) + dt.timedelta(
        microseconds=int(np.datetime64(value, "us").astype(np.int64))
    )
