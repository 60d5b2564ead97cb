"""Sentiment data: read labelled texts, split them, fit the vocabulary, build the pipelines.

Sources (``data.*`` keys): ``data.path`` (one CSV/TSV/JSON-lines file or a folder of class
sub-folders, split by fractions), ``data.train`` (+ optional ``data.validation``, ``data.test``),
or ``data.tfds`` (a TensorFlow Datasets text classification set). See docs/sentiment.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._lazy import keras, tf
from ...config import PKG_PREFIX, resolve_pkg_path
from ...data import text as text_data
from ...data import tfds as tfds_data
from ...data.batching import (
    bucketed_training,
    choose_batching,
    exact_length_batches,
    exact_length_training,
    histogram_bounds,
)
from ...data.splits import stratified_split
from ...errors import ConfigError
from .. import base, classification
from .config import Config


@dataclass
class Split:
    texts: list[str]
    labels: np.ndarray  # class indices


@dataclass
class Spec:
    """The explicit sizes the sentiment model is built from."""

    vocabulary_size: int  # TextVectorization's vocabulary, padding and out-of-vocabulary included
    class_names: list[str]
    # Whether the model trains with a mask. False when it trains on exact-length batches (no
    # padding anywhere): the served model is then built with the mask and the trained weights.
    train_mask: bool = True


@dataclass
class Prepared(base.Prepared):
    """The pipelines (token ids, label), plus the adapted vectorizer and the raw splits."""

    class_names: list[str]
    vectorizer: object  # the adapted TextVectorization layer
    splits: dict[str, Split]
    batching: str = "bucketed"  # how training batches were made: "exact" or "bucketed"
    batching_note: str = ""  # why, for the log and metrics.json
    refit: bool = False  # the refit's data (train.refit): validation texts train too

    def training_chunks(self, max_length: int, size: int = 4096):
        """(token ids, class indices) of the training split, a chunk at a time (naive Bayes
        counts them; a streamed split, :mod:`.stream`, reads its cached ids instead)."""
        train = self.splits["train"]
        for start in range(0, len(train.texts), size):
            texts = tf.constant(train.texts[start : start + size])
            ids = np.asarray(token_ids(self.vectorizer, texts, max_length))
            yield ids, train.labels[start : start + size]


def _real(path: str | list[str]):
    if isinstance(path, list):
        return [_real(p) for p in path]
    return resolve_pkg_path(path) if path.startswith(PKG_PREFIX) else path


def _read(
    config: Config, path: str | list[str], need_label: bool = True, log=None, key="data.path"
) -> text_data.TextTable:
    """Labelled (or unlabelled) texts of a file, a folder, a glob or a list of files, read with
    the run's data settings.

    ``log`` receives the reader's notes (labels it normalised, for example); ``key`` is the
    config key that named ``path``, for messages.
    """
    d = config.data
    real = _real(path)
    if d.format == "lines":
        table = text_data.read_line_files(real, d.line_files, d.encoding)
        for line in table.notes if log else ():
            log(line)
        return table
    table = text_data.read_texts(
        real,
        d.format,
        d.text_column,
        d.label_column,
        d.encoding,
        need_label=need_label,
        classes=d.classes,
        header=d.header,
        key=key,
    )
    for line in table.notes if log else ():
        log(line)
    return table


def _load_tfds(config: Config) -> list[tuple[list[str], list[str]]]:
    """A TFDS text classification set with its own splits -> (texts, labels) per split."""
    d = config.data
    splits, info = tfds_data.load(d.tfds, list(d.tfds_splits), d.tfds_data_dir)
    names = tfds_data.label_names(info)
    out = []
    for ds in splits:
        texts, labels = [], []
        for text, label in tfds_data.as_numpy(ds):
            if int(label) < 0:  # unlabelled examples (e.g. imdb_reviews' "unsupervised")
                continue
            texts.append(text.decode("utf-8", errors="replace"))
            labels.append(tfds_data.label_name(names, label))
        out.append((texts, labels))
    return out


def load_splits(config: Config, log=print) -> tuple[dict[str, tuple[list, list]], str]:
    """Read the configured data source into train/validation/test lists of (texts, labels)."""
    d, seed = config.data, config.train.seed
    if d.tfds:
        loaded = _load_tfds(config)
        parts = dict(
            zip(["train", "test"] if len(loaded) == 2 else ["train", "validation", "test"], loaded)
        )
        source = f"TFDS {d.tfds}"
    elif d.path and d.test_every:  # line files with a fixed test fold, validation carved below
        table = text_data.read_line_files(_real(d.path), d.line_files, d.encoding)
        is_test = [n % d.test_every == d.test_fold for n in table.line_numbers]
        parts = {
            name: (
                [t for t, x in zip(table.texts, is_test) if x == want],
                [lab for lab, x in zip(table.labels, is_test) if x == want],
            )
            for name, want in (("train", False), ("test", True))
        }
        source = table.source
    elif d.path:
        table = _read(config, d.path, log=log)
        idx = stratified_split(table.labels, [d.validation_split, d.test_split], seed)
        parts = {
            name: ([table.texts[i] for i in ix], [table.labels[i] for i in ix])
            for name, ix in zip(("train", "validation", "test"), idx)
        }
        source = table.source
    else:
        table = _read(config, d.train, log=log, key="data.train")
        parts = {"train": (table.texts, table.labels)}
        # Every file read is named, with the split it went to.
        named = [f"{table.source} (train)"]
        for name in ("validation", "test"):
            if getattr(d, name):
                extra = _read(config, getattr(d, name), log=log, key=f"data.{name}")
                parts[name] = (extra.texts, extra.labels)
                named.append(f"{extra.source} ({name})")
        source = " and ".join(named) if len(named) > 1 else table.source
    if d.classes is not None:
        parts = {name: _only(texts, labels, d.classes) for name, (texts, labels) in parts.items()}
    # Carve the missing splits out of train in one go, so the fractions mean the same thing as
    # with data.path (fractions of the whole).
    missing = [n for n in ("validation", "test") if n not in parts]
    fractions = [getattr(d, f"{n}_split") for n in missing]
    for name, frac in zip(missing, fractions):
        if frac <= 0:
            raise ConfigError(f"no {name} data: give data.{name} or set data.{name}_split above 0")
    if missing:
        texts, labels = parts["train"]
        keep, *held = stratified_split(labels, fractions, seed)
        for name, idx in zip(missing, held):
            parts[name] = ([texts[i] for i in idx], [labels[i] for i in idx])
        parts["train"] = ([texts[i] for i in keep], [labels[i] for i in keep])
    return {k: parts[k] for k in ("train", "validation", "test")}, source


def _only(texts: list[str], labels: list[str], classes: list[str]) -> tuple[list, list]:
    keep = [i for i, lab in enumerate(labels) if lab in classes]
    return [texts[i] for i in keep], [labels[i] for i in keep]


# Every sequence starts with this id (the vocabulary's out-of-vocabulary id, 1) so that no text,
# even an empty one, is fully masked: mean pooling over zero steps would be 0/0.
START_ID = 1


def token_ids(vectorizer, texts, max_length: int):
    """Raw strings [batch] -> token ids [batch, 1 + <= max_length], right-padded with 0.

    Written with ``keras.ops`` so the same code runs in the tf.data pipeline and inside the
    end-to-end Keras model that is saved and exported.
    """
    ids = vectorizer(texts)[:, :max_length]
    # Padding on the left, not concatenating a slice of ``ids``: a batch of texts that are all
    # empty (or only punctuation) vectorises to zero columns, and must still get its start token.
    return keras.ops.pad(ids, [[0, 0], [1, 0]], constant_values=START_ID)


def own_labels(dataset, training: bool):
    """(token ids, labels) batches -> ({"token_ids", "own_label"}, labels), for a model with
    ``model.nb_features``: training batches carry each text's own label (its counts are left
    out of its naive Bayes rows), validation and test -1 (the full counts, as in serving)."""

    def add(ids, labels):
        own = labels if training else tf.fill(tf.shape(labels), -1)
        return {"token_ids": ids, "own_label": tf.cast(own, tf.int32)}, labels

    return dataset.map(add, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_datasets(config: Config, log=print, refit: bool = False) -> Prepared:
    """Read the data, adapt the vectorizer on train, and build the tf.data pipelines.

    With ``data.stream`` (or "auto" and more data than ``data.stream_above_mb``) no text is
    held: :mod:`.stream` reads the files inside tf.data instead (not with ``train.refit``).
    With ``refit`` (the refit's data step) the validation texts train too: the vocabulary, the
    naive Bayes counts and the training pipeline then cover them.
    """
    from . import stream

    streaming, why = stream.stream_decision(config)
    if why:
        log(why)
    if streaming:
        # Checked on the first data step, not only the refit's: before anything trains.
        if config.train.refit:
            raise ConfigError(
                "train.refit reads the data into memory; it cannot be combined with streaming "
                "(data.stream): set data.stream = false or train.refit = false"
            )
        return stream.make_datasets(config, log)
    d, m, t = config.data, config.model, config.train
    raw, source = load_splits(config, log)
    if refit:
        raw["train"] = (
            raw["train"][0] + raw["validation"][0],
            raw["train"][1] + raw["validation"][1],
        )
        log(f"  refit: the {len(raw['validation'][1])} validation examples train too")

    hint = f"check data.label_column, now '{d.label_column}'"
    class_names = classification.class_names_for(raw["train"][1], d.classes, "training data", hint)
    index = {name: i for i, name in enumerate(class_names)}
    splits = {}
    counts = {}
    for name, (texts, labels) in raw.items():
        classification.check_split(name, labels, class_names, "fix or drop those rows")
        y = np.array([index[lab] for lab in labels], dtype=np.int32)
        splits[name] = Split(texts, y)
        counts[name] = {c: int((y == i).sum()) for i, c in enumerate(class_names)}
    log(f"Loaded {source}")
    for name in ("train", "validation", "test"):
        per = ", ".join(f"{c}: {n}" for c, n in counts[name].items())
        log(f"  {name:<10} {len(splits[name].texts):>6} examples ({per})")

    vectorizer = keras.layers.TextVectorization(
        max_tokens=m.max_tokens,
        standardize=None if m.standardize == "none" else m.standardize,
        output_mode="int",
        name="vectorizer",
    )
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(splits["train"].texts).batch(1024))
    log(
        f"Built the vocabulary on train: {vectorizer.vocabulary_size()} tokens "
        f"(max_tokens {m.max_tokens})"
    )

    def sequences(split: Split):
        """Per-example token id sequences (no padding), computed once and cached."""
        ds = tf.data.Dataset.from_tensor_slices((split.texts, split.labels)).batch(1024)

        def vectorize(texts, labels):
            ids = token_ids(vectorizer, texts, m.max_length)
            return ids, tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1), labels

        ds = ds.map(vectorize, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        return ds.map(lambda ids, n, y: (ids[:n], y)).cache()

    train_ids = sequences(splits["train"])
    lengths = np.array([len(x) for x, _ in train_ids.as_numpy_iterator()])
    batching, note = choose_batching(d.batching, lengths, t.batch_size)
    log(f"Training batches: {note}")
    exact = batching == "exact"
    if exact:
        train = exact_length_training(train_ids, lengths, t.batch_size, t.seed)
    else:
        bounds = histogram_bounds(lengths, t.batch_size)
        train = bucketed_training(train_ids, lengths, t.batch_size, t.seed, bounds)

    def eval_ds(split: Split):
        # A model trained without a mask must never see padding: evaluate it on exact-length
        # batches too (in length order; the labels travel with the batches).
        size, ds = max(t.batch_size, 256), sequences(split)
        ds = exact_length_batches(ds, size) if exact else ds.padded_batch(size)
        ds = own_labels(ds, training=False) if m.nb_features else ds
        return ds.prefetch(tf.data.AUTOTUNE)

    if m.nb_features:
        train = own_labels(train, training=True)

    return Prepared(
        train=train,
        validation=eval_ds(splits["validation"]),
        test=eval_ds(splits["test"]),
        counts=counts,
        train_examples=len(splits["train"].texts),
        spec=Spec(vectorizer.vocabulary_size(), class_names, train_mask=not exact),
        class_names=class_names,
        vectorizer=vectorizer,
        splits=splits,
        batching=batching,
        batching_note=note,
        refit=refit,
    )
