"""What a run reports: metrics.json, history, and plots (matplotlib figures saved with Agg)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def classification_metrics(
    y_true: Sequence[int], probabilities: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    The confusion matrix is ``[true class][predicted class]``. A class that is never predicted
    has precision 0 (not NaN), so the macro average stays defined.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.argmax(probabilities, axis=-1)
    n = len(class_names)
    cm = np.zeros((n, n), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class = {}
    f1s = []
    for i, name in enumerate(class_names):
        tp = cm[i, i]
        predicted = cm[:, i].sum()
        actual = cm[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual),
        }
        if actual:
            f1s.append(f1)
    eps = 1e-12
    picked = np.clip(probabilities[np.arange(len(y_true)), y_true], eps, 1.0)
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "loss": float(-np.log(picked).mean()) if len(y_true) else float("nan"),
        "examples": int(len(y_true)),
        "per_class": per_class,
        "confusion_matrix": {"labels": list(class_names), "matrix": cm.tolist()},
    }


def _clean(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


class _Figures:
    """The two pyplot calls the plots make, on figures pyplot does not manage.

    A ``matplotlib.figure.Figure`` saves to PNG with the Agg canvas without switching the
    process's backend (a notebook or GUI that imports rnn_recipes keeps its own) and is never
    registered with pyplot, so nothing stays open.
    """

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **kwargs)

    @staticmethod
    def close(fig) -> None:
        """Nothing to close: pyplot never saw the figure."""


def _pyplot() -> type[_Figures]:
    return _Figures


def plot_learning_curves(history: dict[str, list[float]], path: Path) -> None:
    """One panel per metric, training and validation curves side by side."""
    plt = _pyplot()
    names = [k for k in history if not k.startswith("val_") and k not in ("learning_rate", "lr")]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 3.6))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# The confusion matrix figure grows with the classes up to this many inches a side (1155 px at
# 110 dpi): 30 classes once made a 2200 px image whose numbers no one could read at screen size.
CONFUSION_MAX_INCHES = 10.5


def plot_confusion_matrix(cm: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> None:
    """The test confusion matrix as a PNG, ``[true][predicted]``.

    Up to 14 classes each cell shows its count, as always. Past that the figure stops growing
    (:data:`CONFUSION_MAX_INCHES`), so each row is normalised to the share of its true class
    (in %, blank for none: the few confusions stand out, and classes of different sizes compare)
    and the label and cell fonts shrink with the cells.
    """
    plt = _pyplot()
    cm = np.asarray(cm)
    n = len(labels)
    natural = max(3.5, 0.6 * n + 2)
    size = min(natural, CONFUSION_MAX_INCHES)
    scaled = natural > size
    # About 10 pt text fits a 0.6 inch cell; smaller cells get proportionally smaller text.
    font = float(np.clip(10 * (size - 2) / max(n, 1) / 0.6, 4, 10))
    fig, ax = plt.subplots(figsize=(size, size))
    if scaled:
        totals = cm.sum(axis=1, keepdims=True)
        shown = np.divide(100.0 * cm, totals, out=np.zeros(cm.shape), where=totals > 0)
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=100)
        cells = [["" if v == 0 else f"{v:.0f}" for v in row] for row in shown]
    else:
        shown = cm
        ax.imshow(cm, cmap="Blues")
        cells = [[str(v) for v in row] for row in cm]
    # Labels stay legible (6 pt at least) where the numbers in the cells may go smaller.
    tick_font = max(font, 6.0)
    if scaled:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=tick_font)
    else:
        ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=tick_font)
    ax.set_yticks(range(n), labels, fontsize=tick_font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if shown[i, j] > threshold else "black"
            ax.text(j, i, cells[i][j], ha="center", va="center", color=color, fontsize=font)
    title = "test confusion matrix"
    ax.set_title(title + (" (% of each true class)" if scaled else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_spectrogram(
    matrix: np.ndarray,
    path: Path,
    title: str,
    frame_step: float | None = None,
    ylabel: str = "band",
) -> None:
    """One example's features as an image: ``matrix`` is ``[bands, frames]``, low bands at the
    bottom; the time axis is in seconds when ``frame_step`` (seconds) is given, else in frames."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    width = matrix.shape[1] * (frame_step or 1)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    image = ax.imshow(
        matrix, origin="lower", aspect="auto", cmap="magma", extent=(0, width, 0, matrix.shape[0])
    )
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("seconds" if frame_step else "frame")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_classification(metrics: dict[str, Any]) -> str:
    """A short human summary of classification metrics."""
    return (
        f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f} "
        f"on {metrics['examples']} examples"
    )
