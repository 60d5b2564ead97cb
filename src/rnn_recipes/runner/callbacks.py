"""The callbacks every run trains with: timing, resumable early stopping, history, logs, checkpoints."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .._lazy import keras


class TrainTimer(keras.callbacks.Callback):
    """Times the training part of each epoch (validation excluded), for examples/s.

    ``epoch_seconds`` has one entry per epoch this process trained: the first pays for tracing
    the train step, the last is the steady state. ``epoch_cpu_seconds`` is the CPU time the
    process spent in each (all threads): on a shared machine it moves less than wall time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.train_seconds = 0.0
        self.epoch_seconds: list[float] = []
        self.epoch_cpu_seconds: list[float] = []
        self._start: float | None = None
        self._cpu_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def on_test_begin(self, logs=None):
        if self._start is not None:
            seconds = time.perf_counter() - self._start
            self.train_seconds += seconds
            self.epoch_seconds.append(seconds)
            self.epoch_cpu_seconds.append(time.process_time() - self._cpu_start)
            self._start = None

    def on_epoch_end(self, epoch, logs=None):
        self.on_test_begin()


def stopped_at_epoch_cap(epochs_run: int, epochs: int, best_epoch: int, patience: int) -> bool:
    """Whether a run ended at ``train.epochs`` while its validation figure was still improving.

    True when early stopping never ended it and the best epoch (1-based) is among the last
    ``min(patience, 2)`` epochs: more epochs would likely have helped.
    """
    return epochs_run >= epochs and best_epoch > epochs_run - min(max(patience, 1), 2)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping (best weights restored) that takes back its state on ``--resume``.

    Keras resets early stopping in every ``fit``; :class:`~.checkpoint.ResumeState` saves its
    state with every checkpoint and hands it back here, right after that reset. When the run
    ends at its epoch cap while still improving, it says so on the console (metrics.json
    records it as ``train.stopped_at_epoch_cap``).
    """

    resume_state = None  # set by the training stage once the checkpoint state exists

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.resume_state is not None:
            self.resume_state.apply_early_stopping()
        self.epochs_seen = 0

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.epochs_seen = epoch + 1  # absolute, also after --resume

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        epochs = self.params.get("epochs") or 0
        best = self.best_epoch + 1
        if self.stopped_epoch or not stopped_at_epoch_cap(
            self.epochs_seen, epochs, best, self.patience
        ):
            return
        what = self.monitor.removeprefix("val_")
        print(
            f"note: training stopped at train.epochs={epochs} while validation {what} was still "
            f"improving (best {float(self.best):.4g} at epoch {best} of {epochs}); raise "
            f"train.epochs (e.g. --epochs {2 * epochs})",
            flush=True,
        )


def make_timer() -> TrainTimer:
    """The epoch timer (a function, so tests can wrap it to act at a given epoch)."""
    return TrainTimer()


def make_early_stopping(
    monitor: str, patience: int, watch_from_epoch: int = 1
) -> ResumableEarlyStopping:
    """Early stopping on ``monitor`` that keeps the best epoch's weights and ignores the epochs
    before ``watch_from_epoch`` (1-based; ``train.watch_from_epoch``)."""
    return ResumableEarlyStopping(
        monitor=monitor,
        patience=patience,
        restore_best_weights=True,
        start_from_epoch=watch_from_epoch - 1,  # Keras counts epochs from 0
        verbose=0,
    )


class NeverStop(ResumableEarlyStopping):
    """A refit's stand-in for early stopping: it trains every epoch and keeps the last weights.

    A refit trains a fixed number of epochs with nothing held out; the checkpoint still saves
    this callback's (inert) state, so a refit resumes like any run.
    """

    def __init__(self) -> None:
        super().__init__(monitor="loss", patience=2**31 - 1, restore_best_weights=False, verbose=0)

    def on_train_end(self, logs=None):
        return None  # no best weights to restore, no epoch-cap note: the epochs were chosen


def records(work: Path, resume: bool) -> list:
    """history.csv and TensorBoard logs, written into the run folder."""
    return [
        keras.callbacks.CSVLogger(str(work / "history.csv"), append=resume),
        keras.callbacks.TensorBoard(log_dir=str(work / "logs"), write_graph=False),
    ]


def verbosity(setting: str) -> int:
    """``train.verbose`` as Keras' ``verbose``: a bar on a terminal, one line per epoch in logs."""
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 2
    return {"bar": 1, "epoch": 2, "quiet": 0}[setting]
