"""Replay early stopping over finished runs' histories (session 23).

    python bench/findings/speech-speakers/watch_replay.py WATCH RUN_FOLDERS_ROOT ...

For every fold folder under each root (a folder holding metrics.json) and every ensemble member,
feeds the member's recorded validation accuracy to the recipe's own early stopping (Keras'
EarlyStopping, the benchmark's patience 6 and 20-epoch cap) twice: as the run had it
(checked against the member's recorded best epoch and epochs run) and with
``train.watch_from_epoch = WATCH``. Training does not depend on the callback until it stops the
run, so where the replay stops inside the recorded epochs with the same best epoch, the option
would give the very same member: "same".
"differs": another recorded epoch would be kept; "needs-run": it would train past the record.
"""

import csv
import json
import sys
from pathlib import Path

import keras

from rnn_recipes.runner import callbacks

PATIENCE, EPOCHS = 6, 20


def replay(accuracy: list[float], watch_from_epoch: int) -> tuple[int, int, bool]:
    """(best epoch, epochs run, stopped early), 1-based, as the recipe's own early stopping
    (``callbacks.make_early_stopping``, Keras' EarlyStopping) decides them on ``accuracy``."""
    early = callbacks.make_early_stopping("val_accuracy", PATIENCE, watch_from_epoch)
    early.mode = "max"  # in a run Keras reads it off the compiled accuracy metric
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])  # weights to keep
    early.set_model(model)
    early.set_params({"epochs": EPOCHS, "verbose": 0, "steps": 1})
    early.on_train_begin()
    for epoch, value in enumerate(accuracy):
        early.on_epoch_end(epoch, {"val_accuracy": value})
        if getattr(model, "stop_training", False):  # set by the callback when it stops
            return early.best_epoch + 1, epoch + 1, True
    return early.best_epoch + 1, len(accuracy), False


watch = int(sys.argv[1])
for root in map(Path, sys.argv[2:]):
    for fold in sorted(p for p in root.iterdir() if (p / "metrics.json").exists()):
        metrics = json.loads((fold / "metrics.json").read_text())
        said = []
        for member in metrics["ensemble"]["members"]:
            n = member["member"]
            history = fold / "history.csv" if n == 1 else fold / "members" / str(n) / "history.csv"
            with open(history) as f:
                accuracy = [float(row["val_accuracy"]) for row in csv.DictReader(f)]
            as_run = replay(accuracy, 1)
            assert as_run[:2] == (member["best_epoch"], member["epochs_run"]), (fold, n, as_run)
            watched = replay(accuracy, watch)
            inside = watched[2] or len(accuracy) == EPOCHS
            status = "needs-run" if not inside else "same" if watched[0] == as_run[0] else "differs"
            said.append(f"m{n}: {as_run[0]} -> {watched[0]} ({status})")
        print(root.name, fold.name, ", ".join(said))
