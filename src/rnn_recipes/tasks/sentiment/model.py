"""The sentiment model: token ids -> embedding -> (bidirectional) GRU/LSTM -> class scores.

A naive Bayes expert over words and word pairs (:mod:`.layers`) adds its log-scores to the RNN's
class scores. The model is built from explicit sizes (:class:`.data.Spec`); the expert's table is
counted from the training split in a separate step, :func:`initialize`, and its weight chosen on
the validation split after training, :func:`after_training`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._lazy import keras
from ...errors import ConfigError
from ...report import classification_metrics
from .. import classification
from . import vectors as _vectors
from .config import DEFAULT_EMBEDDING_DIM, Config
from .data import Prepared, Spec, token_ids


@dataclass
class VectorsSpec(Spec):
    """The sizes of a model started from pretrained vectors: theirs is the embedding size."""

    embedding_dim: int = DEFAULT_EMBEDDING_DIM


def embedding_dim(config: Config, spec: Spec) -> int:
    """``model.embedding_dim``, or when unset the pretrained vectors' dimension (else 64)."""
    if config.model.embedding_dim is not None:
        return config.model.embedding_dim
    return getattr(spec, "embedding_dim", DEFAULT_EMBEDDING_DIM)


def add_vectors(config: Config, data: Prepared, log=print) -> Prepared:
    """Read ``model.pretrained_vectors`` for the vocabulary adapted on the training split.

    Returns ``data`` with the aligned vectors and the embedding size they imply (unchanged when
    no vectors are configured).

    Raises:
        ConfigError: ``model.embedding_dim`` is set to another size than the vectors'.
        RecipeError: the vectors file is missing or malformed, or the named package absent.
    """
    m = config.model
    if not m.pretrained_vectors:
        return data
    vocabulary = data.vectorizer.get_vocabulary()
    lowercase = m.standardize in ("lower_and_strip_punctuation", "lower")
    vectors = _vectors.load(m.pretrained_vectors, vocabulary, config.train.seed, lowercase)
    if m.embedding_dim is not None and m.embedding_dim != vectors.dimension:
        raise ConfigError(
            f"model.embedding_dim is {m.embedding_dim} but the pretrained vectors have "
            f"{vectors.dimension} dimensions: leave model.embedding_dim unset (it then follows "
            f"the vectors) or set it to {vectors.dimension}"
        )
    log(vectors.describe())
    log(
        f"Embedding size {vectors.dimension} (the vectors'); they are "
        + ("fine-tuned" if m.finetune_vectors else "kept frozen (model.finetune_vectors = false)")
    )
    # A copy of whichever Prepared it is (in memory or streamed), with the vectors added.
    out = copy.copy(data)
    out.spec = VectorsSpec(**vars(data.spec), embedding_dim=vectors.dimension)
    out.vectors = vectors
    return out


def inputs_note(config: Config) -> str:
    """The log line saying what the RNN reads per token."""
    if config.model.nb_features:
        return (
            "RNN inputs: each token's embedding + the naive Bayes rows of its word and word pair "
            "(model.nb_features; training texts leave their own counts out)"
        )
    return "RNN inputs: each token's embedding (model.nb_features = false)"


def run_info(config: Config, data: Prepared) -> dict[str, Any]:
    """metrics.json's ``batching`` section (how training batches were made, and why) and, with
    pretrained vectors, ``pretrained_vectors``: source, dimension, coverage, fine-tuned."""
    info: dict[str, Any] = {
        "batching": {
            "mode": data.batching,
            "setting": config.data.batching,
            "trained_with_mask": data.spec.train_mask,
            "why": data.batching_note,
        }
    }
    info["rnn_inputs"] = {
        "embedding": True,
        "nb_features": config.model.nb_features,
        # The run's log line, plus what the test figure of the RNN alone means.
        "note": inputs_note(config) + "; rnn_only_accuracy is this RNN, with the expert's weight 0",
    }
    vectors = getattr(data, "vectors", None)
    if vectors is not None:
        info["pretrained_vectors"] = {
            **vectors.record(),
            "finetuned": config.model.finetune_vectors,
        }
    return info


