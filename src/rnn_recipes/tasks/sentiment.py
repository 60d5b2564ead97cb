"""Sentiment: classify raw text with a recurrent network.

Raw text goes through a ``TextVectorization`` layer (adapted on the training split only) into
token ids, an ``Embedding`` with ``mask_zero=True``, one or more (bidirectional) LSTM or GRU
layers and a softmax head. Binary and multi-class labels both work; labels may be words or
integers.

Data it accepts (``data.*`` keys):

* ``data.path``: one CSV, TSV or JSON-lines file with a text and a label column, or a folder with
  one sub-folder of ``.txt`` files per class (the aclImdb layout); split into train / validation /
  test by ``data.validation_split`` and ``data.test_split`` (seeded, stratified).
* ``data.train`` (+ optional ``data.validation``, ``data.test``): explicit split files; the
  validation split is carved from train when not given.
* ``data.tfds``: a TensorFlow Datasets text classification set by name, e.g. ``imdb_reviews``.

Run it::

    rnn-recipes run sentiment                                   # bundled demo reviews
    rnn-recipes run sentiment --set data.train=train.csv --set data.test=test.csv

To adapt it, copy ``rnn-recipes show sentiment > my.toml``, point ``data.*`` at your files and
set ``data.text_column``/``data.label_column``; see docs/sentiment.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .._lazy import keras, tf
from ..config import (
    PKG_PREFIX,
    TrainConfig,
    require_at_least,
    require_fraction,
    resolve_pkg_path,
    validate_train,
)
from ..data import text as text_data
from ..data.batching import bucketed_training
from ..data.splits import stratified_split
from ..errors import ConfigError, RecipeError
from ..report import classification_metrics
from . import classification

# Keys whose values are file paths (made absolute against the file or folder that set them).
PATH_KEYS = ("data.path", "data.train", "data.validation", "data.test", "data.tfds_data_dir")
# Setting any "primary" source in a layer replaces the data source of the layers below it.
SOURCE_GROUPS = {"data": (("path", "train", "tfds"), ("validation", "test"))}


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass
class DataConfig:
    path: str | None = None  # one file/folder, split by the fractions below
    train: str | None = None  # explicit training file (takes the place of `path`)
    validation: str | None = None  # explicit validation file; carved from train when absent
    test: str | None = None  # explicit test file; carved from train when absent
    tfds: str | None = None  # a TFDS dataset name, e.g. "imdb_reviews" (downloads on first use)
    tfds_data_dir: str | None = None  # where TFDS keeps its files (default ~/tensorflow_datasets)
    tfds_splits: list[str] = field(default_factory=lambda: ["train", "test"])  # [train, test]
    format: Literal["auto", "csv", "tsv", "jsonl", "folder"] = "auto"  # auto: by extension
    text_column: str = "text"  # column (or JSON key) holding the text
    label_column: str = "label"  # column (or JSON key) holding the class label
    encoding: str = "utf-8"  # file encoding; old corpora are often cp1252 or latin-1
    classes: list[str] | None = None  # keep only these labels, in this order (default: all)
    validation_split: float = 0.1  # fraction of train held out for early stopping
    test_split: float = 0.1  # fraction held out for the final test (only when no test file)


@dataclass
class ModelConfig:
    cell: Literal["lstm", "gru"] = "gru"  # GRU: as accurate as LSTM here, fewer weights, faster
    units: int = 32  # per direction; on sentence data 64 overfits sooner and is no better
    layers: int = 1  # stacked RNN layers; one is enough for sentence-level sentiment
    bidirectional: bool = True  # reading both ways helps negation and late cues
    pooling: Literal["last", "mean"] = "mean"  # mean over unmasked steps is steadier than last
    dropout: float = 0.5  # on embeddings and before the head (never recurrent: keeps cuDNN)
    embedding_dim: int = 64  # word vectors learnt from scratch; most weights live here
    max_tokens: int = 20000  # vocabulary size including padding and out-of-vocabulary ids
    max_length: int = 400  # longer texts are truncated; batches are padded only to their longest
    standardize: Literal["lower_and_strip_punctuation", "lower", "strip_punctuation", "none"] = (
        "lower_and_strip_punctuation"  # TextVectorization's default normalisation
    )
    # A naive Bayes expert over words and word pairs, added to the RNN's class scores: on
    # sentence data it is right where the RNN is wrong (rt-polarity: 0.772 -> 0.787). Closed
    # form from the training split, never trained; see docs/sentiment.md.
    naive_bayes: bool = True
    nb_buckets: int = 1048576  # hash buckets for word pairs (2**20: few collisions, 8 MB)
    nb_alpha: float = 1.0  # add-alpha smoothing of the feature counts (Laplace)
    nb_weight: float | None = None  # its weight; unset: chosen on the validation split


@dataclass
class Config:
    task: str = "sentiment"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def validate(config: Config) -> None:
    """Checks that need more than one key (types are checked by the config layer)."""
    d, m, t = config.data, config.model, config.train
    sources = [k for k in ("path", "train", "tfds") if getattr(d, k)]
    if not sources:
        raise ConfigError("no data: set data.path, data.train or data.tfds (or pass --data PATH)")
    if len(sources) > 1:
        raise ConfigError(
            f"set only one data source, not {' and '.join('data.' + s for s in sources)}"
        )
    if (d.path or d.tfds) and (d.validation or d.test):
        other = "data.path" if d.path else "data.tfds (use data.tfds_splits)"
        raise ConfigError(f"data.validation/data.test go with data.train, not with {other}")
    if d.classes is not None and len(set(d.classes)) < 2:
        raise ConfigError("data.classes needs at least two distinct labels")
    require_fraction("data", d, ("validation_split", "test_split"), upper=0.5)
    if d.tfds and len(d.tfds_splits) not in (2, 3):
        raise ConfigError("data.tfds_splits takes [train, test] or [train, validation, test]")
    require_at_least("model", m, ("units", "layers", "embedding_dim", "max_length"))
    require_at_least("model", m, ("max_tokens",), 3)
    require_fraction("model", m, ("dropout",))
    require_at_least("model", m, ("nb_buckets",))
    if m.nb_alpha <= 0:
        raise ConfigError(f"model.nb_alpha must be above 0, got {m.nb_alpha}")
    if m.nb_weight is not None and m.nb_weight < 0:
        raise ConfigError(f"model.nb_weight must be 0 or more (or unset), got {m.nb_weight}")
    validate_train(t)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Split:
    texts: list[str]
    labels: np.ndarray  # class indices


@dataclass
class Prepared:
    """Everything the runner needs from the data: pipelines, class names, counts."""

    train: Any  # tf.data.Dataset of (token ids, label), shuffled and bucketed by length
    validation: Any
    test: Any
    class_names: list[str]
    vectorizer: Any  # the adapted TextVectorization layer
    splits: dict[str, Split]
    counts: dict[str, dict[str, int]]

    @property
    def train_examples(self) -> int:
        return len(self.splits["train"].texts)


def _read(config: Config, path: str, need_label: bool = True) -> text_data.TextTable:
    d = config.data
    real = resolve_pkg_path(path) if path.startswith(PKG_PREFIX) else path
    return text_data.read_texts(
        real,
        d.format,
        d.text_column,
        d.label_column,
        d.encoding,
        need_label=need_label,
        classes=d.classes,
    )


def _load_tfds(config: Config) -> list[tuple[list[str], list[str]]]:
    """Load a TFDS text classification set with its own splits (downloads on first use)."""
    from .._lazy import tfds

    d = config.data
    try:
        splits, info = tfds.load(
            d.tfds,
            split=list(d.tfds_splits),
            data_dir=d.tfds_data_dir,
            as_supervised=True,
            with_info=True,
        )
    except Exception as exc:  # TFDS raises many kinds; all mean "could not get the data"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(
            f"cannot load TFDS dataset '{d.tfds}': {first} (TFDS downloads it on first use; "
            "without network, point data.tfds_data_dir at a prepared copy)"
        ) from None
    names = info.features["label"].names if hasattr(info.features["label"], "names") else None
    out = []
    for ds in splits:
        texts, labels = [], []
        for text, label in tfds.as_numpy(ds):
            if int(label) < 0:  # unlabelled examples (e.g. imdb_reviews' "unsupervised")
                continue
            texts.append(text.decode("utf-8", errors="replace"))
            labels.append(names[int(label)] if names else str(int(label)))
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
    elif d.path:
        table = _read(config, d.path)
        idx = stratified_split(table.labels, [d.validation_split, d.test_split], seed)
        parts = {
            name: ([table.texts[i] for i in ix], [table.labels[i] for i in ix])
            for name, ix in zip(("train", "validation", "test"), idx)
        }
        source = table.source
    else:
        table = _read(config, d.train)
        parts = {"train": (table.texts, table.labels)}
        for name in ("validation", "test"):
            if getattr(d, name):
                extra = _read(config, getattr(d, name))
                parts[name] = (extra.texts, extra.labels)
        source = table.source
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
    start = keras.ops.full_like(ids[:, :1], START_ID)
    return keras.ops.concatenate([start, ids], axis=1)


def make_datasets(config: Config, log=print) -> Prepared:
    """Read the data, adapt the vectorizer on train, and build the tf.data pipelines."""
    d, m, t = config.data, config.model, config.train
    raw, source = load_splits(config, log)

    class_names = list(d.classes) if d.classes else classification.sort_labels(set(raw["train"][1]))
    missing = [c for c in class_names if c not in set(raw["train"][1])]
    if d.classes and missing:
        raise RecipeError(
            f"data.classes names {', '.join(map(repr, missing))} but the training data has no "
            "such label"
        )
    if len(class_names) < 2:
        raise RecipeError(
            f"the training data has a single class ('{class_names[0]}'); a classifier needs at "
            f"least two (check data.label_column, now '{d.label_column}')"
        )
    index = {name: i for i, name in enumerate(class_names)}
    splits = {}
    counts = {}
    for name, (texts, labels) in raw.items():
        unseen = sorted(set(labels) - index.keys())
        if unseen:
            raise RecipeError(
                f"the {name} split has label(s) {', '.join(map(repr, unseen[:5]))} that training "
                f"never saw (training labels: {', '.join(class_names)}); fix or drop those rows"
            )
        if not texts:
            raise RecipeError(f"the {name} split is empty; give more data or change the split")
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
    train = bucketed_training(train_ids, lengths, t.batch_size, t.seed)

    def eval_ds(split: Split):
        return sequences(split).padded_batch(max(t.batch_size, 256)).prefetch(tf.data.AUTOTUNE)

    return Prepared(
        train=train,
        validation=eval_ds(splits["validation"]),
        test=eval_ds(splits["test"]),
        class_names=class_names,
        vectorizer=vectorizer,
        splits=splits,
        counts=counts,
    )


# ---------------------------------------------------------------------------------------------
# Model


def build_model(config: Config, data: Prepared):
    """Embedding(mask_zero) -> N x (Bidirectional) LSTM/GRU -> pooling -> class scores
    (+ weight x naive Bayes scores of words and word pairs) -> softmax."""
    m = config.model
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        data.vectorizer.vocabulary_size(), m.embedding_dim, mask_zero=True, name="embedding"
    )(inputs)
    x = keras.layers.Dropout(m.dropout, name="embedding_dropout")(x)
    extra = naive_bayes_layer(config, data)(inputs) if m.naive_bayes else None
    return classification.rnn_classifier(
        inputs, x, m, data.class_names, "sentiment_rnn", extra_scores=extra
    )


def register_layers() -> None:
    """Register the custom layer so ``keras.saving.load_model("model.keras")`` can rebuild it."""
    from . import sentiment_layers  # noqa: F401  (registration happens on import)


def naive_bayes_layer(config: Config, data: Prepared):
    """The naive Bayes expert, its table counted on the training split (weight 0 for now)."""
    from .sentiment_layers import NaiveBayesBag, count_features, log_likelihoods

    m, train = config.model, data.splits["train"]
    size, classes = data.vectorizer.vocabulary_size(), len(data.class_names)
    counts = np.zeros((size + m.nb_buckets, classes))
    for start in range(0, len(train.texts), 4096):  # bounded memory on large corpora
        texts = tf.constant(train.texts[start : start + 4096])
        ids = np.asarray(token_ids(data.vectorizer, texts, m.max_length))
        count_features(ids, train.labels[start : start + 4096], counts, size, m.nb_buckets)
    table, prior = log_likelihoods(
        counts, np.bincount(train.labels, minlength=classes).astype(float), m.nb_alpha
    )
    layer = NaiveBayesBag(size, m.nb_buckets, classes, name="naive_bayes")
    layer.build((None, None))
    layer.table.assign(table)
    layer.prior.assign(prior)
    return layer


NB_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # tried on validation; 0 is the RNN alone


def _scores(model, dataset):
    """(probabilities of the model, naive Bayes scores, labels) over a labelled dataset."""
    layer = model.get_layer("naive_bayes")
    probabilities, nb, labels = [], [], []
    for ids, y in dataset:
        probabilities.append(np.asarray(model(ids, training=False)))
        nb.append(np.asarray(layer.scores(ids)))
        labels.append(np.asarray(y))
    return np.concatenate(probabilities), np.concatenate(nb), np.concatenate(labels)


def after_training(config: Config, data: Prepared, model, log=print) -> dict[str, Any] | None:
    """Set the naive Bayes weight: ``model.nb_weight``, or the best on the validation split."""
    if not config.model.naive_bayes:
        return None
    layer = model.get_layer("naive_bayes")
    if config.model.nb_weight is not None:
        layer.weight.assign(config.model.nb_weight)
        log(f"Naive Bayes weight {config.model.nb_weight:g} (model.nb_weight)")
        return {"naive_bayes": {"weight": config.model.nb_weight, "chosen_by": "model.nb_weight"}}
    layer.weight.assign(0.0)
    probabilities, nb, labels = _scores(model, data.validation)
    log_p = np.log(probabilities + 1e-12)  # the RNN alone (weight 0)
    accuracy = {w: float(np.mean(np.argmax(log_p + w * nb, 1) == labels)) for w in NB_WEIGHTS}
    best = max(NB_WEIGHTS, key=lambda w: (accuracy[w], -w))  # ties: the smaller weight
    layer.weight.assign(best)
    log(
        f"Naive Bayes weight {best:g}, chosen on validation: accuracy {accuracy[best]:.4f} "
        f"(RNN alone {accuracy[0.0]:.4f})"
    )
    return {
        "naive_bayes": {
            "weight": best,
            "chosen_by": "validation accuracy",
            "validation_accuracy": {f"{w:g}": a for w, a in accuracy.items()},
        }
    }


def compile_model(model, config: Config) -> None:
    classification.compile_classifier(model, config.train)


def end_to_end_model(config: Config, data: Prepared, model):
    """Raw strings in, probabilities out: the model users reload from ``model.keras``."""
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = token_ids(data.vectorizer, text, config.model.max_length)
    return keras.Model(text, model(ids), name="sentiment")


# ---------------------------------------------------------------------------------------------
# Evaluation and serving


def evaluate(config: Config, data: Prepared, model) -> dict[str, Any]:
    labels = data.splits["test"].labels
    if not config.model.naive_bayes:
        probabilities = model.predict(data.test, verbose=0)
        return classification_metrics(labels, probabilities, data.class_names)
    probabilities, nb, y = _scores(model, data.test)
    metrics = classification_metrics(y, probabilities, data.class_names)
    # What each part gets alone, for the report (never for choices).
    weight = float(np.asarray(model.get_layer("naive_bayes").weight))
    rnn = np.argmax(np.log(probabilities + 1e-12) - weight * nb, 1)  # remove weight x nb again
    metrics["rnn_only_accuracy"] = float(np.mean(rnn == y))
    metrics["naive_bayes_only_accuracy"] = float(np.mean(np.argmax(nb, 1) == y))
    return metrics


def serving(config: Config, data: Prepared, full_model):
    """The ``serving_default`` function: a 1-D batch of raw strings -> probabilities and labels.

    ``full_model`` is the end-to-end model (:func:`end_to_end_model`), so the SavedModel and
    ``model.keras`` compute exactly the same thing.
    """
    names = tf.constant(data.class_names)

    def serve(text):
        probabilities = full_model(text, training=False)
        best = tf.argmax(probabilities, axis=-1)
        batch = tf.shape(text)[0]
        return {
            "probabilities": probabilities,
            "label": tf.gather(names, best),
            "score": tf.reduce_max(probabilities, axis=-1),
            "classes": tf.tile(names[None, :], [batch, 1]),
        }

    return serve, [tf.TensorSpec([None], tf.string, name="text")]


# ---------------------------------------------------------------------------------------------
# predict / evaluate on an exported run


def read_labelled(config: Config, path: str) -> tuple[list[str], list[str]]:
    table = text_data.read_texts(
        path,
        config.data.format,
        config.data.text_column,
        config.data.label_column,
        config.data.encoding,
    )
    return table.texts, table.labels


def predict(serve, config: Config, inputs: list[str], output=None) -> list[dict[str, Any]]:
    """Run the exported signature on raw texts; one record per text."""
    out = []
    for start in range(0, len(inputs), 256):
        chunk = inputs[start : start + 256]
        out.extend(classification.records(chunk, serve(text=tf.constant(chunk, dtype=tf.string))))
    return out


def evaluate_exported(serve, config: Config, path: str) -> dict[str, Any]:
    """The run's metrics on new labelled data, read with the run's own data settings."""
    texts, labels = read_labelled(config, path)
    return classification.evaluate_records(predict(serve, config, texts), labels, path)


format_prediction = classification.format_prediction
format_metrics = classification.format_metrics
summary = classification.summary


def plots(config: Config, data: Prepared, metrics: dict[str, Any], folder) -> None:
    classification.confusion_plot(metrics, folder)
