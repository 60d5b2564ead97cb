"""Speech plots: the confusion matrix and one test example's spectrogram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...report import plot_spectrogram
from .. import classification
from .config import Config
from .pipeline import Prepared, compute_features, feature_layer


def plots(config: Config, data: Prepared, metrics: dict[str, Any], folder) -> None:
    """The confusion matrix and one test example's log-mel spectrogram (or its frames)."""
    classification.confusion_plot(metrics, folder)
    if data.example is None:
        return
    name, array = data.example
    if data.kind == "wav":
        frames = compute_features(feature_layer(config, log_mel=True), [array])[0]
        plot_spectrogram(
            frames.T,
            folder / "log_mel_example.png",
            title=f"log-mel spectrogram: {Path(name).name}",
            frame_step=config.features.frame_step,
            ylabel="mel band",
        )
    else:
        plot_spectrogram(
            array.T,
            folder / "features_example.png",
            title=f"frame features: {Path(name).name}",
            ylabel="feature",
        )
