"""Pieces shared by the classification tasks (sentiment, speech).

The class list and its checks, the recurrent classifier and its compile settings, the serving
output dict, and turning served outputs into records, metrics and printed lines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import RecipeError
from ..report import classification_metrics, format_classification, plot_confusion_matrix
from .base import Task
from .schedules import schedule_callbacks


def sort_labels(labels) -> list[str]:
    """Class order: integer labels numerically ("2" < "10"), anything else alphabetically."""
    labels = set(labels)
    if all(lab.lstrip("-").isdigit() for lab in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def class_names_for(train_labels, classes: list[str] | None, where: str, hint: str) -> list[str]:
    """The class order of a run: ``data.classes`` as given, or the training labels sorted.

    Args:
        train_labels: the label of every training example.
        classes: ``data.classes`` (None: every label found).
        where: how messages name the training labels ("training data", "training split").
        hint: what to check when there is a single class.

    Raises:
        RecipeError: a class of ``data.classes`` has no training example, or there is one class.
    """
    found = set(train_labels)
    class_names = list(classes) if classes else sort_labels(found)
    absent = [c for c in class_names if c not in found]
    if classes and absent:
        raise RecipeError(
            f"data.classes names {', '.join(map(repr, absent))} but the {where} has no such label"
        )
    if len(class_names) < 2:
        raise RecipeError(
            f"the {where} has a single class ('{class_names[0]}'); a classifier needs at least "
            f"two ({hint})"
        )
    return class_names


def check_split(name: str, labels, class_names: list[str], hint: str) -> None:
    """A split must not be empty nor hold labels training never saw (``hint``: how to fix)."""
    if len(labels) == 0:
        raise RecipeError(f"the {name} split is empty; give more data or change the split")
    unseen = sorted(set(labels) - set(class_names))
    if unseen:
        raise RecipeError(
            f"the {name} split has label(s) {', '.join(map(repr, unseen[:5]))} that training "
            f"never saw (training labels: {', '.join(class_names)}); {hint}"
        )


def serving_outputs(probabilities, class_names):
    """The ``serving_default`` outputs of a classifier, from probabilities ``[batch, classes]``.

    ``label`` (best class name), ``score`` (its probability) and ``classes`` (every class name,
    one row per example, so a client needs no side file to read ``probabilities``).
    """
    from .._lazy import tf

    names = tf.constant(class_names)
    batch = tf.shape(probabilities)[0]
    return {
        "probabilities": probabilities,
        "label": tf.gather(names, tf.argmax(probabilities, axis=-1)),
        "score": tf.reduce_max(probabilities, axis=-1),
        "classes": tf.tile(names[None, :], [batch, 1]),
    }


def rnn_classifier(inputs, x, model_config, class_names: list[str], name: str, extra_scores=None):
    """The recurrent part and head shared by the classification tasks.

    ``x`` (masked sequence features) -> ``model.layers`` x (Bidirectional) GRU/LSTM -> mean
    and/or maximum over unmasked steps (:mod:`.pooling`) or last state -> dropout -> softmax.
    Default activations, no recurrent dropout and right-padded masks keep every layer
    cuDNN-eligible on GPU. ``extra_scores``
    ([batch, classes], e.g. another expert's log-scores) are added to the class scores before
    the softmax.
    """
    from .._lazy import keras

    m = model_config
    rnn_layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[m.cell]
    for i in range(m.layers):
        last = i == m.layers - 1
        rnn = rnn_layer(
            m.units, return_sequences=not (last and m.pooling == "last"), name=f"{m.cell}_{i + 1}"
        )
        x = (
            keras.layers.Bidirectional(rnn, name=f"bidirectional_{i + 1}")(x)
            if m.bidirectional
            else rnn(x)
        )
    if m.pooling != "last":
        from .pooling import pool

        x = pool(x, m.pooling)  # over unmasked steps only
    x = keras.layers.Dropout(m.dropout, name="head_dropout")(x)
    if extra_scores is None:
        outputs = keras.layers.Dense(len(class_names), activation="softmax", name="classes")(x)
    else:
        scores = keras.layers.Dense(len(class_names), name="rnn_scores")(x)
        scores = keras.layers.Add(name="add_scores")([scores, extra_scores])
        outputs = keras.layers.Activation("softmax", name="classes")(scores)
    return keras.Model(inputs, outputs, name=name)


def average_models(models: list, name: str):
    """One model averaging the class probabilities of ``models`` (alike: same inputs, same
    classes), each kept whole inside it as ``member_1``, ``member_2``, ..."""
    from .._lazy import keras

    inputs = keras.tree.map_structure(
        lambda x: keras.Input(shape=x.shape[1:], dtype=x.dtype, name=x.name), models[0].input
    )
    members = [keras.Model(m.input, m.output, name=f"member_{i}") for i, m in enumerate(models, 1)]
    average = keras.layers.Average(name="average")([member(inputs) for member in members])
    return keras.Model(inputs, average, name=name)


def compile_classifier(model, train_config) -> None:
    """Adam with gradient clipping, sparse categorical cross-entropy, accuracy."""
    from .._lazy import keras

    t = train_config
    model.compile(
        optimizer=keras.optimizers.Adam(t.learning_rate, clipnorm=t.clipnorm or None),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def records(inputs: list[str], outputs: dict) -> list[dict[str, Any]]:
    """Turn one batch of ``serving_default`` outputs into one record per input."""
    probs = outputs["probabilities"].numpy()
    classes = [c.decode("utf-8") for c in outputs["classes"].numpy()[0]] if len(probs) else []
    out = []
    for item, p in zip(inputs, probs):
        best = int(np.argmax(p))
        out.append(
            {
                "input": item,
                "label": classes[best],
                "probability": float(p[best]),
                "probabilities": {c: float(v) for c, v in zip(classes, p)},
            }
        )
    return out


def evaluate_records(recs: list[dict[str, Any]], labels: list[str], source: str) -> dict[str, Any]:
    """Classification metrics of predicted records against true label names."""
    class_names = list(recs[0]["probabilities"]) if recs else []
    unknown = sorted(set(labels) - set(class_names))
    if unknown:
        raise RecipeError(
            f"{source} has label(s) {', '.join(map(repr, unknown[:5]))} the model was not "
            f"trained on (its labels: {', '.join(class_names)})"
        )
    index = {c: i for i, c in enumerate(class_names)}
    probs = np.array([[r["probabilities"][c] for c in class_names] for r in recs])
    return classification_metrics([index[x] for x in labels], probs, class_names)


def format_prediction(record: dict[str, Any]) -> str:
    return f"{record['label']}\t{record['probability']:.3f}\t{record['input']}"


def summary(metrics: dict[str, Any]) -> str:
    return format_classification(metrics)


def format_metrics(metrics: dict[str, Any]) -> list[str]:
    lines = [format_classification(metrics)]
    width = max((len(c) for c in metrics["per_class"]), default=0)
    for name, m in metrics["per_class"].items():
        lines.append(
            f"  {name:<{width}}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
            f"F1 {m['f1']:.3f}  ({m['support']} examples)"
        )
    return lines


def confusion_plot(metrics: dict[str, Any], folder) -> None:
    cm = metrics["test"]["confusion_matrix"]
    plot_confusion_matrix(cm["matrix"], cm["labels"], folder / "confusion_matrix.png")


class ClassificationTask(Task):
    """What the classification tasks share: compiling, the summary line, printing, the plot."""

    def compile_model(self, model, config) -> None:
        compile_classifier(model, config.train)

    def callbacks(self, config) -> list:
        return schedule_callbacks(config.train)

    def summary(self, test: dict[str, Any]) -> str:
        return summary(test)

    def format_prediction(self, record: dict[str, Any]) -> str:
        return format_prediction(record)

    def format_metrics(self, metrics: dict[str, Any]) -> list[str]:
        return format_metrics(metrics)

    def plots(self, config, data, metrics: dict[str, Any], folder) -> None:
        confusion_plot(metrics, folder)
