"""Train, evaluate and export any task; write the run folder.

A run folder is built under a hidden name next to its final place (``.NAME.partial``, with a
``status.json`` saying running / interrupted) and renamed into place only when everything
(metrics, plots, ``model.keras``, ``saved_model/``) is written, so a crash or ctrl-C never
leaves a half-written run where a finished one is expected. Training checkpoints every epoch
(Keras ``BackupAndRestore``), so ``--resume`` continues an interrupted or killed run from its
last completed epoch. ``train.strategy`` spreads training over devices or hosts (see
:mod:`rnn_recipes.distributed`); under ``multi-worker`` only the chief writes a run folder. Its
layout::

    config.toml        the fully resolved configuration
    metrics.json       test metrics, counts, timings, versions
    history.csv        one row per epoch (Keras CSVLogger)
    plots/*.png        learning curves and task plots
    logs/              TensorBoard logs
    model.keras        the end-to-end Keras model (raw input in)
    saved_model/       TensorFlow SavedModel, signature ``serving_default`` (raw input in)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__, distributed, export, report
from ._lazy import keras, tf
from .config import Resolved
from .errors import RecipeError

Log = Callable[[str], None]
RUN_MARKERS = ("config.toml", "metrics.json")
STATUS = "status.json"
BACKUP = "backup"


class Interrupted(RecipeError):
    """ctrl-C during training: the partial run was kept for --resume."""

    exit_code = 130


def partial_dir(out: Path) -> Path:
    """Where the run for ``out`` is built until it is complete."""
    return out.parent / f".{out.name}.partial"


def _status(work: Path, status: str, recipe: str, **extra: Any) -> None:
    report.write_json(work / STATUS, {"status": status, "recipe": recipe, **extra})


def resume_config(out: Path) -> Resolved:
    """The config of the interrupted run that would complete ``out``."""
    import json

    from .config import load_run_config

    work = partial_dir(Path(out))
    if not (work / "config.toml").is_file():
        done = " (it is already complete)" if (Path(out) / "metrics.json").is_file() else ""
        raise RecipeError(f"no interrupted run to resume for {out}{done}; run without --resume")
    try:
        recipe = json.loads((work / STATUS).read_text())["recipe"]
    except (OSError, ValueError, KeyError):
        recipe = Path(out).name
    return load_run_config(work, name=recipe)


# ---------------------------------------------------------------------------------------------
# The run folder


def default_output(recipe: str, root: Path = Path("runs")) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = root / f"{recipe}-{stamp}"
    n = 1
    while out.exists():
        n += 1
        out = root / f"{recipe}-{stamp}-{n}"
    return out


def check_output(out: Path, force: bool) -> None:
    """Refuse output folders we must not write to, before any work starts."""
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == out else f"is inside {parent}, which is a file"
            raise RecipeError(f"output folder {out} {where}; choose another --output")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise RecipeError(
                f"output folder {out} already exists and is not empty; choose another --output "
                "or add --force to replace it"
            )
        if not any((out / m).exists() for m in RUN_MARKERS):
            raise RecipeError(
                f"output folder {out} is not a run folder (no config.toml or metrics.json); "
                "refusing to replace it even with --force"
            )
    existing = next(p for p in [out, *out.parents] if p.exists())
    if not os.access(existing, os.W_OK):
        raise RecipeError(f"cannot write to {existing}: permission denied; choose another --output")


def _versions() -> dict[str, str]:
    return {
        "rnn_recipes": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def _make_timer():
    """A callback timing the training part of each epoch (validation excluded)."""

    class TrainTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train_seconds = 0.0
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_test_begin(self, logs=None):
            if self._start is not None:
                self.train_seconds += time.perf_counter() - self._start
                self._start = None

        def on_epoch_end(self, epoch, logs=None):
            self.on_test_begin()

    return TrainTimer()


def _make_early_stopping(state_dir: Path, resume_epoch: int, **kwargs):
    """EarlyStopping (best weights restored) whose state survives an interruption.

    Two kinds of training state are not in the BackupAndRestore checkpoint: EarlyStopping's
    (best value, best epoch, wait count, best weights; Keras resets them in every ``fit``) and
    the random generators' positions (dropout masks; in ``model.variables`` but not in
    ``model.weights``). This callback saves both after every epoch, one file pair per epoch
    beside the checkpoint, and a resumed run loads the pair of the last checkpointed epoch
    (``resume_epoch`` completed epochs). A resumed run therefore trains, stops and restores as
    an uninterrupted one would, even when the process died between the two saves.
    """
    import json

    import numpy as np

    def files(epoch: int) -> tuple[Path, Path]:
        return state_dir / f"state-{epoch}.json", state_dir / f"state-{epoch}.npz"

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        def _rng_variables(self):
            weights = {id(w) for w in self.model.weights}
            return [v for v in self.model.variables if id(v) not in weights]

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            meta, arrays = files(resume_epoch - 1)
            if not (resume_epoch and meta.is_file() and arrays.is_file()):
                return
            state = json.loads(meta.read_text())
            with np.load(arrays) as saved:
                for i, var in enumerate(self._rng_variables()):
                    var.assign(saved[f"rng{i}"])
                if state["best"] is not None:
                    self.best, self.best_epoch = state["best"], state["best_epoch"]
                    self.wait = state["wait"]
                    self.best_weights = [saved[f"w{i}"] for i in range(state["n_weights"])]

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            keep = self.best_weights is not None and self.best is not None
            keep = keep and bool(np.isfinite(self.best))
            arrays = {f"rng{i}": np.asarray(v) for i, v in enumerate(self._rng_variables())}
            if keep:
                arrays.update({f"w{i}": w for i, w in enumerate(self.best_weights)})
            state_dir.mkdir(parents=True, exist_ok=True)
            meta, path = files(epoch)
            tmp = path.with_name(path.stem + ".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)
            report.write_json(
                meta,
                {
                    "best": float(self.best) if keep else None,
                    "best_epoch": self.best_epoch,
                    "wait": self.wait,
                    "n_weights": len(self.best_weights) if keep else 0,
                },
            )
            for old in files(epoch - 2):  # keep the last two epochs' state
                old.unlink(missing_ok=True)

    return ResumableEarlyStopping(restore_best_weights=True, verbose=0, **kwargs)


def _verbosity(setting: str) -> int:
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 2
    return {"bar": 1, "epoch": 2, "quiet": 0}[setting]


# ---------------------------------------------------------------------------------------------
# run


def run(
    resolved: Resolved,
    output: Path | None = None,
    force: bool = False,
    log: Log = print,
    resume: bool = False,
) -> Path:
    """Train, evaluate and export ``resolved``; return the finished run folder.

    With ``resume``, continue the interrupted run that would complete ``output`` (its config is
    read back with :func:`resume_config`) from its last completed epoch.
    """
    task = resolved.task
    out = Path(output) if output is not None else default_output(resolved.name)
    role = distributed.role(resolved.config.train.strategy)  # checks TF_CONFIG before any work
    if not role.chief:
        return _run_worker(resolved, out, log, resume, role)
    work = partial_dir(out)
    created: list[Path] = []
    if resume:
        if not (work / "config.toml").is_file():
            raise RecipeError(f"no interrupted run to resume for {out}; run without --resume")
    else:
        check_output(out, force)
        if work.exists():
            if not force:
                raise RecipeError(
                    f"an interrupted run for {out} exists ({work.name}); add --resume to "
                    "continue it or --force to start again"
                )
            shutil.rmtree(work)
        created = [p for p in reversed(out.parents) if not p.exists()]  # removed on failure
        out.parent.mkdir(parents=True, exist_ok=True)
        work.mkdir()
        (work / "config.toml").write_text(resolved.to_toml(), encoding="utf-8")
    _status(work, "running", resolved.name, pid=os.getpid())
    try:
        metrics = _run_in(resolved, work, log, resume, role)
        (work / STATUS).unlink()
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    except BaseException as exc:
        if (work / BACKUP).is_dir():  # completed epochs are checkpointed: keep them for --resume
            stopped = isinstance(exc, KeyboardInterrupt)
            _status(work, "interrupted" if stopped else "failed", resolved.name)
            if stopped:
                raise Interrupted(
                    f"interrupted; the completed epochs are kept in {work}. Continue with: "
                    f"rnn-recipes run {resolved.name} --resume --output {out}"
                ) from None
        elif not resume:
            _discard(work, created)
        raise
    log("")
    log(f"Test: {task.summary(metrics['test'])}")
    log(f"Run folder: {out}")
    return out


def _run_worker(
    resolved: Resolved, out: Path, log: Log, resume: bool, role: distributed.Role
) -> Path:
    """A multi-worker process other than the chief: trains in step with it and keeps nothing.

    Its history, TensorBoard logs and checkpoints go to a temporary folder deleted at the end
    (the keras-io multi-worker pattern); the chief alone writes the run folder and exports. On
    --resume it starts from a copy of the chief's checkpoint, read from the partial folder of
    ``out``: resuming a multi-worker run needs that folder on a filesystem every worker sees.
    """
    import tempfile

    def worker_log(message: str) -> None:
        log(f"[{role.name}] {message}" if message else message)

    tmp = Path(tempfile.mkdtemp(prefix=f"rnn-recipes-{role.task_type}{role.index}-"))
    try:
        backup = partial_dir(out) / BACKUP
        if resume and backup.is_dir():
            shutil.copytree(backup, tmp / BACKUP)
        _run_in(resolved, tmp, worker_log, resume, role)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    worker_log(f"Done; the chief writes the run folder {out}")
    return out


def _discard(work: Path, created: list[Path]) -> None:
    shutil.rmtree(work, ignore_errors=True)
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if still empty


def _read_history(path: Path) -> dict[str, list[float]]:
    """history.csv (Keras CSVLogger) as metric -> per-epoch values."""
    import csv

    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {}) if k != "epoch"}


def _repair_backup(backup: Path) -> None:
    """Fall back to the previous checkpoint when the process died while writing the latest.

    BackupAndRestore keeps the previous epoch's files as ``*.bkp`` (double_checkpoint) but only
    falls back on some read errors; a checkpoint cut off mid-write raises others.
    """
    import h5py

    weights = backup / "latest.weights.h5"
    if not weights.is_file():
        return
    try:
        with h5py.File(weights, "r") as f:
            f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    except Exception:  # any failure to read it back means it is not a usable checkpoint
        for name in ("latest.weights.h5", "training_metadata.json"):
            previous = backup / f"{name}.bkp"
            if previous.is_file():
                shutil.copyfile(previous, backup / name)
            else:
                (backup / name).unlink(missing_ok=True)


def _completed_epochs(work: Path) -> int:
    import json

    try:
        return int(json.loads((work / BACKUP / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _truncate_history(path: Path, epochs: int) -> None:
    """Keep the header and the first ``epochs`` rows: epochs after the last checkpoint rerun."""
    if path.is_file():
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[: 1 + epochs]))


def _iterators_per_epoch(dataset) -> int:
    """How many iterators of ``dataset`` Keras' ``fit`` makes per epoch.

    One at the start of each epoch; when the dataset's size is known, Keras also makes the next
    epoch's iterator ahead, at the end of each epoch, and then replaces it with a fresh one
    (``keras.src.trainers.epoch_iterator``), so each epoch draws two shuffle orders and uses the
    first. Length-bucketed pipelines have no known size and draw one. The resume tests of every
    task fail if a Keras release changes this.
    """
    return 2 if int(dataset.cardinality()) > 0 else 1


def _run_in(
    resolved: Resolved,
    work: Path,
    log: Log,
    resume: bool = False,
    role: distributed.Role | None = None,
) -> dict[str, Any]:
    cfg, task, t = resolved.config, resolved.task, resolved.config.train
    role = role or distributed.Role()
    # First, before TensorFlow runs anything: logical CPUs and collectives are set up at start.
    strategy = distributed.make_strategy(t.strategy)
    if resume:
        _repair_backup(work / BACKUP)
    done = _completed_epochs(work) if resume else 0
    log(
        f"Recipe '{resolved.name}' (task {cfg.task}), seed {t.seed}"
        + (f", resuming after epoch {done}" if resume else "")
    )
    keras.utils.set_random_seed(t.seed)
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()

    log("Loading data")
    data = task.make_datasets(cfg, log)

    with distributed.scope(strategy):  # variables (and the optimizer's) live on every replica
        model = task.build_model(cfg, data.spec)  # explicit sizes only: rebuildable
        task.initialize(model, cfg, data)  # data-dependent starting values
        task.compile_model(model, cfg)
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)  # what training fits
    fixed = model.count_params() - trainable  # e.g. sentiment's naive Bayes table
    log(
        f"Model: {model.name}, {trainable:,} trainable parameters"
        + (f" (+{fixed:,} fixed)" if fixed else "")
    )
    if strategy is not None:
        log(
            f"Strategy {t.strategy}: {distributed.replicas(strategy)} replicas"
            + (f" on {role.workers} workers (this is {role.name})" if role.workers > 1 else "")
            + f"; global batch {t.batch_size}"
        )

    log(f"Training for up to {t.epochs} epochs (early stopping patience {t.patience})")
    timer = _make_timer()
    early = _make_early_stopping(
        work / BACKUP, done, monitor=f"val_{t.monitor}", patience=t.patience
    )
    own_loop = strategy is not None  # distributed.py says why fit is not used there
    if resume:
        _truncate_history(work / "history.csv", done)
        # Each iterator of the training set draws a new shuffle order from the pipeline's seeded
        # generator; replay the draws of the completed epochs so the resumed epochs see the
        # orders they would have. (The distributed loop replays them on the distributed dataset
        # it iterates.)
        for _ in range(0 if own_loop else done * _iterators_per_epoch(data.train)):
            iter(data.train)
    callbacks = [
        timer,
        keras.callbacks.CSVLogger(str(work / "history.csv"), append=resume),
        keras.callbacks.TensorBoard(log_dir=str(work / "logs"), write_graph=False),
        early,
        # Last, so a checkpoint is written only after the epoch's other records.
        # double_checkpoint: a process killed while writing falls back to the previous epoch.
        keras.callbacks.BackupAndRestore(
            str(work / BACKUP), delete_checkpoint=False, double_checkpoint=True
        ),
    ]
    # Length-bucketed pipelines have no known size, which Keras reports after the first epoch as
    # "input ran out of data"; nothing ran out, the epoch simply ended.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    started = time.perf_counter()
    if own_loop:
        session = distributed.fit_distributed(
            model,
            strategy,
            data.train,
            data.validation,
            epochs=t.epochs,
            initial_epoch=done,
            callbacks=callbacks,
            log=log,
            verbose=_verbosity(t.verbose) > 0,
            role=role,
        ).history
    else:
        session = model.fit(
            data.train,
            validation_data=data.validation,
            epochs=t.epochs,
            callbacks=callbacks,
            verbose=_verbosity(t.verbose),
            shuffle=False,  # the pipeline shuffles (and buckets) itself
        ).history
    seconds = time.perf_counter() - started
    full_history = _read_history(work / "history.csv")  # includes epochs before a resume
    epochs_run = len(full_history.get("loss", session.get("loss", [])))
    trained_now = len(session.get("loss", []))
    best_epoch = early.best_epoch + 1  # its weights were restored by EarlyStopping
    if not role.chief:
        return {}
    if strategy is not None:  # evaluate and export a copy with plain variables
        model = distributed.unreplicated(lambda: task.build_model(cfg, data.spec), model)

    # Settle what training does not learn (sentiment weighs its naive Bayes expert).
    after = task.after_training(cfg, data, model, log)

    log("Evaluating on the test split")
    test = task.evaluate(cfg, data, model)

    metrics = {
        "recipe": resolved.name,
        "task": cfg.task,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "test": test,
        "counts": data.counts,
        "train": {
            "seconds": round(seconds, 3),
            "train_seconds": round(timer.train_seconds, 3),
            "examples_per_second": round(
                trained_now * data.train_examples / max(timer.train_seconds, 1e-9), 1
            ),
            "resumed_after_epoch": done if resume else None,
            "deterministic": t.deterministic,
            "strategy": t.strategy,
            "replicas": distributed.replicas(strategy),
            "workers": role.workers,
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
            "stopped_early": epochs_run < t.epochs,
            "parameters": int(model.count_params()),
            "trainable_parameters": trainable,
        },
        "validation": {
            k[4:]: v[best_epoch - 1] for k, v in full_history.items() if k.startswith("val_")
        },
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    metrics.update(task.run_info(cfg, data))  # extra top-level sections, if the task has any
    metrics.update(after or {})

    log("Exporting model.keras and saved_model/")
    full = task.end_to_end_model(cfg, data, model)
    export.write_keras(full, work / export.KERAS_FILE)
    serve, signature = task.serving(cfg, data, full)
    # Tasks may export more signatures (speech adds one taking clip lengths).
    extra = task.extra_serving(cfg, data, full)
    export.write_saved_model(work / export.SAVED_MODEL, full, serve, signature, extra)

    plots = work / "plots"
    plots.mkdir()
    report.plot_learning_curves(full_history, plots / "learning_curves.png")
    shutil.rmtree(work / BACKUP, ignore_errors=True)
    task.plots(cfg, data, metrics, plots)
    report.write_json(work / "metrics.json", metrics)
    return metrics


# ---------------------------------------------------------------------------------------------
# predict and evaluate on a finished run


def load_run(run_dir: Path):
    """The resolved config and serving signature of a finished run folder."""
    from .config import load_run_config

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RecipeError(f"run folder not found: {run_dir}")
    if not (run_dir / "config.toml").is_file():
        raise RecipeError(
            f"{run_dir} is not a run folder (no config.toml); give the folder "
            "that rnn-recipes run printed"
        )
    resolved = load_run_config(run_dir)
    return resolved, export.load_serving(run_dir)


def predict(run_dir: Path, inputs: list[str], output: Path | None = None):
    """Predict with a finished run; returns (records, a function formatting one record)."""
    resolved, serve = load_run(run_dir)
    task = resolved.task
    return task.predict(serve, resolved.config, inputs, output), task.format_prediction


def evaluate(run_dir: Path, data_path: str):
    """Evaluate an exported run on new labelled data; returns (metrics, printable lines)."""
    resolved, serve = load_run(run_dir)
    task = resolved.task
    metrics = task.evaluate_exported(serve, resolved.config, data_path)
    return metrics, task.format_metrics(metrics)
