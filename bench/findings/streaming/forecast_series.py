"""Generate a long multivariate hourly series for the streaming measurements (forecast).

ETTh1 (``../shared/data/timeseries/ett/ETTh1.csv``, 17,420 hourly rows, 7 columns) is tiled end
to end until N rows, each copy with Gaussian noise of 5 % of each column's spread added (so no two
copies are equal), the timestamps continuing hourly from the first. Written as CSV with ETTh1's
header, in blocks, one file per size asked for (500,000 rows are 34 MB, 2,000,000 rows 138 MB). Never write it
into the repository::

    python bench/findings/streaming/forecast_series.py ../shared/data/timeseries/ett/ETTh1.csv \
        /tmp/forecast-big 500000 2000000
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

import numpy as np

NOISE = 0.05  # noise of each copy, as a fraction of the column's standard deviation


def main(source: Path, out: Path, sizes: list[int], seed: int = 0) -> None:
    with open(source, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    start = dt.datetime.fromisoformat(rows[0][0])
    base = np.array([[float(v) for v in r[1:]] for r in rows])
    spread = base.std(axis=0) * NOISE
    out.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        rng = np.random.default_rng(seed)
        path = out / f"etth1-{n}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for first in range(0, n, len(base)):
                count = min(len(base), n - first)
                block = base[:count] + rng.normal(0.0, 1.0, (count, base.shape[1])) * spread
                writer.writerows(
                    [(start + dt.timedelta(hours=first + i)).isoformat(sep=" ")]
                    + [f"{v:.4f}" for v in row]
                    for i, row in enumerate(block)
                )
        print(f"{path}: {n:,} rows, {path.stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [int(x) for x in sys.argv[3:]])
