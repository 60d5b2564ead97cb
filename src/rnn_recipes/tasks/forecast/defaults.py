"""Settings derived from the series when the user leaves them at 0: season, lookback, segment.

ETTh1's numbers (lookback 336, segments of 48) are right for hourly data with daily and weekly
cycles and wrong for most other series: two months of daily temperatures read as one zero-padded
48-day segment lost to a linear model. So ``data.season``, ``model.lookback`` and
``model.segment_length`` default to 0, and the run derives them from the training rows:

* **season**: among the periods the sampling step makes plausible (hourly: 24 and 168; daily:
  7 and 365; ...), those whose autocorrelation on the training rows has a clear peak. A smooth
  series has a high autocorrelation at every short lag, so the value itself says nothing; the
  peak's *prominence* ``r[p] - max(r[p - p/4], r[p + p/4])`` does (about 0.2 for ETTh1's daily
  and weekly cycles and 0.47 for the temperatures' year, about 0 where there is no cycle). The
  season is the shortest accepted period; with none, seasonal naive is skipped with the reason.
* **lookback**: two of the longest accepted periods (ETTh1: 2 x 168 = 336, the literature's
  value), at least the horizon; four horizons when no period is found; at most a third of the
  training rows so there are windows to learn from.
* **segment length**: a whole number of seasons giving at most :data:`MAX_SEGMENTS` RNN steps
  (ETTh1 at 336: 48, 7 steps; at 96: 24, 4 steps, SegRNN's choices), so each segment holds whole
  cycles and the RNN stays short; when the lookback holds fewer than four seasons (or there is
  none), ``ceil(lookback / 8)`` (two months of daily data: 8 days).

Every derived value is logged with its reason and recorded in metrics.json (``data.derived``).
No TensorFlow here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...data import series as series_data

# Candidate periods per sampling step (seconds): a day and a week for sub-daily steps, a week
# and a year for daily data, a year for weekly and monthly data.
CANDIDATES: dict[float | str, tuple[int, ...]] = {
    60: (1440, 10080),
    300: (288, 2016),
    600: (144, 1008),
    900: (96, 672),
    1800: (48, 336),
    3600: (24, 168),
    86400: (7, 365),
    7 * 86400: (52,),
    series_data.MONTH: (12,),
}
# A peak this much above the autocorrelation a quarter period away counts as a cycle. Real
# cycles measured 0.2-0.47 (ETTh1 day and week, the temperatures' year), absent ones about 0.
MIN_PROMINENCE = 0.05
MAX_SEGMENTS = 8  # RNN steps over the lookback: few, wide segments (SegRNN's design)
# Segments of whole seasons need the lookback to hold this many seasons; otherwise a segment of
# one long season (the temperatures' year) would leave the RNN one or two steps.
MIN_SEASONS = 4


@dataclass
class Derived:
    """What was derived and why: ``values[key] = value``, ``reasons[key] = text``."""

    values: dict[str, int | None] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    # Prominence of every candidate period tried, for metrics.json.
    prominence: dict[int, float] = field(default_factory=dict)

    def record(self) -> dict:
        return {
            key: {"value": self.values[key], "reason": self.reasons[key]} for key in self.values
        } | ({"period_prominence": self.prominence} if self.prominence else {})


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation r[0..max_lag] of a 1-D series (mean removed; r[0] = 1)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    spectrum = np.fft.rfft(x, 2 * n)
    r = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1]
    return r / r[0] if r[0] > 0 else np.zeros(max_lag + 1)


def period_prominence(train: np.ndarray, step: float | str) -> dict[int, float]:
    """Prominence of each candidate period's autocorrelation peak, averaged over channels.

    Args:
        train: [rows, channels] training rows (targets), NaN-free.
        step: the sampling step (seconds, or :data:`series_data.MONTH`).

    Returns:
        {period: prominence} for the candidates with at least three periods of training rows.
    """
    key = step if step == series_data.MONTH else float(step)
    periods = [p for p in CANDIDATES.get(key, ()) if 3 * p <= len(train)]
    out = {}
    for p in periods:
        q = max(1, p // 4)
        scores = []
        for j in range(train.shape[1]):
            r = autocorrelation(train[:, j], p + q)
            scores.append(r[p] - max(r[p - q], r[p + q]))
        out[p] = round(float(np.mean(scores)), 4)
    return out


def derive(
    season: int,
    lookback: int,
    segment_length: int,
    horizon: int,
    train: np.ndarray,
    step: float | str,
) -> Derived:
    """Fill in the settings left at 0 from the training rows; set ones are kept as given.

    Args:
        season, lookback, segment_length: the configured values (0 = derive).
        horizon: the configured horizon.
        train: [rows, targets] training rows of the target channels.
        step: the series' sampling step.
    """
    out = Derived()
    accepted: list[int] = []
    if season == 0 or lookback == 0:
        out.prominence = period_prominence(train, step)
        accepted = sorted(p for p, s in out.prominence.items() if s > MIN_PROMINENCE)
    found = ", ".join(f"{p} (prominence {out.prominence[p]:.2f})" for p in accepted)

    if season == 0:
        if accepted:
            season = accepted[0]
            out.reasons["season"] = f"autocorrelation peaks of the training rows at {found}"
        else:
            tried = ", ".join(f"{p} ({s:.2f})" for p, s in out.prominence.items())
            out.reasons["season"] = (
                f"no cycle found in the training rows (candidates: {tried or 'none for this step'}"
                "); seasonal naive is skipped: set data.season to compare with it"
            )
        out.values["season"] = season or None

    if lookback == 0:
        rows = len(train)
        if accepted:
            lookback = max(2 * accepted[-1], horizon)
            why = f"two of the longest period found ({accepted[-1]})"
            if lookback == horizon:
                why = "the horizon (longer than two periods)"
        else:
            lookback = 4 * horizon
            why = "four horizons (no cycle found)"
        if lookback > rows // 3:
            lookback = max(1, rows // 3)
            why += f", cut to a third of the {rows} training rows"
        out.values["lookback"] = lookback
        out.reasons["lookback"] = why

    if segment_length == 0:
        if season and MIN_SEASONS * season <= lookback:
            k = 1
            while math.ceil(lookback / (k * season)) > MAX_SEGMENTS:
                k += 1
            segment_length = k * season
            whole = "one season" if k == 1 else f"{k} seasons of {season}"
            why = f"{whole}, at most {MAX_SEGMENTS} RNN steps"
        else:
            segment_length = math.ceil(lookback / MAX_SEGMENTS)
            why = f"lookback / {MAX_SEGMENTS}" + (
                f" (season {season} fits fewer than {MIN_SEASONS} times in it)"
                if season
                else " (no season)"
            )
        steps = math.ceil(lookback / segment_length)
        out.values["segment_length"] = segment_length
        out.reasons["segment_length"] = f"{why}: {lookback}/{segment_length} = {steps} steps"
    return out
