"""Learning-rate schedules, one per ``train.lr_schedule`` name, as Keras callbacks.

Every task's ``callbacks`` hook goes through :func:`schedule_callbacks`. Keras hands the
scheduler the absolute epoch index, so a resumed run (and a refit, which trains the first epochs
of the same schedule) takes the rates of the epochs it trains.
"""

from __future__ import annotations

import math


def type3_rate(base: float, epoch: int, epochs: int = 0) -> float:
    """SegRNN's "type3" schedule: ``base`` for epochs 0-3, then x0.8 per epoch (0-based)."""
    return base * 0.8 ** max(0, epoch - 3)


def cosine_rate(base: float, epoch: int, epochs: int) -> float:
    """The ``"cosine"`` schedule's rate for (0-based) ``epoch`` of ``epochs``: ``base`` in the
    first epoch, falling along a half cosine to ``base * (1 - cos(pi / epochs)) / 2`` in the
    last one (never 0: the last epoch still learns)."""
    return base * 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs - 1) / epochs))


RATES = {"type3": type3_rate, "cosine": cosine_rate}


def schedule_callbacks(train) -> list:
    """``train.lr_schedule`` as a Keras callback (none for ``"constant"``)."""
    if train.lr_schedule == "constant":
        return []
    from .._lazy import keras

    rate, base, epochs = RATES[train.lr_schedule], train.learning_rate, train.epochs
    return [keras.callbacks.LearningRateScheduler(lambda e, lr: rate(base, e, epochs))]
