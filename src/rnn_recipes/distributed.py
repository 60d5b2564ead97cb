"""Scale-out with ``tf.distribute``: which strategy a run trains under, and multi-worker training.

``train.strategy`` (``--strategy``) picks one of:

* ``default``: one device (the first GPU, or the CPU), Keras ``fit``. Best for the small models
  the recipes train.
* ``mirrored``: ``tf.distribute.MirroredStrategy`` over every local GPU (the CPU when there is
  none): synchronous data parallelism on one machine.
* ``multi-worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` over the hosts named by the
  standard ``TF_CONFIG`` environment variable.

Both distributed strategies train with :func:`fit_distributed`, a loop that drives the same
callbacks ``fit`` would (history.csv, TensorBoard, early stopping, per-epoch checkpoints), so the
run folder looks the same. Keras 3 ``fit`` fails under MultiWorkerMirroredStrategy ("Attempt to
convert a value (PerReplica...)", keras-team/keras#20585); under MirroredStrategy it works only
while every batch splits evenly over the replicas: before training it averages the replicas'
pieces of the first batch to learn the input shapes, which fails ("Inputs to operation AddN ...
must have the same size and shape") when the first batch is, say, 15 examples on 2 replicas,
and it weights every replica's piece equally, whatever its size.

In every case ``train.batch_size`` is the *global* batch: the task pipelines batch with it and
``tf.distribute`` splits each batch over the replicas.

Two environment variables exist for trying and testing this on a machine without GPUs:

* ``RNN_RECIPES_LOGICAL_CPUS=N`` (N >= 2) splits the CPU into N logical devices before
  TensorFlow starts, and ``mirrored`` then runs one replica on each (ignored when there are GPUs).
* ``RNN_RECIPES_DUMP_WEIGHTS=DIR`` (test hook) makes every multi-worker process write its final
  weights and per-epoch step/example counts to ``DIR/<task type>-<index>.npz``, so a test can
  check that the workers ended in sync, including those that keep no run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import compat
from ._lazy import keras, tf
from .errors import RecipeError

STRATEGIES = ("default", "mirrored", "multi-worker")
LOGICAL_CPUS_ENV = "RNN_RECIPES_LOGICAL_CPUS"
DUMP_ENV = "RNN_RECIPES_DUMP_WEIGHTS"
DOCS = "docs/distributed.md"


# ---------------------------------------------------------------------------------------------
# Who is this process in the cluster?


@dataclass(frozen=True)
class Role:
    """This process's place in the cluster (a single process is its own chief)."""

    task_type: str = "worker"
    index: int = 0
    workers: int = 1  # processes training together (chief included)
    chief: bool = True  # the one that writes the run folder and exports

    @property
    def name(self) -> str:
        return f"{self.task_type} {self.index}"


def role(strategy: str, environ: dict[str, str] | None = None) -> Role:
    """Read this process's role from ``TF_CONFIG`` (multi-worker only), with one-line errors.

    The chief is the task of type ``chief`` or, when the cluster has none, worker 0 (the
    convention of ``tf.distribute`` and Keras).
    """
    if strategy != "multi-worker":
        return Role()
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        raise RecipeError(
            "train.strategy = multi-worker needs the TF_CONFIG environment variable naming the "
            f"cluster and this worker's task (see {DOCS}); or use --strategy mirrored/default"
        )
    try:
        conf = json.loads(raw)
        cluster, task = conf["cluster"], conf["task"]
        task_type, index = task["type"], task["index"]
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise RecipeError(
            'TF_CONFIG is not valid: expected JSON like {"cluster": {"worker": ["host1:port", '
            f'"host2:port"]}}, "task": {{"type": "worker", "index": 0}}}} (see {DOCS})'
        ) from None
    if task_type not in ("chief", "worker"):
        raise RecipeError(
            f"TF_CONFIG task type '{task_type}' is not supported; multi-worker training uses "
            "'chief' and 'worker' tasks only"
        )
    members = cluster.get(task_type) if isinstance(cluster, dict) else None
    if not isinstance(members, list) or not 0 <= index < len(members):
        raise RecipeError(
            f"TF_CONFIG task {task_type} {index} is not in its cluster "
            f"({len(members) if isinstance(members, list) else 0} {task_type} address(es))"
        )
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    chief = task_type == "chief" or ("chief" not in cluster and index == 0)
    return Role(task_type, index, workers, chief)


# ---------------------------------------------------------------------------------------------
# Strategies


