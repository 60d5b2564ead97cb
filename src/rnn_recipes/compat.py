"""Every Keras/TensorFlow detail the project relies on that is not a documented public API.

Each function names what it depends on and the versions it was checked against, so a new
Keras or TensorFlow release that changes one fails in one place (and its tests), not all over.
Checked against the bounds pyproject.toml declares: the lowest pair, TensorFlow 2.16.2 with
Keras 3.8.0, and the newest, TensorFlow 2.21.0 with Keras 3.15.1 (docs/versions.md says how to
repeat the check). Releases in between were not run one by one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def iterators_per_epoch(dataset) -> int:
    """How many iterators of ``dataset`` Keras' ``fit`` makes per epoch.

    One at the start of each epoch; when the dataset's size is known, Keras also makes the next
    epoch's iterator ahead, at the end of each epoch, and then replaces it with a fresh one
    (``keras.src.trainers.epoch_iterator``), so each epoch draws two shuffle orders and uses the
    first. Length-bucketed pipelines have no known size and draw one, provided no epoch has
    more batches than the first: Keras learns the count from a ``fit``'s first epoch, cuts a
    longer epoch short and makes one more iterator for it (``EpochIterator``), so the task
    pipelines keep every epoch's batch count fixed (speech buckets augmented clips by their
    original length). Keras 3.8-3.15.1; before
    3.7 the TensorFlow backend's own epoch iterator made one per epoch, one reason older Keras
    releases are refused. A resumed run replays the draws; ``tests/test_compat.py``
    and the resume tests of every task fail if a Keras release changes this.
    """
    return 2 if int(dataset.cardinality()) > 0 else 1


# What Keras warns (``keras.src.trainers.epoch_iterator``, ``catch_stop_iteration``) at the end
# of the first pass over a dataset of unknown size, in ``fit``, ``evaluate`` and ``predict``,
# even when nothing ran short: it learns the number of batches that way. Length-bucketed and
# streamed pipelines have no known size, and the runner never sets ``steps_per_epoch``, so the
# warning says nothing about a run; the runner drops it (a regex for ``warnings.filterwarnings``).
# Keras 3.8-3.15.1; ``tests/runner/test_folder.py`` fails if a run records it again.
UNKNOWN_SIZE_WARNING = "Your input ran out of data"


def without_autotune(dataset):
    """``dataset`` with tf.data's autotuning off (``tf.data.Options().autotune.enabled``).

    With autotuning on, every iterator runs a model thread (tf.data's ``Model::OptimizeLoop``)
    that waits between optimizations, up to 10 s once the iterator has run a while. Deleting the
    iterator can block until that wait ends: every thread of the process asleep, 5-10 s at a
    time (seen with TensorFlow 2.21: the main thread in ``~IteratorResource`` waiting for the
    model thread, which sat in its timed wait). Keras makes and deletes one or two training
    iterators per epoch (:func:`iterators_per_epoch`) and one validation iterator, so a 10 s
    epoch could take 20 s, at random, with the same CPU time. Without autotuning there is no
    model thread: parallel maps keep the fixed parallelism tf.data resolves ``AUTOTUNE`` to, and
    prefetch buffers keep their own sizing. Public API;
    the stall itself is TensorFlow-internal behaviour (2.21.0; ``tests/test_compat.py``).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def rng_variables(model) -> list[Any]:
    """The random generators' state variables of ``model`` (dropout masks, noise).

    Keras keeps each ``SeedGenerator``'s state as a variable of its layer: in
    ``model.variables`` but not in ``model.weights``, so ``get_weights``/``save_weights`` leave
    it out. A resumed run must restore it to draw the masks an uninterrupted run would.
    Keras 3.8-3.15 (3.7 made the state an integer variable averaged across replicas, which a
    distribution strategy refuses to create).
    """
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


@contextlib.contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """TensorFlow op determinism for the length of one run, then as it was.

    Turning it on is public (``tf.config.experimental.enable_op_determinism``); turning it off
    again and asking whether it is on are not: ``tensorflow.python.framework.config``'s
    ``disable_op_determinism`` and ``is_op_determinism_enabled`` (TensorFlow 2.16-2.21).
    """
    if not enabled:
        yield
        return
    from tensorflow.python.framework import config as tf_config

    from ._lazy import tf

    was_on = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_on:
            tf_config.disable_op_determinism()


def compiled_metrics(model):
    """The metrics container ``compile(metrics=...)`` made, or None.

    Keras keeps it as ``model._compile_metrics`` (a ``CompileMetrics``, a Keras metric whose
    ``stateless_update_state``/``stateless_result`` the distributed loop uses to sum metric
    states over replicas and workers). Keras 3.8-3.15.
    """
    return getattr(model, "_compile_metrics", None)


def cell_gates(cell) -> tuple[Any, Any, Any, Any]:
    """A GRU or LSTM cell's weights as the math of one step uses them: (kernel, recurrent
    kernel, input bias, recurrent bias or None), gates in Keras' storage order (GRU z, r, h;
    LSTM i, f, c, o).

    The order of the gates inside the kernels and the GRU's bias of shape [2, 3 * units]
    (``reset_after=True``, the default: input and recurrent biases) are how
    ``keras.layers.GRUCell``/``LSTMCell`` store them, not a documented interface; the forecast
    task's decoder writes the first step out with them (``tasks/forecast/layers.py``,
    ``_first_step``). Keras 3.8-3.15; ``tests/tasks/test_forecast.py`` compares that step with
    the RNN layer's own and fails if the layout changes.
    """
    if not cell.use_bias:
        raise ValueError("the cell has no bias: the recipes' cells always have one")
    if hasattr(cell, "reset_after"):  # GRU
        if not cell.reset_after:
            raise ValueError("a GRU cell with reset_after=False keeps one bias: not supported")
        return cell.kernel, cell.recurrent_kernel, cell.bias[0], cell.bias[1]
    return cell.kernel, cell.recurrent_kernel, cell.bias, None


@contextlib.contextmanager
def cudnn_off(model) -> Iterator[None]:
    """Turn off cuDNN on every LSTM/GRU inside ``model`` for a while (restored afterwards).

    Relies on two details: ``Layer._flatten_layers`` (the recursive walk that also finds RNNs
    held as attributes of custom layers, such as SegRNN's GRUs; there is no public equivalent),
    and LSTM/GRU reading their ``use_cudnn`` attribute at call time, so a change after
    construction decides the kernel of the graph traced next. Keras 3.8-3.15.
    """
    changed = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if hasattr(layer, "use_cudnn") and layer.use_cudnn is not False:
            changed.append((layer, layer.use_cudnn))
            layer.use_cudnn = False
    try:
        yield
    finally:
        for layer, value in changed:
            layer.use_cudnn = value


def export_tracking_root(model):
    """What to give ``ExportArchive.track`` so the SavedModel stores each variable once.

    ``track(layer)`` appends the layer's Keras variables to the archive's ``variables`` lists,
    and ``write_out`` separately saves the ``tf.Variable`` objects the endpoints capture (the
    archive's ``_all_variables``): on the TensorFlow backend these are two Python objects per
    weight, so every weight was written twice (26 of a 27 MB SavedModel on rt-polarity was two
    copies of 13 MB). A Trackable that is not a Layer is kept only as a root in which
    ``write_out`` looks for lookup tables (``TextVectorization``'s vocabulary), so wrapping the
    model in a ``tf.Module`` keeps the tables and the captured variables and drops the second
    copy; the loaded SavedModel then has no ``variables`` list, which serving never reads.
    Run with Keras 3.15.1 and TensorFlow 2.21.0 (``keras.src.export``, read there); Keras 3.8 was
    not run: the export code of an earlier 3.x release, read, keeps a non-Layer Trackable in
    ``_tracked`` and saves the endpoints' variables the same way. ``tests/test_export.py``
    fails if a release stores the weights twice again or loses the lookup tables.
    """
    from ._lazy import tf

    root = tf.Module(name="export_root")
    root.model = model
    return root


EARLY_STOPPING_STATE = ("best", "best_epoch", "wait", "best_weights")


def early_stopping_state(callback) -> dict[str, Any]:
    """What ``keras.callbacks.EarlyStopping`` has learnt so far, to be checkpointed.

    The attributes are public but undocumented, and ``on_train_begin`` resets them in every
    ``fit``. ``best`` is None until the first epoch's value; since Keras 3.7 a value restored
    before the first epoch is kept (earlier releases overwrote it at the first epoch end).
    Keras 3.8-3.15.
    """
    return {key: getattr(callback, key) for key in EARLY_STOPPING_STATE}


def set_early_stopping_state(callback, state: dict[str, Any]) -> None:
    """Give an EarlyStopping callback back the state :func:`early_stopping_state` took."""
    for key in EARLY_STOPPING_STATE:
        setattr(callback, key, state[key])
