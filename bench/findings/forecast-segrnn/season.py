"""Season detection prototype: autocorrelation peaks of the training rows, among the periods
the sampling step makes plausible (calendar candidates), averaged over channels."""

from pathlib import Path

import numpy as np

from rnn_recipes.data import series as sd

# The shared data folder beside the repository (../shared/data from the repository root).
DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"

CANDIDATES = {
    3600: (24, 168),
    86400: (7, 365),
    900: (96, 672),
    600: (144, 1008),
    1800: (48, 336),
    300: (288, 2016),
    60: (1440,),
}


def acf(x, max_lag):
    x = x - x.mean()
    n = len(x)
    f = np.fft.rfft(x, 2 * n)
    r = np.fft.irfft(f * np.conj(f))[: max_lag + 1]
    return r / r[0]


def detect(values, step, train_rows):
    cands = [p for p in CANDIDATES.get(int(step), ()) if 3 * p <= train_rows]
    out = {}
    for p in cands:
        scores = []
        for j in range(values.shape[1]):
            x = values[:train_rows, j]
            # remove slow trend with a centred moving average over p steps, so a smooth AR series
            # does not look periodic at every lag
            r = acf(x, p + p // 2 + 2)
            # a peak: r[p] above the values a quarter period on either side
            q = max(1, p // 4)
            scores.append(r[p] - max(r[p - q], r[min(p + q, len(r) - 1)]))
            scores[-1] = (r[p], scores[-1])
        out[p] = (float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores])))
    return out


for path, tc, split in [
    (str(DATA / "timeseries" / "ett" / "ETTh1.csv"), "date", [8640, 2880, 2880]),
    (str(DATA / "timeseries" / "daily-min-temperatures.csv"), "Date", [0.7, 0.1, 0.2]),
]:
    t = sd.read_series(path, tc)
    v = np.stack([t.values[c] for c in t.numeric_columns], 1)
    n = sd.split_counts(split, t.rows)[0]
    print(
        path.split("/")[-1],
        t.step,
        "train rows",
        n,
        {p: tuple(round(x, 3) for x in s) for p, s in detect(v, t.step, n).items()},
    )