def make_strategy(name: str):
    """The ``tf.distribute`` strategy for ``train.strategy``; None for ``default``.

    Must run before TensorFlow executes anything else in the process: both logical CPU devices
    and the multi-worker collectives are configured at start-up.
    """
    if name == "default":
        return None
    try:
        if name == "mirrored":
            return _mirrored()
        # AUTO picks NCCL all-reduce between GPUs and RING (gRPC) on CPUs.
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as exc:  # TensorFlow already initialised in this process
        raise RecipeError(
            f"cannot start the {name} strategy: TensorFlow was already initialised in this "
            f"process ({str(exc).strip().splitlines()[0]}); run it as its own rnn-recipes process"
        ) from None


def _mirrored():
    raw = os.environ.get(LOGICAL_CPUS_ENV, "").strip()
    try:
        n = int(raw) if raw else 0
    except ValueError:
        n = -1
    if n < 0:
        raise RecipeError(f"{LOGICAL_CPUS_ENV} must be a whole number of CPU devices, got {raw!r}")
    if n >= 2 and not tf.config.list_physical_devices("GPU"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(n)])
    return tf.distribute.MirroredStrategy()  # every local GPU, or the CPU


def scope(strategy):
    """``strategy.scope()``, or nothing for the default strategy."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def replicas(strategy) -> int:
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def unreplicated(build: Callable[[], Any], model):
    """A copy of ``model`` with plain (not distributed) variables and the same weights.

    Evaluation and export run on it: the exported files then hold ordinary variables, and the
    chief needs no other worker to predict on the test split.
    """
    copy = build()
    copy.set_weights(model.get_weights())
    return copy


# ---------------------------------------------------------------------------------------------
# The multi-worker training loop


@dataclass
class LoopRecord:
    """What :func:`fit_distributed` did, epoch by epoch (for the history and the test hook)."""

    history: dict[str, list[float]] = field(default_factory=dict)  # like History.history
    steps: list[int] = field(default_factory=list)  # training steps this worker ran
    examples: list[int] = field(default_factory=list)  # examples all workers trained on

    def add(self, logs: dict[str, float], steps: int, examples: int) -> None:
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        self.steps.append(steps)
        self.examples.append(examples)


def _shard_by_data(ds):
    """Set DATA auto-sharding explicitly (it only matters with several workers).

    The task pipelines read in-memory tensors (there are no files to split), so every worker
    builds the same seeded pipeline and ``tf.distribute`` keeps its share of each global batch:
    each batch is split into one piece per replica ("rebatch"). Bucketed pipelines end with
    partial batches, some of whose pieces are empty; for a worker whose pipeline ends first,
    the distributed iterator hands out empty batches until every worker is done (it agrees on
    the end of data across workers), so all workers run the same number of steps and no
    collective waits forever. The step functions below weight each replica by its real number
    of examples, so empty or uneven pieces still give the mean over the global batch.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _metric_template(model, validation):
    """The model's compiled metrics, built on one validation batch, used statelessly.

    Inside the replicated step each metric is updated from zeros (``stateless_update_state``),
    the states are summed over replicas and steps, and ``stateless_result`` turns the sum into
    the epoch's value. That is exact for metrics whose state adds up (means, accuracies,
    confusion counts), which is every metric the tasks compile.
    """
    x, y = next(iter(validation))[:2]
    y_pred = model(x, training=False)
    model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)  # builds the compiled loss
    metrics = compat.compiled_metrics(model)
    if metrics is None:
        return None
    if not metrics.built:
        metrics.build(y, y_pred)
    for v in metrics.variables:
        if getattr(v, "aggregation", "sum") != "sum":
            raise RecipeError(
                f"metric variable {v.path} cannot be summed across workers; "
                "multi-worker training supports additive metrics only"
            )
    return metrics


