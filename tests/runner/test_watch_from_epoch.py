"""train.watch_from_epoch: early stopping ignores the epochs before it (Keras' start_from_epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from rnn_recipes.runner import callbacks
from tests.conftest import invoke, make_reviews, write_csv
from tests.makers import sentiment_run

# A lucky first epoch, then a slow climb: the best of all is epoch 1.
LOSSES = [0.2, 1.0, 0.9, 0.95, 0.97, 0.99, 1.0]


def _watch(watch_from_epoch: int):
    early = callbacks.make_early_stopping("val_loss", 2, watch_from_epoch)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    early.set_model(model)
    early.set_params({"epochs": len(LOSSES), "verbose": 0, "steps": 1})
    early.on_train_begin()
    for epoch, loss in enumerate(LOSSES):
        early.on_epoch_end(epoch, {"val_loss": loss, "loss": loss})
        if getattr(model, "stop_training", False):
            break
    return early


def test_epochs_before_the_first_watched_one_are_neither_best_nor_count():
    plain = _watch(1)
    assert (plain.best_epoch, plain.stopped_epoch) == (0, 2)  # the lucky epoch 1 wins
    late = _watch(2)
    # From epoch 2 on: 0.9 (epoch 3) is the best; patience 2 ends the run two epochs later.
    assert (late.best_epoch, late.best, late.stopped_epoch) == (2, 0.9, 4)


def test_a_run_keeps_no_epoch_before_it(tmp_path: Path):
    """A rate this high overshoots after the first epoch: its best is epoch 1 unless told."""
    data = write_csv(tmp_path / "r.csv", make_reviews(120))
    sets = ("--set", "train.learning_rate=0.5", "--set", "train.patience=5", "--epochs", "2")
    best = {}
    for watch in (1, 2):
        out = tmp_path / f"watch{watch}"
        result = invoke(
            *sentiment_run(data, *sets, "--set", f"train.watch_from_epoch={watch}", "-o", out)
        )
        assert result.exit_code == 0, result.output
        told = "(early stopping patience 5, from epoch 2)" in result.output
        assert told == (watch == 2)  # the log says when early stopping starts watching late
        train = json.loads((out / "metrics.json").read_text())["train"]
        assert train["epochs_run"] == 2
        best[watch] = train["best_epoch"]
    assert best == {1: 1, 2: 2}
