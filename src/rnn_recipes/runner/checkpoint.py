"""Resume state: one checkpoint per completed epoch that the project owns.

A ``tf.train.Checkpoint`` over everything a resumed run needs to continue exactly as an
uninterrupted one would:

* the model's weights and the optimizer's variables (moments, step count);
* the number of completed epochs, and whether training has ended (early stopping or the epoch
  cap), so a run that failed after training resumes straight to evaluation and export;
* the early-stopping state (best value, best epoch, wait count, best weights), which Keras resets
  in every ``fit``;
* the random generators' positions (dropout masks), which are model variables but not weights.

``tf.train.CheckpointManager`` keeps the last two epochs. TensorFlow writes a checkpoint's data
before it points the ``checkpoint`` state file at it (an atomic rename), and this module syncs
the files to disk after each save. On resume every candidate is read back in full (each tensor
carries a checksum) and the newest one that reads cleanly wins, so a checkpoint cut off by ctrl-C
or a crash falls back to the one before it.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
from pathlib import Path

from .. import compat
from .._lazy import keras, tf
from ..errors import RecipeError

FOLDER = "checkpoint"
KEEP = 2


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ResumeState:
    """The checkpointed state of one run's training (see the module docstring).

    Args:
        folder: the run's checkpoint folder (``<partial run>/checkpoint``).
        model: the compiled model (its optimizer is built here if it is not yet).
        early: the run's EarlyStopping callback, whose state is saved and restored.
    """

    def __init__(self, folder: Path, model, early) -> None:
        self.folder = Path(folder)
        self.model = model
        self.early = early
        if not model.optimizer.built:  # its variables must exist to be saved or restored
            model.optimizer.build(model.trainable_variables)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.finished = tf.Variable(False, trainable=False)
        self.best = tf.Variable(math.nan, dtype=tf.float64, trainable=False)
        self.has_best = tf.Variable(False, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.has_best_weights = tf.Variable(False, trainable=False)
        self.best_weights = [
            tf.Variable(tf.zeros(w.shape, w.dtype), trainable=False) for w in model.weights
        ]
        self._restored_early_stopping: dict | None = None  # set by restore(), used on train begin
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=model.optimizer,
            rng=compat.rng_variables(model),
            epoch=self.epoch,
            finished=self.finished,
            best=self.best,
            has_best=self.has_best,
            best_epoch=self.best_epoch,
            wait=self.wait,
            has_best_weights=self.has_best_weights,
            best_weights=self.best_weights,
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.folder), max_to_keep=KEEP, checkpoint_name="epoch"
        )

    # -- saving ----------------------------------------------------------------------------

    def save(self, completed_epochs: int, finished: bool = False) -> None:
        """Checkpoint the state after ``completed_epochs`` epochs, synced to disk."""
        early = compat.early_stopping_state(self.early)
        self.epoch.assign(completed_epochs)
        self.finished.assign(finished)
        self.has_best.assign(early["best"] is not None)
        self.best.assign(math.nan if early["best"] is None else float(early["best"]))
        self.best_epoch.assign(int(early["best_epoch"]))
        self.wait.assign(int(early["wait"]))
        self.has_best_weights.assign(early["best_weights"] is not None)
        if early["best_weights"] is not None:
            for var, value in zip(self.best_weights, early["best_weights"]):
                var.assign(value)
        prefix = self.manager.save(checkpoint_number=completed_epochs)
        for path in self.folder.glob(Path(prefix).name + ".*"):
            _fsync(path)
        _fsync(self.folder / "checkpoint")
        _fsync(self.folder)

    # -- restoring -------------------------------------------------------------------------

    def _candidates(self) -> list[str]:
        """Checkpoint prefixes, newest first (from the state file and from the folder)."""
        found = {str(self.folder / p.name[: -len(".index")]) for p in self.folder.glob("*.index")}
        with contextlib.suppress(Exception):  # a damaged state file: the folder listing stands
            found.update(self.manager.checkpoints)

        def number(prefix: str) -> int:
            try:
                return int(prefix.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                return -1

        return sorted(found, key=number, reverse=True)

    @staticmethod
    def _readable(prefix: str) -> bool:
        """Whether every tensor of the checkpoint reads back (checksums verified)."""
        try:
            reader = tf.train.load_checkpoint(prefix)
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
        except Exception:  # any failure to read it back means it is not usable
            return False
        return True

    def restore(self, log=print) -> int:
        """Restore the newest usable checkpoint; return its number of completed epochs."""
        if not self.folder.is_dir():
            return 0
        skipped = []
        for prefix in self._candidates():
            if not self._readable(prefix):
                skipped.append(Path(prefix).name)
                continue
            status = self.checkpoint.restore(prefix)
            try:
                status.assert_existing_objects_matched()
            except AssertionError as exc:
                raise RecipeError(
                    f"the checkpoint {prefix} does not match this model ({exc}); "
                    "start the run again with --force"
                ) from None
            del status
            gc.collect()  # else TensorFlow's restore bookkeeping complains at interpreter exit
            if skipped:
                log(f"Checkpoint {', '.join(skipped)} is damaged; using {Path(prefix).name}")
            self._remember_early_stopping()
            return int(self.epoch.numpy())
        if skipped:
            raise RecipeError(
                f"no checkpoint of this run can be read ({', '.join(skipped)} damaged); "
                "start the run again with --force"
            )
        return 0

    def _remember_early_stopping(self) -> None:
        """Keep the restored early-stopping state until Keras has reset the callback."""
        self._restored_early_stopping = {
            "best": float(self.best.numpy()) if bool(self.has_best.numpy()) else None,
            "best_epoch": int(self.best_epoch.numpy()),
            "wait": int(self.wait.numpy()),
            "best_weights": (
                [v.numpy() for v in self.best_weights]
                if bool(self.has_best_weights.numpy())
                else None
            ),
        }

    def apply_early_stopping(self) -> None:
        """Called from EarlyStopping's ``on_train_begin``, after Keras reset it."""
        if self._restored_early_stopping is not None:
            compat.set_early_stopping_state(self.early, self._restored_early_stopping)

    @property
    def training_finished(self) -> bool:
        return bool(self.finished.numpy())

    def restore_best_weights(self) -> None:
        """What EarlyStopping does when training ends, for a run whose training had ended."""
        if bool(self.has_best_weights.numpy()):
            self.model.set_weights([v.numpy() for v in self.best_weights])


class Checkpointer(keras.callbacks.Callback):
    """Saves the resume state after every epoch.

    It must come last among the callbacks, so a checkpoint is written only after the epoch's
    other records (history, early stopping's decision) are. The checkpoint says whether training
    has ended (early stopping or the epoch cap), so a run that fails after training resumes
    straight to evaluation and export instead of training one epoch more.
    """

    def __init__(self, state: ResumeState, max_epochs: int) -> None:
        super().__init__()
        self.state = state
        self.max_epochs = max_epochs

    def on_epoch_end(self, epoch, logs=None):
        finished = bool(self.model.stop_training) or epoch + 1 >= self.max_epochs
        self.state.save(epoch + 1, finished=finished)
