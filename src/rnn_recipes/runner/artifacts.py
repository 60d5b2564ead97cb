"""The artifacts stage: settle, evaluate, export, plot and report a trained model.

Everything here writes into the partial run folder, and may run again: a run that failed here
(a full disk, a plot that could not be drawn) is resumed from its checkpoint straight to this
stage, without retraining.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

from .. import __version__, distributed, export, report
from .._lazy import keras, tf
from .callbacks import stopped_at_epoch_cap
from .training import Trained


def versions() -> dict[str, str]:
    return {
        "rnn_recipes": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def settle_and_evaluate(resolved, data, trained: Trained, strategy, log) -> tuple[Any, dict, dict]:
    """The model to export, what ``after_training`` settled, and the test metrics."""
    cfg, task = resolved.config, resolved.task
    model = trained.model
    if strategy is not None:  # evaluate and export a copy with plain variables
        model = distributed.unreplicated(lambda: task.build_model(cfg, data.spec), model)
    # Settle what training does not learn (sentiment weighs its naive Bayes expert).
    after = task.after_training(cfg, data, model, log)
    log("Evaluating on the test split")
    return model, after or {}, task.evaluate(cfg, data, model)


def evaluate_on(task, cfg, model, dataset) -> dict[str, float]:
    """The loss and metrics ``task.compile_model`` gives ``model``, over a labelled ``dataset``
    (e.g. an averaged ensemble on the validation split). A twin sharing ``model``'s layers is
    compiled, not ``model``: an exported model carries no optimizer."""
    twin = keras.Model(model.input, model.output)
    task.compile_model(twin, cfg)
    return {k: float(v) for k, v in twin.evaluate(dataset, verbose=0, return_dict=True).items()}


def best_validation(trained: Trained) -> dict[str, float]:
    """The validation figures of the epoch whose weights the model kept (its best)."""
    return {
        k[4:]: v[trained.best_epoch - 1]
        for k, v in trained.history.items()
        if k.startswith("val_") and len(v) >= trained.best_epoch
    }


def metrics_record(resolved, data, trained: Trained, test: dict, strategy, role) -> dict[str, Any]:
    """The body of metrics.json."""
    cfg, t = resolved.config, resolved.config.train
    history = trained.history
    epochs_run = len(history.get("loss", []))
    return {
        "recipe": resolved.name,
        "task": cfg.task,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "test": test,
        "counts": data.counts,
        "train": {
            "seconds": round(trained.seconds, 3),
            "train_seconds": round(trained.train_seconds, 3),
            "examples_per_second": round(
                trained.epochs_now * data.train_examples / max(trained.train_seconds, 1e-9), 1
            ),
            # The steady state: epoch 1 also traces the train step for new batch shapes.
            "examples_per_second_last_epoch": (
                round(data.train_examples / max(trained.epoch_seconds[-1], 1e-9), 1)
                if trained.epoch_seconds
                else None
            ),
            "epoch_seconds": [round(s, 3) for s in trained.epoch_seconds],
            "epoch_cpu_seconds": [round(s, 3) for s in trained.epoch_cpu_seconds],
            "resumed_after_epoch": trained.resumed_after,
            "deterministic": t.deterministic,
            "strategy": t.strategy,
            "replicas": distributed.replicas(strategy),
            "workers": role.workers,
            "epochs_run": epochs_run,
            "best_epoch": trained.best_epoch,
            "stopped_early": epochs_run < t.epochs,
            "stopped_at_epoch_cap": stopped_at_epoch_cap(
                epochs_run, t.epochs, trained.best_epoch, t.patience
            ),
            "parameters": trained.trainable + trained.fixed,
            "trainable_parameters": trained.trainable,
        },
        "validation": best_validation(trained),
        "versions": versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }


def write(resolved, data, model, trained: Trained, metrics: dict, work: Path, log) -> None:
    """model.keras, saved_model/, plots/ and, last, metrics.json."""
    cfg, task = resolved.config, resolved.task
    log("Exporting model.keras and saved_model/")
    full = task.end_to_end_model(cfg, data, model)
    export.write_keras(full, work / export.KERAS_FILE)
    serve, signature = task.serving(cfg, data, full)
    # Tasks may export more signatures (speech adds one taking clip lengths).
    extra = task.extra_serving(cfg, data, full)
    export.write_saved_model(work / export.SAVED_MODEL, full, serve, signature, extra)

    plots = work / "plots"
    plots.mkdir(exist_ok=True)  # a resumed run may find it from a failed attempt
    report.plot_learning_curves(trained.history, plots / "learning_curves.png")
    task.plots(cfg, data, metrics, plots)
    report.write_json(work / "metrics.json", metrics)
