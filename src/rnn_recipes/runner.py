"""Train, evaluate and export any task; write the run folder.

A run folder is built under a hidden temporary name next to its final place and renamed into
place only when everything (metrics, plots, ``model.keras``, ``saved_model/``) is written, so a
crash or ctrl-C never leaves a half-written run where a finished one is expected. Its layout::

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

from . import __version__, export, report
from ._lazy import keras, tf
from .config import Resolved
from .errors import RecipeError

Log = Callable[[str], None]
RUN_MARKERS = ("config.toml", "metrics.json")


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
) -> Path:
    """Train, evaluate and export ``resolved``; return the finished run folder."""
    task = resolved.task
    out = Path(output) if output is not None else default_output(resolved.name)
    check_output(out, force)
    created = [p for p in reversed(out.parents) if not p.exists()]  # removed again on failure
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        metrics = _run_in(resolved, work, log)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise
    log("")
    log(f"Test: {task.summary(metrics['test'])}")
    log(f"Run folder: {out}")
    return out


def _run_in(resolved: Resolved, work: Path, log: Log) -> dict[str, Any]:
    cfg, task, t = resolved.config, resolved.task, resolved.config.train
    (work / "config.toml").write_text(resolved.to_toml(), encoding="utf-8")
    log(f"Recipe '{resolved.name}' (task {cfg.task}), seed {t.seed}")
    keras.utils.set_random_seed(t.seed)

    log("Loading data")
    data = task.make_datasets(cfg, log)

    model = task.build_model(cfg, data)
    task.compile_model(model, cfg)
    log(f"Model: {model.name}, {model.count_params():,} parameters")

    log(f"Training for up to {t.epochs} epochs (early stopping patience {t.patience})")
    timer = _make_timer()
    early = keras.callbacks.EarlyStopping(
        monitor=f"val_{t.monitor}", patience=t.patience, restore_best_weights=True, verbose=0
    )
    callbacks = [
        timer,
        early,
        keras.callbacks.CSVLogger(str(work / "history.csv")),
        keras.callbacks.TensorBoard(log_dir=str(work / "logs"), write_graph=False),
    ]
    # Length-bucketed pipelines have no known size, which Keras reports after the first epoch as
    # "input ran out of data"; nothing ran out, the epoch simply ended.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    started = time.perf_counter()
    history = model.fit(
        data.train,
        validation_data=data.validation,
        epochs=t.epochs,
        callbacks=callbacks,
        verbose=_verbosity(t.verbose),
        shuffle=False,  # the pipeline shuffles (and buckets) itself
    )
    seconds = time.perf_counter() - started
    epochs_run = len(history.history.get("loss", []))
    best_epoch = early.best_epoch + 1  # its weights were restored by EarlyStopping

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
                epochs_run * data.train_examples / max(timer.train_seconds, 1e-9), 1
            ),
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
            "stopped_early": epochs_run < t.epochs,
            "parameters": int(model.count_params()),
        },
        "validation": {
            k[4:]: v[best_epoch - 1] for k, v in history.history.items() if k.startswith("val_")
        },
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    run_info = getattr(task, "run_info", None)  # optional: extra top-level sections
    if run_info is not None:
        metrics.update(run_info(cfg, data))

    log("Exporting model.keras and saved_model/")
    full = task.end_to_end_model(cfg, data, model)
    export.write_keras(full, work / export.KERAS_FILE)
    serve, signature = task.serving(cfg, data, full)
    # Optional: tasks may export more signatures (speech adds one taking clip lengths).
    extra = task.extra_serving(cfg, data, full) if hasattr(task, "extra_serving") else None
    export.write_saved_model(work / export.SAVED_MODEL, full, serve, signature, extra)

    plots = work / "plots"
    plots.mkdir()
    report.plot_learning_curves(history.history, plots / "learning_curves.png")
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
