"""train.lr_schedule = "cosine" (sentiment, speech): the rate per epoch, its callback, a resumed
fit, and a run's history.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.tasks import get as get_task
from rnn_recipes.tasks.schedules import cosine_rate, schedule_callbacks
from tests.conftest import invoke, make_reviews, write_csv
from tests.makers import sentiment_run


def test_cosine_rates_fall_from_the_base_rate_and_never_reach_zero():
    rates = [cosine_rate(0.01, e, 4) for e in range(4)]
    # A half cosine at quarters: cos(pi/4) = 0.7071, cos(pi/2) = 0, cos(3pi/4) = -0.7071.
    assert rates == pytest.approx([0.01, 0.0085355, 0.005, 0.0014645], rel=1e-4)
    assert rates[0] == 0.01 and all(a > b > 0 for a, b in zip(rates, rates[1:]))
    assert cosine_rate(0.01, 9, 4) == rates[-1]  # past the cap (a refit's count): the last rate


@pytest.mark.parametrize("task", ["sentiment", "speech"])
def test_each_classification_task_schedules_only_when_asked(task: str):
    constant = load_config(task).config
    assert constant.train.lr_schedule == "constant" and get_task(task).callbacks(constant) == []
    cfg = load_config(task, sets=['train.lr_schedule="cosine"', "train.epochs=4"]).config
    (scheduler,) = get_task(task).callbacks(cfg)
    base = cfg.train.learning_rate
    assert [scheduler.schedule(e, 0.0) for e in range(4)] == pytest.approx(
        [cosine_rate(base, e, 4) for e in range(4)]
    )


def test_a_resumed_fit_takes_the_rate_of_its_epoch():
    """--resume fits from initial_epoch = the checkpoint's epoch: the third epoch of four trains
    at the third epoch's rate, not at the first's."""
    from rnn_recipes._lazy import keras

    cfg = load_config("speech", sets=['train.lr_schedule="cosine"', "train.epochs=4"]).config
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate), loss="mse")
    x, y = np.ones((8, 2), np.float32), np.zeros((8, 1), np.float32)
    model.fit(x, y, epochs=3, initial_epoch=2, callbacks=schedule_callbacks(cfg.train), verbose=0)
    rate = float(np.asarray(model.optimizer.learning_rate))
    assert rate == pytest.approx(cosine_rate(cfg.train.learning_rate, 2, 4))


def test_a_sentiment_run_records_the_cosine_rates(tmp_path: Path):
    data = write_csv(tmp_path / "r.csv", make_reviews(120))
    out = tmp_path / "run"
    result = invoke(
        *sentiment_run(
            data,
            *("--set", 'train.lr_schedule="cosine"', "--set", "train.learning_rate=0.004"),
            *("--set", "train.patience=5", "--epochs", "3", "-o", out),
        )
    )
    assert result.exit_code == 0, result.output
    history = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    # 3 epochs: the base rate, then (1 + cos(pi/3)) / 2 = 3/4 of it, then 1/4.
    rates = [float(r["learning_rate"]) for r in history]
    assert rates == pytest.approx([0.004, 0.003, 0.001], rel=1e-5)
