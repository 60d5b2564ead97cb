"""The training stage: build the model, restore a checkpoint, fit (or the distributed loop).

``fit`` trains on one device; under ``train.strategy`` mirrored or multi-worker the loop of
:func:`rnn_recipes.distributed.fit_distributed` drives the same callbacks (distributed.py says
why ``fit`` is not used there).
"""

from __future__ import annotations

import csv
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import compat, distributed
from . import callbacks as cb
from .checkpoint import FOLDER, Checkpointer, ResumeState


@dataclass
class Trained:
    """What training produced, for the evaluation and report stages."""

    model: Any
    seconds: float = 0.0  # wall time of this process's training
    train_seconds: float = 0.0  # of which training passes (validation excluded)
    epoch_seconds: list[float] = field(default_factory=list)  # each epoch's training pass
    epoch_cpu_seconds: list[float] = field(default_factory=list)  # its process CPU time
    epochs_now: int = 0  # epochs trained by this process (after a resume: the new ones)
    resumed_after: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)  # every epoch, resumed or not
    best_epoch: int = 0  # 1-based; its weights are the model's
    trainable: int = 0
    fixed: int = 0


def build(task, cfg, data, strategy, log) -> tuple[Any, int, int]:
    """The compiled model, its variables (and the optimizer's) on every replica."""
    with distributed.scope(strategy):
        model = task.build_model(cfg, data.spec)  # explicit sizes only: rebuildable
        task.initialize(model, cfg, data)  # data-dependent starting values
        task.compile_model(model, cfg)
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)  # what training fits
    fixed = model.count_params() - trainable  # e.g. sentiment's naive Bayes table
    log(
        f"Model: {model.name}, {trainable:,} trainable parameters"
        + (f" (+{fixed:,} fixed)" if fixed else "")
    )
    return model, trainable, fixed


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv (Keras CSVLogger) as metric -> per-epoch values."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # Keras' CSVLogger adds val_* columns of "NA" when fit has no validation data (a refit).
    return {
        k: [float(r[k]) for r in rows]
        for k in (rows[0] if rows else {})
        if k != "epoch" and any(r[k] != "NA" for r in rows)
    }


def truncate_history(path: Path, epochs: int) -> None:
    """Keep the header and the first ``epochs`` rows: epochs after the last checkpoint rerun."""
    if path.is_file():
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[: 1 + epochs]))


def train(
    resolved,
    work: Path,
    data,
    strategy,
    log,
    resume: bool,
    role: distributed.Role,
    refit_epochs: int | None = None,
    skip_epochs: int = 0,
) -> Trained:
    """Train ``resolved``'s model on ``data``, checkpointing into ``work`` after every epoch.

    With ``refit_epochs`` (a refit, see :func:`rnn_recipes.runner._refit`), train a fresh model
    for exactly that many epochs, with no validation pass and no early stopping, and keep the
    last weights: ``data.train`` already holds the validation examples.

    With ``skip_epochs`` (an ensemble member, see :func:`rnn_recipes.runner._ensemble`), the
    training pipeline first draws that many epochs' shuffle orders (and, in speech, their
    augmentations) unused, so a member trains on other draws than the members before it.
    """
    cfg, task, t = resolved.config, resolved.task, resolved.config.train
    epochs = refit_epochs or t.epochs
    model, trainable, fixed = build(task, cfg, data, strategy, log)
    if strategy is not None:
        log(
            f"Strategy {t.strategy}: {distributed.replicas(strategy)} replicas"
            + (f" on {role.workers} workers (this is {role.name})" if role.workers > 1 else "")
            + f"; global batch {t.batch_size}"
        )
    timer = cb.make_timer()
    early = (
        cb.NeverStop()
        if refit_epochs
        else cb.make_early_stopping(f"val_{t.monitor}", t.patience, t.watch_from_epoch)
    )
    with distributed.scope(strategy):
        state = ResumeState(work / FOLDER, model, early)
    early.resume_state = state
    done = state.restore(log) if resume else 0
    if resume:
        log(
            f"Checkpoint restored: resuming after epoch {done}"
            + (" (training had ended)" * state.training_finished)
        )
        truncate_history(work / "history.csv", done)
    result = Trained(
        model, resumed_after=done if resume else None, trainable=trainable, fixed=fixed
    )

    if resume and state.training_finished:
        if refit_epochs:
            result.best_epoch = epochs  # the checkpoint holds the last epoch's weights
        else:
            state.restore_best_weights()  # what EarlyStopping did when the training ended
            result.best_epoch = int(state.best_epoch.numpy()) + 1
    else:
        if refit_epochs:
            log(f"Training for {epochs} epochs")
        else:
            watch = f", from epoch {t.watch_from_epoch}" if t.watch_from_epoch > 1 else ""
            log(f"Training for up to {epochs} epochs (early stopping patience {t.patience}{watch})")
        callbacks = [
            timer,
            # Before the records: a learning-rate schedule adds `learning_rate` to the epoch's
            # logs, and history.csv keeps it only if it is there when the logger writes.
            *task.callbacks(cfg),
            *cb.records(work, resume),
            early,
            Checkpointer(state, epochs),  # last: it saves what the others left
        ]
        started = time.perf_counter()
        validation = None if refit_epochs else data.validation
        history = _fit(
            model,
            data.train,
            validation,
            strategy,
            done,
            epochs,
            t,
            role,
            log,
            callbacks,
            skip_epochs,
        )
        result.seconds = time.perf_counter() - started
        result.train_seconds = timer.train_seconds
        result.epoch_seconds = list(timer.epoch_seconds)
        result.epoch_cpu_seconds = list(timer.epoch_cpu_seconds)
        result.epochs_now = len(history.get("loss", []))
        # EarlyStopping restored the best epoch's weights; a refit keeps its last epoch's.
        result.best_epoch = epochs if refit_epochs else early.best_epoch + 1
    result.history = read_history(work / "history.csv")
    return result


def _fit(
    model,
    train,
    validation,
    strategy,
    done: int,
    epochs: int,
    t,
    role,
    log,
    callbacks: list,
    skip_epochs: int = 0,
) -> dict:
    """``fit``, or the distributed loop, from epoch ``done``; returns this session's history.

    ``skip_epochs`` more epochs' draws are made first (one device only)."""
    # Length-bucketed pipelines have no known size, which Keras reports after the first epoch
    # as "input ran out of data"; nothing ran out, the epoch simply ended.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=compat.UNKNOWN_SIZE_WARNING)
        if strategy is not None:
            assert not skip_epochs, "ensemble members train on one device"
            history = distributed.fit_distributed(
                model,
                strategy,
                train,
                validation,
                epochs=epochs,
                initial_epoch=done,
                callbacks=callbacks,
                log=log,
                verbose=cb.verbosity(t.verbose) > 0,
                role=role,
            ).history
        else:
            # Each iterator of the training set draws a new shuffle order from the pipeline's
            # seeded generator; replay the draws of the completed epochs so the resumed epochs
            # see the orders they would have. (The distributed loop replays them itself.)
            for _ in range((skip_epochs + done) * compat.iterators_per_epoch(train)):
                iter(train)
            history = model.fit(
                train,
                validation_data=validation,
                epochs=epochs,
                initial_epoch=done,
                callbacks=callbacks,
                verbose=cb.verbosity(t.verbose),
                shuffle=False,  # the pipeline shuffles (and buckets) itself
            ).history
    return history
