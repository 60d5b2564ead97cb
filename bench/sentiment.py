"""Sentiment benchmark on rt-polarity (Pang & Lee sentence polarity, 10,662 sentences).

Protocol: test = the lines whose 0-based index % 10 == 0 in each of rt-polarity.pos/.neg
(1,068 sentences); the recipe carves its validation split from the rest. Quality target 0.80
(published: Kim CNN-rand 76.1, CNN-non-static 81.5).

The runs use ``recipes/rt-polarity.toml``, which reads the two shipped files as they are
(``data.format = "lines"``, ``data.test_every = 10``). The hand-written reference reads the same
split from two CSV files the benchmark writes into its work folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from bench import common

TARGET = 0.80
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


def run(args) -> dict[str, Any]:
    source = Path(args.data_root) / "sentiment" / "rt-polarity"
    work = Path(args.work) / "sentiment"
    work.mkdir(parents=True, exist_ok=True)
    train_csv, test_csv = write_rt_polarity_split(source, work / "reference-split")
    recipe = common.recipe_file(RECIPE, source, work)
    commands = []
    values, rss = [], []

    for seed in args.seeds:
        out = work / f"quality-{seed}"
        cmd = common.cli(
            "run",
            recipe,
            "--seed",
            seed,
            "-o",
            out,
            "--force",
            "--set",
            "train.verbose=epoch",
            *(["--epochs", args.epochs] if getattr(args, "epochs", None) else []),
        )
        measured = common.run_child(cmd, work / f"quality-{seed}.log")
        metrics = json.loads((out / "metrics.json").read_text())
        values.append(metrics["test"]["accuracy"])
        rss.append(measured["peak_rss_mb"])
        commands.append(common.command_line(cmd))
        print(f"sentiment seed {seed}: accuracy {values[-1]:.4f} in {measured['seconds']:.0f} s")

    out = work / "speed"
    cmd = common.cli(
        "run",
        recipe,
        *common.set_args(REF_ARCH),
        "--epochs",
        args.speed_epochs,
        "--set",
        "train.patience=1000",
        "--seed",
        args.seeds[0],
        "-o",
        out,
        "--force",
        "--set",
        "train.verbose=epoch",
    )
    measured = common.run_child(cmd, work / "speed.log")
    rss.append(measured["peak_rss_mb"])
    recipe_speed = json.loads((out / "metrics.json").read_text())["train"]["examples_per_second"]
    commands.append(common.command_line(cmd))
    ref = reference(train_csv, test_csv, args.speed_epochs, args.seeds[0])
    print(
        f"sentiment speed: recipe {recipe_speed:.0f} ex/s, reference {ref['examples_per_s']:.0f} ex/s"
    )

    import tensorflow as tf

    sample = "a gorgeous , witty , seductive movie ."
    lat = common.latency(
        work / f"quality-{args.seeds[0]}" / "saved_model",
        lambda n: {"text": tf.constant([sample] * n)},
    )
    return common.assemble(
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
        },
        recipe_speed=recipe_speed,
        reference_speed=ref["examples_per_s"],
        speed={
            "architecture": REF_ARCH,
        },
        latency_ms=lat,
        rss=rss,
        notes=[
            f"reference (keras-io 2xBiLSTM, maxlen 200, {args.speed_epochs} epochs) test "
            f"accuracy {ref['accuracy']:.4f}",
            parts_note([work / f"quality-{seed}" for seed in args.seeds]),
        ],
    )


def parts_note(runs: list[Path]) -> str:
    """What the RNN and the naive Bayes expert get alone on test, per seed, and the weights."""
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
        f"parts alone on test, per seed: RNN {join('rnn_only_accuracy')}; naive Bayes "
        f"{join('naive_bayes_only_accuracy')}; combined {join('accuracy')} with weights "
        + " / ".join(f"{w:g}" for w in weights)
        + " chosen on validation"
    )
