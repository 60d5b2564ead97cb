"""A run that ends at train.epochs while its validation figure still improves says so."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnn_recipes.runner import callbacks


@pytest.mark.parametrize(
    ("epochs_run", "epochs", "best", "patience", "expected"),
    [
        (15, 15, 15, 6, True),  # best in the last epoch
        (15, 15, 14, 6, True),  # or the one before
        (15, 15, 13, 6, False),  # had two epochs to improve and did not
        (15, 15, 15, 1, True),
        (15, 15, 14, 1, False),  # patience 1 looks at the last epoch only
        (9, 15, 9, 3, False),  # early stopping ended it (or it was interrupted): not the cap
    ],
)
def test_stopped_at_epoch_cap(epochs_run, epochs, best, patience, expected):
    assert callbacks.stopped_at_epoch_cap(epochs_run, epochs, best, patience) is expected


def _train(losses: list[float], patience: int, capsys) -> tuple[str, object]:
    early = callbacks.make_early_stopping("val_loss", patience)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    early.set_model(model)
    early.set_params({"epochs": len(losses), "verbose": 0, "steps": 1})
    early.on_train_begin()
    for epoch, loss in enumerate(losses):
        early.on_epoch_begin(epoch)
        early.on_epoch_end(epoch, {"val_loss": loss, "loss": loss})
        if getattr(model, "stop_training", False):
            break
    early.on_train_end()
    return capsys.readouterr().out, early


def test_a_run_still_improving_at_its_cap_prints_one_note(capsys):
    out, _ = _train([1.0, 0.8, 0.7, 0.6], patience=3, capsys=capsys)
    lines = out.strip().splitlines()
    assert lines == [
        "note: training stopped at train.epochs=4 while validation loss was still improving "
        "(best 0.6 at epoch 4 of 4); raise train.epochs (e.g. --epochs 8)"
    ]


def test_no_note_when_the_run_plateaued_or_stopped_early(capsys):
    out, _ = _train([1.0, 0.5, 0.6, 0.7], patience=5, capsys=capsys)
    assert out == ""
    out, early = _train([1.0, 0.5, 0.6, 0.7, 0.8, 0.9], patience=2, capsys=capsys)
    assert early.stopped_epoch > 0 and out == ""
    assert np.isfinite(early.best)