def _format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def fit_distributed(
    model,
    strategy,
    train,
    validation,
    *,
    epochs: int,
    initial_epoch: int,
    callbacks: list,
    log: Callable[[str], None],
    verbose: bool,
    role: Role,
) -> LoopRecord:
    """Train ``model`` (built and compiled in ``strategy.scope()``) with a custom loop.

    Per epoch: one pass over ``train`` with a replicated train step (forward, the compiled loss,
    ``optimizer.apply_gradients``, which all-reduces the gradients), then one over
    ``validation``; losses and metrics are summed across workers, so every worker sees the
    same numbers and makes the same early-stopping decision. ``callbacks`` get the calls
    ``fit`` would make, per epoch; their files are the chief's run folder or, on other workers,
    a temporary folder.

    Args:
        model: compiled Keras model whose variables were created in ``strategy.scope()``.
        strategy: a ``MirroredStrategy`` or ``MultiWorkerMirroredStrategy``.
        train: training ``tf.data.Dataset`` batched by the global batch size.
        validation: validation dataset, batched likewise.
        epochs: the last epoch to train (as ``fit``'s ``epochs``).
        initial_epoch: epochs already completed (resume).
        callbacks: Keras callbacks, called as ``fit`` calls them (per epoch).
        log: where progress lines go.
        verbose: print one line per epoch.
        role: this process's role (for messages and the test hook).

    Returns:
        A :class:`LoopRecord` whose ``history`` has the shape of ``History.history``.
    """
    metrics = _metric_template(model, validation)
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)  # its variables must be mirrored too
    dist_train = strategy.experimental_distribute_dataset(_shard_by_data(train))
    dist_val = strategy.experimental_distribute_dataset(_shard_by_data(validation))
    train_pass = _pass(model, strategy, metrics, dist_train, training=True)
    val_pass = _pass(model, strategy, metrics, dist_val, training=False)

    record = LoopRecord()
    cbs = keras.callbacks.CallbackList(callbacks, model=model, epochs=epochs, verbose=0)
    model.stop_training = False
    try:
        cbs.on_train_begin()
        # Each epoch draws a new shuffle order when its iterator is made; replay the draws of
        # the completed epochs so a resumed run sees the orders it would have seen.
        for _ in range(initial_epoch):
            iter(dist_train)
        logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            started = time.perf_counter()
            cbs.on_epoch_begin(epoch)
            train_logs, steps, examples = train_pass()
            cbs.on_test_begin()
            val_logs, _, _ = val_pass()
            cbs.on_test_end(val_logs)
            logs = {**train_logs, **{f"val_{k}": v for k, v in val_logs.items()}}
            if verbose:
                seconds = time.perf_counter() - started
                log(
                    f"Epoch {epoch + 1}/{epochs} - {steps} steps - {seconds:.0f}s - "
                    f"{_format_logs(logs)}"
                )
            cbs.on_epoch_end(epoch, logs)
            record.add(logs, steps, examples)
            if model.stop_training:
                break
        cbs.on_train_end(logs)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as exc:
        text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(exc)).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise RecipeError(f"{role.name} lost contact with the other workers: {first}") from None
    if role.workers > 1:
        _dump(model, role, record)
    return record


def _pass(model, strategy, metrics, dataset, training: bool) -> Callable[[], tuple]:
    """One pass over a distributed ``dataset``: a function returning (logs, steps, examples).

    Losses and metric states are summed over replicas and workers, so every worker gets the
    same numbers (and makes the same early-stopping decision).
    """
    n_replicas = strategy.num_replicas_in_sync
    templates = [] if metrics is None else [(v.shape, v.dtype) for v in metrics.variables]

    def replica_step(batch):
        x, y = batch[:2]
        n = tf.cast(tf.shape(y)[0], tf.float32)
        n_all = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, n)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=training)
            # compute_loss averages over this replica's piece and divides by the number of
            # replicas; re-weighting by the piece's share of the global batch makes the summed
            # gradient the mean over the global batch even for uneven or empty pieces.
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=training)
            weighted = loss * (n_replicas * n / tf.maximum(n_all, 1.0))
        if training:
            scaled = model.optimizer.scale_loss(weighted)
            grads = tape.gradient(scaled, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
        states = []
        if metrics is not None:
            zeros = [tf.zeros(shape, dtype) for shape, dtype in templates]
            states = metrics.stateless_update_state(zeros, y, y_pred)
        return [loss * n_replicas * n, n, *states]

    def reduced(batch):
        out = strategy.run(replica_step, args=(batch,))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in out]

    # The element spec has unknown batch and length dimensions, so one trace serves all batches.
    step = tf.function(reduced, input_signature=[dataset.element_spec])

    def one_pass() -> tuple[dict[str, float], int, int]:
        totals, steps = None, 0
        for batch in dataset:
            values = [v.numpy() for v in step(batch)]
            totals = values if totals is None else [a + b for a, b in zip(totals, values)]
            steps += 1
        if totals is None:
            raise RecipeError("a split gave no batches to this worker; give more data")
        loss_sum, count, *states = totals
        logs = {"loss": float(loss_sum / max(count, 1.0))}
        if metrics is not None:
            result = metrics.stateless_result([tf.constant(s) for s in states])
            logs.update({k: float(v) for k, v in result.items()})
        return dict(sorted(logs.items())), steps, int(count)

    return one_pass


def _dump(model, role: Role, record: LoopRecord) -> None:
    """The test hook: write final weights and step counts when RNN_RECIPES_DUMP_WEIGHTS is set."""
    folder = os.environ.get(DUMP_ENV)
    if not folder:
        return
    import numpy as np

    path = Path(folder) / f"{role.task_type}-{role.index}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(path, steps=np.array(record.steps), examples=np.array(record.examples), **arrays)
