"""The resume checkpoint: what it holds, and falling back when the newest one is damaged."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes._lazy import keras
from rnn_recipes.errors import RecipeError
from rnn_recipes.runner.callbacks import make_early_stopping
from rnn_recipes.runner.checkpoint import ResumeState


def _model(seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.GRU(4),
            keras.layers.Dropout(0.5, seed=1),
            keras.layers.Dense(2),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def _train_step(model) -> None:
    x = np.random.default_rng(0).random((8, 5, 3), dtype=np.float32)
    model.fit(x, np.ones((8, 2), np.float32), epochs=1, verbose=0)


def _state(folder: Path, seed: int = 0):
    model = _model(seed)
    early = make_early_stopping("val_loss", patience=3)
    early.set_model(model)
    early.on_train_begin()
    state = ResumeState(folder, model, early)
    early.resume_state = state
    return model, early, state


def test_restore_gives_back_weights_optimizer_and_epoch(tmp_path: Path):
    model, early, state = _state(tmp_path)
    _train_step(model)
    early.best, early.best_epoch, early.wait = 0.25, 1, 1
    early.best_weights = model.get_weights()
    state.save(2)
    saved = [v.numpy().copy() for v in model.weights + list(model.optimizer.variables)]

    model2, early2, state2 = _state(tmp_path, seed=5)  # other initial weights
    assert state2.restore() == 2
    early2.on_train_begin()  # Keras resets it; the saved state comes back
    restored = [v.numpy() for v in model2.weights + list(model2.optimizer.variables)]
    assert all(np.array_equal(a, b) for a, b in zip(saved, restored))
    assert (early2.best, early2.best_epoch, early2.wait) == (0.25, 1, 1)


def test_wait_count_survives_a_non_finite_best_value(tmp_path: Path):
    # A NaN validation loss still counts towards patience; a resumed run must not forget it
    # and train longer than an uninterrupted one would.
    model, early, state = _state(tmp_path)
    early.best, early.best_epoch, early.wait = math.nan, 0, 2
    early.best_weights = model.get_weights()
    state.save(3)
    _, early2, state2 = _state(tmp_path)
    state2.restore()
    early2.on_train_begin()
    assert early2.wait == 2 and math.isnan(early2.best) and early2.best_weights is not None


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path: Path, damage: str):
    model, early, state = _state(tmp_path)
    state.save(1)
    first = [w.copy() for w in model.get_weights()]
    _train_step(model)
    state.save(2)
    data = next(tmp_path.glob("epoch-2.data-*"))
    size = data.stat().st_size
    data.write_bytes(b"" if damage == "empty" else data.read_bytes()[: size // 2])

    model2, _, state2 = _state(tmp_path, seed=3)
    messages: list[str] = []
    assert state2.restore(messages.append) == 1
    assert any("epoch-2 is damaged" in m for m in messages)
    assert all(np.array_equal(a, b) for a, b in zip(first, model2.get_weights()))


def test_no_readable_checkpoint_is_one_clear_error(tmp_path: Path):
    model, _, state = _state(tmp_path)
    state.save(1)
    for data in tmp_path.glob("epoch-1.data-*"):
        data.write_bytes(b"")
    _, _, state2 = _state(tmp_path)
    with pytest.raises(RecipeError, match="start the run again with --force"):
        state2.restore()


def test_only_the_last_two_epochs_are_kept(tmp_path: Path):
    _, _, state = _state(tmp_path)
    for epoch in (1, 2, 3):
        state.save(epoch)
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["epoch-2.index", "epoch-3.index"]
