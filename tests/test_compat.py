"""The private Keras/TensorFlow details in rnn_recipes.compat, checked against the installed versions.

If one of these fails after a Keras or TensorFlow upgrade, the detail changed: fix compat.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnn_recipes import compat
from rnn_recipes._lazy import keras, tf


class _Recorder(keras.layers.Layer):
    """Remembers every batch the model sees (eager mode)."""

    def __init__(self, seen: list, **kwargs):
        super().__init__(**kwargs)
        self.record = seen.append  # a bound method: Keras would copy a list attribute

    def call(self, x):
        if tf.executing_eagerly():
            self.record(x.numpy()[:, 0].tolist())
        return x

    def compute_output_shape(self, shape):
        return shape


def _shuffled(sized: bool):
    ds = tf.data.Dataset.range(8).map(lambda i: (tf.cast([i], tf.float32), tf.cast(i, tf.float32)))
    ds = ds.shuffle(8, seed=7, reshuffle_each_iteration=True).batch(8)
    if not sized:  # e.g. a length-bucketed pipeline: Keras cannot know its size
        ds = ds.filter(lambda x, y: True)
    return ds


@pytest.mark.parametrize("sized", [True, False])
def test_replaying_iterators_gives_the_order_fit_would_see(sized: bool):
    """What resume relies on: after k epochs of fit, epoch k+1 sees the order that a fresh
    pipeline gives after k * iterators_per_epoch iterators were made and dropped."""
    seen: list = []
    model = keras.Sequential([keras.Input((1,)), _Recorder(seen), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    model.fit(_shuffled(sized), epochs=3, verbose=0)
    assert len(seen) == 3 and seen[1] != seen[2]  # a new order every epoch

    replay = _shuffled(sized)
    for _ in range(2 * compat.iterators_per_epoch(replay)):
        iter(replay)
    x, _ = next(iter(replay))
    assert x.numpy()[:, 0].tolist() == seen[2]


def test_without_autotune_keeps_the_data_and_the_shuffle_replay():
    """Autotuning off changes how tf.data schedules work, never what a pipeline yields: the same
    batches, the same reshuffled orders, the same replay for resume."""
    plain, steady = _shuffled(True), compat.without_autotune(_shuffled(True))
    assert steady.options().autotune.enabled is False
    assert plain.options().autotune.enabled is not False
    for _ in range(3):  # three epochs: each iterator reshuffles alike
        assert [x.numpy().tolist() for x, _ in plain] == [x.numpy().tolist() for x, _ in steady]
    assert int(steady.cardinality()) == int(plain.cardinality())  # iterators_per_epoch holds


def test_prepared_pipelines_run_without_autotune():
    """Every task's pipelines reach fit with autotuning off (tasks.base.Prepared)."""
    from rnn_recipes.tasks.base import Prepared

    ds = tf.data.Dataset.range(4).batch(2)
    data = Prepared(ds, ds, None, counts={}, train_examples=4, spec=None)
    assert data.train.options().autotune.enabled is False
    assert data.validation.options().autotune.enabled is False
    assert data.test is None  # not a pipeline: left alone
    assert [b.numpy().tolist() for b in data.train] == [[0, 1], [2, 3]]


def test_rng_variables_are_the_seed_states_not_the_weights():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dropout(0.5, seed=1), keras.layers.Dense(2)]
    )
    rng = compat.rng_variables(model)
    assert len(rng) == 1 and "seed_generator" in rng[0].path
    assert all(id(v) not in {id(w) for w in model.weights} for v in rng)


def test_another_keras_backend_is_one_clear_error(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run(
        [sys.executable, "-m", "rnn_recipes.cli", "run", "sentiment", "-o", tmp_path / "r"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: KERAS_BACKEND is 'jax'")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_op_determinism_is_scoped_to_the_run():
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    with compat.op_determinism(True):
        assert tf_config.is_op_determinism_enabled()
    assert not tf_config.is_op_determinism_enabled()


def test_using_the_library_leaves_stderr_alone():
    # Only the command line filters TensorFlow's native log lines; a library caller's fd 2
    # stays the file it was.
    code = (
        "import os\n"
        "before = os.fstat(2).st_ino\n"
        "from rnn_recipes._lazy import tf\n"
        "tf.constant(1)\n"
        "print(before == os.fstat(2).st_ino)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "True", proc.stderr[-2000:]


def test_cell_gates_reads_the_layout_the_forecast_decoder_writes_out():
    """GRU: kernel [in, 3u] and the bias split into input and recurrent halves; LSTM: one
    bias [4u]; a GRU without reset_after keeps one bias, which the decoder cannot use."""
    gru = keras.layers.GRUCell(4)
    gru.build((None, 3))
    kernel, recurrent, bias, recurrent_bias = compat.cell_gates(gru)
    assert kernel.shape == (3, 12) and recurrent.shape == (4, 12)
    assert bias.shape == (12,) and recurrent_bias.shape == (12,)
    lstm = keras.layers.LSTMCell(4)
    lstm.build((None, 3))
    _, _, bias, recurrent_bias = compat.cell_gates(lstm)
    assert bias.shape == (16,) and recurrent_bias is None
    old = keras.layers.GRUCell(4, reset_after=False)
    old.build((None, 3))
    with pytest.raises(ValueError, match="reset_after"):
        compat.cell_gates(old)