# The naive Bayes table's storage: most of the model's bytes, and float16 loses no accuracy
# (log-likelihoods centred over classes; the sum runs in float32, see .layers).
TABLE_DTYPE = "float16"


def build_model(config: Config, spec: Spec, mask: bool | None = None):
    """Embedding(mask_zero) (+ naive Bayes rows of each word and word pair) -> N x
    (Bidirectional) LSTM/GRU -> pooling -> class scores (+ weight x naive Bayes scores of words
    and word pairs) -> softmax.

    With ``model.nb_features`` the model takes ``{"token_ids": ids, "own_label": y}``: the
    training pipeline gives each text's own label (its counts are left out of its naive Bayes
    rows), everything else -1 (:func:`own_label_none`).

    Args:
        config: the run's configuration.
        spec: the explicit sizes (and whether training uses a mask, ``spec.train_mask``).
        mask: build with the padding mask (True) or without (False); default
            ``spec.train_mask``. Both builds have the same weights in the same order: a model
            trained without a mask on exact-length batches is served by the masked build
            (:func:`end_to_end_model`), which gives each padded text what it gets alone.
    """
    from .layers import NaiveBayesBag, NaiveBayesFeatures

    m = config.model
    mask = spec.train_mask if mask is None else mask
    inputs = ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        spec.vocabulary_size,
        embedding_dim(config, spec),
        mask_zero=mask,
        # Frozen pretrained vectors: the layer keeps the values initialize() gives it.
        trainable=m.finetune_vectors or not m.pretrained_vectors,
        name="embedding",
    )(ids)
    x = keras.layers.Dropout(m.dropout, name="embedding_dropout")(x)
    if m.nb_features:
        own_label = keras.Input(shape=(), dtype="int32", name="own_label")
        inputs = {"token_ids": ids, "own_label": own_label}
        # Counts zero until initialize(); no gradient. The rows carry the embedding's mask, so
        # that Concatenate passes it on to the RNN (see NaiveBayesFeatures' mask_zero).
        rows = NaiveBayesFeatures(
            spec.vocabulary_size,
            m.nb_buckets,
            len(spec.class_names),
            alpha=m.nb_alpha,
            mask_zero=mask,
            name="nb_features",
        )(ids, own_label)
        x = keras.layers.Concatenate(name="with_nb_features")([x, rows])
    extra = None
    if m.naive_bayes:
        # Table and prior zero until initialize() counts them; weight 0 until after_training.
        layer = NaiveBayesBag(
            spec.vocabulary_size,
            m.nb_buckets,
            len(spec.class_names),
            table_dtype=TABLE_DTYPE,
            name="naive_bayes",
        )
        extra = layer(ids)
    return classification.rnn_classifier(
        inputs, x, m, spec.class_names, "sentiment_rnn", extra_scores=extra
    )


def initialize(model, config: Config, data: Prepared) -> None:
    """Start the embedding from the pretrained vectors, if any; count the naive Bayes features
    on the training split, once, for the expert's table and prior (its weight stays 0) and for
    the RNN's input rows (``model.nb_features``)."""
    from .layers import count_features, log_likelihoods

    m = config.model
    vectors = getattr(data, "vectors", None)
    if vectors is not None:
        model.get_layer("embedding").embeddings.assign(vectors.matrix)
    if not (m.naive_bayes or m.nb_features):
        return
    size, classes = data.spec.vocabulary_size, len(data.spec.class_names)
    counts = np.zeros((size + m.nb_buckets, classes))
    for ids, labels in data.training_chunks(m.max_length):  # bounded memory on large corpora
        count_features(ids, labels, counts, size, m.nb_buckets)
    per_class = np.array([data.counts["train"][c] for c in data.spec.class_names], dtype=float)
    if m.nb_features:  # one pass counts for both
        layer = model.get_layer("nb_features")
        layer.counts.assign(counts.astype(layer.counts.dtype))
        layer.totals.assign(counts.sum(axis=0).astype(np.float32))
    if not m.naive_bayes:
        return
    table, prior = log_likelihoods(counts, per_class, m.nb_alpha)
    layer = model.get_layer("naive_bayes")
    layer.table.assign(table.astype(layer.table.dtype))
    layer.prior.assign(prior)


