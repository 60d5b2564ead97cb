"""Report plots: sizes and contents that stay readable."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from rnn_recipes import report


def _pixels(path: Path) -> tuple[int, int]:
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def _capture_texts(monkeypatch) -> list:
    """The cell texts of every figure the report closes (so a test can read what was drawn)."""
    seen: list = []

    def keep(fig) -> None:
        seen.append([t.get_text() for ax in fig.axes for t in ax.texts])

    monkeypatch.setattr(report._Figures, "close", staticmethod(keep))
    return seen


def test_confusion_matrix_of_30_classes_is_normalised_and_of_screen_size(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    cm = (np.eye(30, dtype=int) * 40 + rng.poisson(1, (30, 30))).astype(int)
    cm[3] *= 5  # a class with five times the examples reads the same in % of its row
    texts = _capture_texts(monkeypatch)
    report.plot_confusion_matrix(cm, [f"class_{i}" for i in range(30)], tmp_path / "cm.png")
    width, height = _pixels(tmp_path / "cm.png")
    assert width <= 1200 and height <= 1200  # was 2200 x 2200
    cells = np.array(texts[0]).reshape(30, 30)
    expected = np.round(100 * cm[3, 3] / cm[3].sum())
    assert cells[3, 3] == f"{expected:.0f}"
    assert all(cells[i, j] == "" for i, j in zip(*np.nonzero(cm == 0)))  # no clutter of zeros


@pytest.mark.parametrize("classes", [3, 14])
def test_confusion_matrix_of_few_classes_shows_counts_at_the_old_size(
    tmp_path, monkeypatch, classes
):
    cm = np.arange(classes * classes).reshape(classes, classes)
    texts = _capture_texts(monkeypatch)
    report.plot_confusion_matrix(cm, [str(i) for i in range(classes)], tmp_path / "cm.png")
    side = round(110 * max(3.5, 0.6 * classes + 2))  # the size it always had at 110 dpi
    assert _pixels(tmp_path / "cm.png") == (side, side)
    assert texts[0] == [str(v) for v in cm.ravel()]
