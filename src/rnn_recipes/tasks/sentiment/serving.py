"""Sentiment serving: the exported signature, and predict / evaluate on an exported run."""

from __future__ import annotations

from typing import Any

from ..._lazy import tf
from ...data import text as text_data
from .. import classification
from .config import Config
from .data import Prepared


def serving(config: Config, data: Prepared, full_model):
    """The ``serving_default`` function: a 1-D batch of raw strings -> probabilities and labels.

    ``full_model`` is the end-to-end model (:func:`.model.end_to_end_model`), so the SavedModel
    and ``model.keras`` compute exactly the same thing.
    """
    class_names = data.spec.class_names

    def serve(text):
        return classification.serving_outputs(full_model(text, training=False), class_names)

    return serve, [tf.TensorSpec([None], tf.string, name="text")]


def read_labelled(config: Config, path: str) -> tuple[list[str], list[str]]:
    table = text_data.read_texts(
        path,
        config.data.format,
        config.data.text_column,
        config.data.label_column,
        config.data.encoding,
        header=config.data.header,
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
