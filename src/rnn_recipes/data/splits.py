"""Seeded, stratified splits of labelled examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_split(labels: Sequence, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Split example indices into parts with the given fractions, class by class.

    Every class is shuffled with ``seed`` and cut at the same fractions, so each part keeps the
    class balance of the whole. The first part takes whatever rounding leaves over.

    Args:
        labels: one label per example.
        fractions: fraction of examples for each part after the first (e.g. [0.1, 0.1] gives
            train / validation / test with 80/10/10).
        seed: the shuffle seed.

    Returns:
        One sorted index array per part (len(fractions) + 1 parts).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        start = 0
        cuts = []
        for frac in fractions:
            n = int(round(frac * len(idx)))
            cuts.append(idx[start : start + n])
            start += n
        parts[0].append(idx[start:])
        for i, cut in enumerate(cuts, start=1):
            parts[i].append(cut)
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=int) for p in parts]
