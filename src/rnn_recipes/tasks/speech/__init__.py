r"""Speech: classify short utterances (keywords, digits, vowels, speakers) with a recurrent network.

A waveform is cut into short overlapping frames; each frame becomes a log-mel spectrum (or its
MFCCs); the frame sequence goes through one or more (bidirectional) GRU or LSTM layers, is pooled
over time, and a softmax picks the class. The feature step is a Keras layer inside the exported
model, so the SavedModel takes raw waveforms. For training the same layer runs once over the data
and the frames are kept in memory, so epochs only pay for the recurrent network.

Data it accepts (``data.*`` keys):

* ``data.path``: a folder of ``.wav`` files, with one sub-folder per class or labels read from
  file names by ``data.label_regex`` (named group ``label``, optionally ``speaker``); or a folder
  of ``.npy`` frame-feature arrays ``[frames, features]`` the same way. A ``.csv`` path is read as
  a manifest.
* ``data.manifest``: a CSV with columns ``path,label`` and optional ``speaker``, ``split``
  (train/validation/test); paths relative to the manifest; all ``.wav`` or all ``.npy``.
* ``data.tfds``: a TensorFlow Datasets audio set by name (``spoken_digit``, ``speech_commands``),
  with its own splits when it has them.

Larger than memory: ``data.stream = true`` (or "auto" above ``data.stream_above_mb``) keeps
only the file list and reads clips inside tf.data (:mod:`.stream`).

Splits: a manifest's ``split`` column; else ``data.test_regex`` (matching file names go to test);
else seeded stratified fractions; ``data.group_by = "speaker"`` keeps every speaker in one split.

Run it::

    rnn-recipes run speech                                       # bundled synthetic vowels
    rnn-recipes run speech --data recordings/ --set 'data.label_regex=(?P<label>\d)_(?P<speaker>[a-z]+)_\d+' \
        --set 'data.test_regex=_[0-4]\.wav$' --set data.sample_rate=8000      # FSDD

The package follows the data: :mod:`.config` (settings, no TensorFlow), :mod:`.data` (read the
clips, assign splits), :mod:`.pipeline` (features computed once, statistics, tf.data),
:mod:`.layers` (feature extraction, SpecAugment, utterance normalization), :mod:`.model`,
:mod:`.serving` (signatures, predict) and :mod:`.plots`.

To adapt it, ``rnn-recipes show speech > my.toml``, point ``data.*`` at your recordings, set
``data.sample_rate`` to their rate; see docs/speech.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import register
from ..classification import ClassificationTask
from . import config as _config
from .config import Config

if TYPE_CHECKING:  # annotations only: the registry must not import TensorFlow
    import keras

    from ..base import Log
    from .pipeline import Prepared, Spec


@register("speech")
class SpeechTask(ClassificationTask):
    """Waveform (or frame features) in, class out."""

    config_class = _config.Config
    path_keys = _config.PATH_KEYS
    source_groups = _config.SOURCE_GROUPS

    def validate(self, config: Config) -> None:
        _config.validate(config)

    def make_datasets(self, config: Config, log: Log = print) -> Prepared:
        from . import pipeline

        return pipeline.make_datasets(config, log)

    def refit_datasets(self, config: Config, log: Log = print) -> Prepared:
        from . import pipeline

        return pipeline.make_datasets(config, log, refit=True)

    def ensemble_model(self, config: Config, data: Prepared, models: list) -> keras.Model:
        from ..classification import average_models

        return average_models(models, "speech_ensemble")

    def member_config(self, config: Config, k: int) -> tuple[Config, str]:
        # features.member_kinds: each member reads its own kind from frames holding both.
        return _config.member_config(config, k)

    def build_model(self, config: Config, spec: Spec) -> keras.Model:
        from . import model

        return model.build_model(config, spec)

    def evaluate(self, config: Config, data: Prepared, model: keras.Model) -> dict[str, Any]:
        from . import model as _model

        return _model.evaluate(config, data, model)

    def run_info(self, config: Config, data: Prepared) -> dict[str, Any]:
        # Whether validation (which picked the epoch) and test held whole speakers out: the
        # accuracy on new voices is another figure than on voices seen in training.
        return {
            "validation_protocol": data.protocol["validation"],
            "test_protocol": data.protocol["test"],
            "augmented": data.augmented,
        }

    def end_to_end_model(self, config: Config, data: Prepared, model: keras.Model) -> keras.Model:
        from . import model as _model

        return _model.end_to_end_model(config, data, model)

    def serving(self, config: Config, data: Prepared, full_model: keras.Model) -> tuple:
        from . import serving

        return serving.serving(config, data, full_model)

    def extra_serving(
        self, config: Config, data: Prepared, full_model: keras.Model
    ) -> dict[str, tuple]:
        from . import serving

        return serving.extra_serving(config, data, full_model)

    def register_layers(self) -> None:
        from .. import pooling  # noqa: F401  (registration happens on import)
        from . import layers  # noqa: F401  (registration happens on import)

    def predict(
        self, serve: Callable, config: Config, inputs: list[str], output: str | None = None
    ) -> list[dict[str, Any]]:
        from . import serving

        return serving.predict(serve, config, inputs, output)

    def evaluate_exported(self, serve: Callable, config: Config, path: str) -> dict[str, Any]:
        from . import serving

        return serving.evaluate_exported(serve, config, path)

    def plots(self, config: Config, data: Prepared, metrics: dict[str, Any], folder: Path) -> None:
        from . import plots

        plots.plots(config, data, metrics, folder)