def compile_model(model, config: Config) -> None:
    classification.compile_classifier(model, config.train)


NB_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # tried on validation; 0 is the RNN alone


def _scores(model, dataset):
    """(probabilities of the model, naive Bayes scores, labels) over a labelled dataset."""
    layer = model.get_layer("naive_bayes")
    probabilities, labels = _predict(model, dataset)
    nb = np.concatenate([np.asarray(layer.scores(_token_ids(x))) for x, _ in dataset])
    return probabilities, nb, labels


def _token_ids(x):
    """The token ids of a batch's inputs (a dict when the model takes ``own_label`` too)."""
    return x["token_ids"] if isinstance(x, dict) else x


def own_label_none(ids):
    """-1 for every text of a batch of token ids: "use the full counts" (no label known)."""
    return keras.ops.zeros_like(ids[:, 0]) - 1


def _predict(model, dataset):
    """(probabilities, labels) over a labelled dataset, in its batch order.

    ``predict`` runs compiled (calling the model eagerly would run the RNN's loop step by step
    in Python, once per batch: slow with exact-length batches, of which there is one or more
    per distinct length); the labels are read from the same, deterministic, pipeline.
    """
    probabilities = model.predict(dataset.map(lambda ids, y: ids), verbose=0)
    labels = np.concatenate([np.asarray(y) for _, y in dataset])
    return np.asarray(probabilities), labels


def after_training(config: Config, data: Prepared, model, log=print) -> dict[str, Any] | None:
    """Set the naive Bayes weight: ``model.nb_weight``, or the best on the validation split."""
    if not config.model.naive_bayes:
        return None
    layer = model.get_layer("naive_bayes")
    if config.model.nb_weight is not None:
        layer.weight.assign(config.model.nb_weight)
        # A refit keeps the first model's weight, whether validation chose it or the user did.
        source = "kept from the model before the refit" if data.refit else "model.nb_weight"
        log(f"Naive Bayes weight {config.model.nb_weight:g} ({source})")
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
            # The expert alone on the same split, for the component table (never for choices).
            "validation_naive_bayes_only_accuracy": float(np.mean(np.argmax(nb, 1) == labels)),
        }
    }


def end_to_end_model(config: Config, data: Prepared, model):
    """Raw strings in, probabilities out: the model users reload from ``model.keras``."""
    # An uncompiled rebuild (clone_model would compile it too): saving the trained, compiled
    # model inside would also save its Adam slots, two more copies of every trainable weight
    # (9 MB of a 23 MB model.keras on rt-polarity) that serving never uses.
    # Always the masked build: served batches are padded, whatever the training batches were.
    inner = build_model(config, data.spec, mask=True)
    inner.set_weights(model.get_weights())
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = token_ids(data.vectorizer, text, config.model.max_length)
    if config.model.nb_features:
        ids = {"token_ids": ids, "own_label": own_label_none(ids)}  # full counts when serving
    return keras.Model(text, inner(ids), name="sentiment")


def evaluate(config: Config, data: Prepared, model) -> dict[str, Any]:
    if not config.model.naive_bayes:
        # Labels from the batches: exact-length test batches come in length order.
        probabilities, labels = _predict(model, data.test)
        return classification_metrics(labels, probabilities, data.class_names)
    probabilities, nb, y = _scores(model, data.test)
    metrics = classification_metrics(y, probabilities, data.class_names)
    # What each part gets alone, for the report (never for choices).
    weight = float(np.asarray(model.get_layer("naive_bayes").weight))
    rnn = np.argmax(np.log(probabilities + 1e-12) - weight * nb, 1)  # remove weight x nb again
    metrics["rnn_only_accuracy"] = float(np.mean(rnn == y))
    metrics["naive_bayes_only_accuracy"] = float(np.mean(np.argmax(nb, 1) == y))
    return metrics
