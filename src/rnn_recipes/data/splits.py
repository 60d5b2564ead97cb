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


def group_split(groups: Sequence, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Split example indices so that no group (e.g. a speaker) lands in two parts.

    Groups are shuffled with ``seed``; each part after the first takes whole groups, in that
    order, while doing so brings its size closer to its fraction of all examples (at least one
    group when its fraction is above 0). The first part keeps the remaining groups. Classes are
    not balanced: with few groups the parts can differ from the fractions.

    Args:
        groups: one group name per example.
        fractions: fraction of examples for each part after the first.
        seed: the shuffle seed.

    Returns:
        One sorted index array per part (len(fractions) + 1 parts); a part may be empty when
        there are fewer groups than parts.
    """
    groups = np.asarray(groups)
    names, sizes = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    left = [int(i) for i in order]
    chosen: list[list[int]] = [[] for _ in fractions]
    for part, frac in enumerate(fractions):
        target = frac * len(groups)
        count = 0
        for g in list(left):
            if frac <= 0 or len(left) <= 1:
                break
            if not chosen[part] or abs(count + sizes[g] - target) < abs(count - target):
                chosen[part].append(g)
                left.remove(g)
                count += sizes[g]
    parts = [left, *chosen]
    return [np.sort(np.flatnonzero(np.isin(groups, names[p]))) for p in parts]
