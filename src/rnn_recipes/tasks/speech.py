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

Splits: a manifest's ``split`` column; else ``data.test_regex`` (matching file names go to test);
else seeded stratified fractions; ``data.group_by = "speaker"`` keeps every speaker in one split.

Run it::

    rnn-recipes run speech                                       # bundled synthetic vowels
    rnn-recipes run speech --data recordings/ --set 'data.label_regex=(?P<label>\d)_(?P<speaker>[a-z]+)_\d+' \
        --set 'data.test_regex=_[0-4]\.wav$' --set data.sample_rate=8000      # FSDD

To adapt it, ``rnn-recipes show speech > my.toml``, point ``data.*`` at your recordings, set
``data.sample_rate`` to their rate; see docs/speech.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
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
from ..data import audio
from ..data.batching import bucketed_training
from ..data.splits import group_split, stratified_split
from ..errors import ConfigError, RecipeError
from ..report import classification_metrics, plot_spectrogram
from . import classification

# Keys whose values are file paths (made absolute against the file or folder that set them).
PATH_KEYS = ("data.path", "data.manifest", "data.tfds_data_dir")
# Setting a data source in a layer replaces the lower layers' source *and* the settings that only
# make sense for it: the demo's file-name patterns and sample rate must not leak onto your data.
SOURCE_GROUPS = {
    "data": (
        ("path", "manifest", "tfds"),
        ("label_regex", "speaker_regex", "test_regex", "sample_rate", "tfds_splits"),
    )
}


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass
class DataConfig:
    path: str | None = None  # a folder of .wav (or .npy) files, or a .csv manifest
    manifest: str | None = None  # CSV path,label[,speaker][,split]; paths relative to it
    allow_outside: bool = False  # let manifest paths leave the manifest's folder (trusted
    # manifests only; by default a manifest can name only files under its own folder)
    tfds: str | None = None  # TFDS audio set, e.g. "spoken_digit" (downloads on first use)
    tfds_data_dir: str | None = None  # where TFDS keeps its files (default ~/tensorflow_datasets)
    tfds_splits: list[str] | None = None  # [train, test] or [train, validation, test]; unset: own
    label_regex: str | None = None  # searched in file names, group `label` (+ `speaker`); unset:
    # one sub-folder per class
    speaker_regex: str | None = None  # group `speaker` in file names, when label_regex has none
    test_regex: str | None = None  # file names that match go to test (FSDD: '_[0-4]\.wav$')
    group_by: Literal["none", "speaker"] = "none"  # "speaker": no speaker in two splits
    sample_rate: int = 16000  # the model's rate in Hz; 16 kHz is the usual rate of speech sets
    resample: bool = True  # files at other rates are resampled (noted in the log); false: error
    classes: list[str] | None = None  # keep only these labels, in this order (default: all)
    validation_split: float = 0.1  # fraction held out for early stopping
    test_split: float = 0.1  # fraction held out for the final test (when no other rule applies)


@dataclass
class FeaturesConfig:
    kind: Literal["log_mel", "mfcc"] = "log_mel"  # the RNN learns from log-mel as well as MFCC
    frame_length: float = 0.025  # seconds: 25 ms, short enough for the spectrum to be steady
    frame_step: float = 0.010  # seconds: a 10 ms hop, 100 frames a second, the speech norm
    mel_bins: int = 40  # mel bands; 40 is the common choice for small-vocabulary recognition
    fmin: float = 20.0  # Hz; below this is hum and DC, not speech
    fmax: float | None = None  # Hz; unset: half the sample rate (all of the signal)
    mfcc: int = 13  # coefficients kept when kind = "mfcc" (the classic 13)
    utterance_norm: bool = False  # subtract each clip's mean frame; try it for new microphones
    # or speakers (it also removes overall loudness and timbre, which can carry the class)
    time_masks: int = 0  # SpecAugment time stripes per clip in training; 0: off (small clips)
    time_mask_width: int = 10  # frames, at most, per time stripe (100 ms at the default hop)
    freq_masks: int = 0  # SpecAugment feature stripes per clip in training; 0: off
    freq_mask_width: int = 8  # feature channels, at most, per stripe


@dataclass
class ModelConfig:
    cell: Literal["lstm", "gru"] = "gru"  # GRU: as accurate as LSTM on short clips, and faster
    units: int = 64  # per direction; enough for digits and keywords without overfitting
    layers: int = 2  # a second layer sees longer-range patterns (syllables, not frames)
    bidirectional: bool = True  # a word's end informs its start; clips are whole utterances
    pooling: Literal["last", "mean"] = "mean"  # mean over unmasked frames: steady on short clips
    dropout: float = 0.2  # before the classifier (never recurrent: keeps cuDNN eligible)


@dataclass
class Config:
    task: str = "speech"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def frame_samples(config: Config) -> tuple[int, int, int]:
    """(frame length, frame step, FFT length) in samples at ``data.sample_rate``."""
    f, sr = config.features, config.data.sample_rate
    length = max(1, int(round(f.frame_length * sr)))
    step = max(1, int(round(f.frame_step * sr)))
    return length, step, 2 ** math.ceil(math.log2(length))


def validate(config: Config) -> None:
    """Checks that need more than one key (types are checked by the config layer)."""
    d, f, m, t = config.data, config.features, config.model, config.train
    sources = [k for k in ("path", "manifest", "tfds") if getattr(d, k)]
    if not sources:
        raise ConfigError(
            "no data: set data.path, data.manifest or data.tfds (or pass --data FOLDER)"
        )
    if len(sources) > 1:
        raise ConfigError(
            f"set only one data source, not {' and '.join('data.' + s for s in sources)}"
        )
    if d.tfds and (d.test_regex or d.label_regex):
        raise ConfigError("data.label_regex/data.test_regex apply to files, not to data.tfds")
    if d.tfds_splits is not None and len(d.tfds_splits) not in (2, 3):
        raise ConfigError("data.tfds_splits takes [train, test] or [train, validation, test]")
    for key in ("label_regex", "speaker_regex", "test_regex"):
        pattern = getattr(d, key)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"data.{key} '{pattern}' is not a valid regular expression: {exc}"
                ) from None
    if d.classes is not None and len(set(d.classes)) < 2:
        raise ConfigError("data.classes needs at least two distinct labels")
    require_fraction("data", d, ("validation_split", "test_split"), upper=0.5)
    if d.sample_rate < 1000:
        raise ConfigError(
            f"data.sample_rate is in Hz and must be at least 1000, got {d.sample_rate}"
        )
    if not 0 < f.frame_step <= f.frame_length <= 1.0:
        raise ConfigError(
            "features.frame_step and features.frame_length are in seconds with 0 < frame_step <= "
            f"frame_length <= 1, got {f.frame_step} and {f.frame_length}"
        )
    if frame_samples(config)[0] < 8:
        raise ConfigError(
            f"features.frame_length {f.frame_length} s is under 8 samples at {d.sample_rate} Hz"
        )
    fmax = f.fmax if f.fmax is not None else d.sample_rate / 2
    if not 0 <= f.fmin < fmax <= d.sample_rate / 2:
        raise ConfigError(
            f"need 0 <= features.fmin < features.fmax <= sample_rate / 2 ({d.sample_rate / 2:g} "
            f"Hz), got fmin {f.fmin:g}, fmax {fmax:g}"
        )
    if f.mel_bins < 2:
        raise ConfigError(f"features.mel_bins must be at least 2, got {f.mel_bins}")
    if f.kind == "mfcc" and not 1 <= f.mfcc <= f.mel_bins:
        raise ConfigError(f"features.mfcc must be in [1, mel_bins={f.mel_bins}], got {f.mfcc}")
    for key in ("time_masks", "time_mask_width", "freq_masks", "freq_mask_width"):
        if getattr(f, key) < 0:
            raise ConfigError(f"features.{key} must be 0 or more, got {getattr(f, key)}")
    require_at_least("model", m, ("units", "layers"))
    require_fraction("model", m, ("dropout",))
    validate_train(t)


# ---------------------------------------------------------------------------------------------
# Data: read every clip once


@dataclass
class Loaded:
    """Every example of the data set, read into memory, before splitting."""

    arrays: list[np.ndarray]  # waveforms [samples] or frame features [frames, features]
    labels: list[str]
    speakers: list[str | None]
    names: list[str]  # file paths (or TFDS ids) for messages and test_regex
    presplit: list[str | None]  # a manifest's or TFDS' own split
    kind: str  # "wav" or "npy"
    source: str


def _real(path: str) -> Path:
    return resolve_pkg_path(path) if path.startswith(PKG_PREFIX) else Path(path)


def register_layers() -> None:
    """Register the custom layers so ``keras.saving.load_model("model.keras")`` can rebuild them."""
    from . import speech_layers  # noqa: F401  (registration happens on import)


def listing_for(config: Config, path: str) -> audio.Listing:
    """Files and labels of a folder (by the run's label rules) or a .csv manifest."""
    d = config.data
    real = _real(path)
    if real.suffix.lower() == ".csv" and not real.is_dir():
        return audio.read_manifest(real, d.allow_outside)
    return audio.list_folder(real, d.label_regex, d.speaker_regex)


def read_clip(config: Config, path: Path, notes: audio.Notes | None = None) -> np.ndarray:
    """One WAV file at the model's rate, rejected when it is shorter than one frame."""
    d = config.data
    x = audio.read_wav(path, d.sample_rate, d.resample, notes)
    need = frame_samples(config)[0]
    if len(x) < need:
        raise RecipeError(
            f"{path} holds {len(x)} samples ({1000 * len(x) / d.sample_rate:.1f} ms of sound), "
            f"shorter than one frame ({need} samples, features.frame_length "
            f"{config.features.frame_length} s); remove it or lower features.frame_length"
        )
    return x


def read_files(config: Config, paths: list[Path], kind: str, log=print) -> list[np.ndarray]:
    """Read .wav clips or .npy frame features; one note per kind of change (resample, mix)."""
    if kind == "npy":
        arrays = [audio.read_npy(p) for p in paths]
        audio.check_feature_counts(arrays, paths)
        return arrays
    notes = audio.Notes()
    arrays = [read_clip(config, p, notes) for p in paths]
    for line in notes.lines(config.data.sample_rate):
        log(line)
    return arrays


def _load_files(config: Config, log) -> Loaded:
    d = config.data
    if d.manifest:
        listing = audio.read_manifest(_real(d.manifest), d.allow_outside)
    else:
        listing = listing_for(config, d.path)
    items = listing.items
    if d.classes is not None:
        items = [it for it in items if it.label in d.classes]
        if not items:
            raise RecipeError(
                f"no file has a label in data.classes ({', '.join(d.classes)}); labels found: "
                f"{', '.join(sorted({it.label for it in listing.items})[:10])}"
            )
    _check_classes([it.label for it in items], config)
    arrays = read_files(config, [it.path for it in items], listing.kind, log)
    return Loaded(
        arrays=arrays,
        labels=[it.label for it in items],
        speakers=[it.speaker for it in items],
        names=[str(it.path) for it in items],
        presplit=[it.split for it in items],
        kind=listing.kind,
        source=listing.source,
    )


def _load_tfds(config: Config, log) -> Loaded:
    """A TFDS audio set with its own splits (downloads on first use)."""
    from .._lazy import tfds

    d = config.data
    try:
        loaded, info = tfds.load(
            d.tfds, split=None, data_dir=d.tfds_data_dir, as_supervised=True, with_info=True
        )
    except Exception as exc:  # TFDS raises many kinds; all mean "could not get the data"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(
            f"cannot load TFDS dataset '{d.tfds}': {first} (TFDS downloads it on first use; "
            "without network, point data.tfds_data_dir at a prepared copy)"
        ) from None
    audio_key, label_key = info.supervised_keys
    names = getattr(info.features[label_key], "names", None)
    rate = getattr(info.features[audio_key], "sample_rate", None) or d.sample_rate
    if d.tfds_splits is not None:
        wanted = dict(zip(_targets(len(d.tfds_splits)), d.tfds_splits))
    else:
        wanted = {s: s for s in audio.SPLITS if s in loaded}
    missing = [s for s in wanted.values() if s not in loaded]
    if missing or "train" not in wanted:
        raise RecipeError(
            f"TFDS dataset '{d.tfds}' has splits {', '.join(loaded)}; it has no "
            f"{', '.join(missing) or 'train'} (set data.tfds_splits)"
        )
    if rate != d.sample_rate and not d.resample:
        raise RecipeError(
            f"TFDS dataset '{d.tfds}' is at {rate} Hz but data.sample_rate is {d.sample_rate} Hz; "
            f"set data.sample_rate={rate} or data.resample=true"
        )
    out = Loaded([], [], [], [], [], "wav", f"TFDS {d.tfds}")
    need = frame_samples(config)[0]
    for ours, theirs in wanted.items():
        for i, (wave, label) in enumerate(tfds.as_numpy(loaded[theirs])):
            x = np.asarray(wave).reshape(-1) if np.ndim(wave) == 1 else np.asarray(wave).mean(-1)
            x = (x / 32768.0 if np.issubdtype(x.dtype, np.integer) else x).astype(np.float32)
            x = audio.resample(x, rate, d.sample_rate)
            nonzero = np.flatnonzero(x)
            x = x[: nonzero[-1] + 1] if len(nonzero) else x
            name = f"{d.tfds}/{theirs}/{i}"
            if len(x) < need:
                raise RecipeError(
                    f"{name} is shorter than one frame ({len(x)} < {need} samples); lower "
                    "features.frame_length"
                )
            label = names[int(label)] if names else str(int(label))
            if d.classes is not None and label not in d.classes:
                continue
            out.arrays.append(x)
            out.labels.append(label)
            out.speakers.append(None)
            out.names.append(name)
            out.presplit.append(ours)
    if rate != d.sample_rate:
        log(f"  note: resampled {len(out.arrays)} clips from {rate} Hz to {d.sample_rate} Hz")
    _check_classes(out.labels, config)
    return out


def _targets(n: int) -> list[str]:
    return ["train", "test"] if n == 2 else ["train", "validation", "test"]


def _check_classes(labels: list[str], config: Config) -> None:
    found = sorted(set(labels))
    if len(found) == 1:
        how = (
            f"check data.label_regex ('{config.data.label_regex}')"
            if config.data.label_regex
            else "check the class sub-folders or the manifest's label column"
        )
        raise RecipeError(
            f"the data has a single class ('{found[0]}'); a classifier needs at least two ({how})"
        )
    if not found:
        raise RecipeError("the data has no examples")


# ---------------------------------------------------------------------------------------------
# Data: splits


def _carve(idx: np.ndarray, loaded: Loaded, fractions: list[float], seed: int, by_speaker: bool):
    """Split ``idx`` into len(fractions) + 1 parts, stratified or speaker-disjoint."""
    if by_speaker:
        parts = group_split([loaded.speakers[i] for i in idx], fractions, seed)
    else:
        parts = stratified_split([loaded.labels[i] for i in idx], fractions, seed)
    return [idx[p] for p in parts]


def assign_splits(loaded: Loaded, config: Config) -> dict[str, np.ndarray]:
    """Example indices of train/validation/test by the first rule that applies.

    1. a manifest's ``split`` column (or TFDS' own splits);
    2. ``data.test_regex``: file names that match are the test split;
    3. ``data.test_split`` of the whole.

    A missing validation (and test) split is then carved out of train by
    ``data.validation_split`` (``data.test_split``), per speaker when ``data.group_by`` is
    ``"speaker"``.
    """
    d, seed = config.data, config.train.seed
    n = len(loaded.labels)
    by_speaker = d.group_by == "speaker"
    if by_speaker:
        unknown = [name for name, s in zip(loaded.names, loaded.speakers) if s is None]
        if unknown:
            raise RecipeError(
                f'data.group_by = "speaker" but {Path(unknown[0]).name} has no speaker; add a '
                "named group (?P<speaker>...) to data.label_regex, set data.speaker_regex, or "
                "give the manifest a speaker column"
            )
    everything = np.arange(n)
    parts: dict[str, np.ndarray] = {}
    if any(s is not None for s in loaded.presplit):
        for name in audio.SPLITS:
            idx = np.array([i for i in everything if loaded.presplit[i] == name], dtype=int)
            if len(idx):
                parts[name] = idx
        if "train" not in parts:
            raise RecipeError("the manifest's split column names no 'train' rows")
    elif d.test_regex:
        rx = re.compile(d.test_regex)
        hit = np.array([bool(rx.search(Path(name).name)) for name in loaded.names])
        if not hit.any():
            raise RecipeError(
                f"no file name matches data.test_regex '{d.test_regex}' (e.g. "
                f"{Path(loaded.names[0]).name!r}); fix the pattern"
            )
        if hit.all():
            raise RecipeError(
                f"every file name matches data.test_regex '{d.test_regex}'; nothing is left to "
                "train on"
            )
        parts = {"train": everything[~hit], "test": everything[hit]}
    else:
        parts = {"train": everything}
    missing = [s for s in ("validation", "test") if s not in parts]
    fractions = [getattr(d, f"{s}_split") for s in missing]
    for name, frac in zip(missing, fractions):
        if frac <= 0:
            raise ConfigError(f"no {name} data: set data.{name}_split above 0 or give a split")
    if missing:
        if by_speaker and len({loaded.speakers[i] for i in parts["train"]}) < len(missing) + 1:
            raise RecipeError(
                f'data.group_by = "speaker" needs at least {len(missing) + 1} speakers to make '
                f"speaker-disjoint {' and '.join(['train', *missing])} splits"
            )
        keep, *held = _carve(parts["train"], loaded, fractions, seed, by_speaker)
        parts["train"] = keep
        parts.update(dict(zip(missing, held)))
    return {s: parts[s] for s in audio.SPLITS}


# ---------------------------------------------------------------------------------------------
# Data: features and pipelines


@dataclass
class Split:
    features: list[np.ndarray]  # [frames, features] per example (log-mel/MFCC or .npy)
    labels: np.ndarray  # class indices
    speakers: list[str | None]
    names: list[str]


@dataclass
class Prepared:
    """Everything the runner needs from the data: pipelines, class names, counts."""

    train: Any  # tf.data.Dataset of (frames [batch, time, features], label), length-bucketed
    validation: Any
    test: Any
    class_names: list[str]
    kind: str  # "wav" (waveform in) or "npy" (frame features in)
    feature_count: int
    mean: np.ndarray  # per-feature statistics of the training frames
    variance: np.ndarray
    splits: dict[str, Split]
    counts: dict[str, dict[str, int]]
    example: tuple[str, np.ndarray] | None = None  # (name, waveform or frames) for the plot

    @property
    def train_examples(self) -> int:
        return len(self.splits["train"].labels)


def feature_layer(config: Config, log_mel: bool = False):
    """The waveform -> frames layer of this config (``log_mel`` forces log-mel, for plots)."""
    from .speech_layers import AudioFeatures

    f, d = config.features, config.data
    length, step, fft = frame_samples(config)
    return AudioFeatures(
        sample_rate=d.sample_rate,
        frame_length=length,
        frame_step=step,
        fft_length=fft,
        mel_bins=f.mel_bins,
        fmin=f.fmin,
        fmax=f.fmax,
        mfcc=f.mfcc if f.kind == "mfcc" and not log_mel else 0,
        name="features",
    )


def compute_features(layer, waves: list[np.ndarray], batch: int = 128) -> list[np.ndarray]:
    """Run the feature layer over clips in batches of similar length; frames per clip, unpadded."""
    fn = tf.function(layer.__call__, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    out: list[np.ndarray] = [None] * len(waves)  # type: ignore[list-item]
    order = np.argsort([len(w) for w in waves], kind="stable")
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        width = max(len(waves[i]) for i in chunk)
        padded = np.zeros((len(chunk), width), np.float32)
        for row, i in enumerate(chunk):
            padded[row, : len(waves[i])] = waves[i]
        frames = fn(tf.constant(padded)).numpy()
        for row, i in enumerate(chunk):
            n = max(1, 1 + (len(waves[i]) - layer.frame_length) // layer.frame_step)
            out[i] = frames[row, :n]
    return out


def _frames_dataset(split: Split):
    lengths = [len(f) for f in split.features]
    ragged = tf.RaggedTensor.from_row_lengths(np.concatenate(split.features), lengths)
    ds = tf.data.Dataset.from_tensor_slices((ragged, split.labels))
    return ds.map(
        lambda x, y: (x.to_tensor() if isinstance(x, tf.RaggedTensor) else x, y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def make_datasets(config: Config, log=print) -> Prepared:
    """Read the data, compute frame features once, and build padded, bucketed tf.data pipelines."""
    d, t = config.data, config.train
    loaded = _load_tfds(config, log) if d.tfds else _load_files(config, log)
    parts = assign_splits(loaded, config)

    train_labels = {loaded.labels[i] for i in parts["train"]}
    class_names = list(d.classes) if d.classes else classification.sort_labels(train_labels)
    absent = [c for c in class_names if c not in train_labels]
    if d.classes and absent:
        raise RecipeError(
            f"data.classes names {', '.join(map(repr, absent))} but the training split has no "
            "such label"
        )
    if len(class_names) < 2:
        raise RecipeError(
            f"the training split has a single class ('{class_names[0]}'); a classifier needs at "
            "least two (give more speakers or files per class)"
        )
    index = {c: i for i, c in enumerate(class_names)}
    counts: dict[str, dict[str, int]] = {}
    for name, idx in parts.items():
        if len(idx) == 0:
            raise RecipeError(f"the {name} split is empty; give more data or change the split")
        unseen = sorted({loaded.labels[i] for i in idx} - index.keys())
        if unseen:
            raise RecipeError(
                f"the {name} split has label(s) {', '.join(map(repr, unseen[:5]))} that training "
                f"never saw (training labels: {', '.join(class_names)}); give every class "
                "examples in train"
            )
    log(f"Loaded {loaded.source}")

    if loaded.kind == "wav":
        layer = feature_layer(config)
        features = compute_features(layer, loaded.arrays)
        what = f"{config.features.kind.replace('_', '-')} ({layer.features} per frame)"
    else:
        features = loaded.arrays
        what = f"precomputed frame features ({features[0].shape[1]} per frame)"
    splits: dict[str, Split] = {}
    for name, idx in parts.items():
        y = np.array([index[loaded.labels[i]] for i in idx], dtype=np.int32)
        splits[name] = Split(
            [features[i] for i in idx],
            y,
            [loaded.speakers[i] for i in idx],
            [loaded.names[i] for i in idx],
        )
        counts[name] = {c: int((y == i).sum()) for i, c in enumerate(class_names)}
        per = ", ".join(f"{c}: {n}" for c, n in counts[name].items())
        speakers = {s for s in splits[name].speakers if s is not None}
        who = f", {len(speakers)} speakers" if speakers else ""
        log(f"  {name:<10} {len(y):>6} examples{who} ({per})")
    if d.group_by == "speaker":
        shared = set(splits["train"].speakers) & set(splits["test"].speakers)
        if shared:  # the test split came from a split column or data.test_regex, not by speaker
            log(
                f"  note: {len(shared)} speaker(s) are in both train and test (the test split "
                "was given, not carved by speaker)"
            )

    train_features = splits["train"].features
    if config.features.utterance_norm:  # statistics of what the Normalization layer will see
        train_features = [f - f.mean(axis=0) for f in train_features]
    frames = np.concatenate(train_features)
    mean, variance = frames.mean(axis=0), frames.var(axis=0)
    log(f"Features: {what}; normalization adapted on {len(frames):,} training frames")

    train_frames = _frames_dataset(splits["train"])
    lengths = np.array([len(f) for f in splits["train"].features])
    train = bucketed_training(train_frames.cache(), lengths, t.batch_size, t.seed)

    def eval_ds(split: Split):
        return (
            _frames_dataset(split)
            .cache()
            .padded_batch(max(t.batch_size, 128))
            .prefetch(tf.data.AUTOTUNE)
        )

    first = parts["test"][0]
    return Prepared(
        train=train,
        validation=eval_ds(splits["validation"]),
        test=eval_ds(splits["test"]),
        class_names=class_names,
        kind=loaded.kind,
        feature_count=int(frames.shape[1]),
        mean=mean,
        variance=variance,
        splits=splits,
        counts=counts,
        example=(loaded.names[first], loaded.arrays[first]),
    )


# ---------------------------------------------------------------------------------------------
# Model


def build_model(config: Config, data: Prepared):
    """Frames -> Masking -> (UtteranceNorm) -> Normalization -> (SpecAugment) -> N x (Bi)GRU/LSTM
    -> pooling -> softmax."""
    from .speech_layers import SpecAugment, UtteranceNorm

    f, m = config.features, config.model
    inputs = keras.Input(shape=(None, data.feature_count), name="frames")
    # Padded frames are exactly zero (the feature layer zeroes frames past a clip's end).
    x = keras.layers.Masking(mask_value=0.0, name="padding_mask")(inputs)
    if f.utterance_norm:
        x = UtteranceNorm(name="utterance_norm")(x)
    x = keras.layers.Normalization(
        mean=data.mean, variance=np.maximum(data.variance, 1e-6), name="normalize"
    )(x)
    if f.time_masks or f.freq_masks:
        x = SpecAugment(
            f.time_masks,
            f.time_mask_width,
            f.freq_masks,
            f.freq_mask_width,
            seed=config.train.seed,
            name="spec_augment",
        )(x)
    return classification.rnn_classifier(inputs, x, m, data.class_names, "speech_rnn")


def compile_model(model, config: Config) -> None:
    classification.compile_classifier(model, config.train)


def end_to_end_model(config: Config, data: Prepared, model):
    """Raw waveforms in (or frame features for .npy data), probabilities out: ``model.keras``."""
    if data.kind == "npy":
        return model
    waveform = keras.Input(shape=(None,), dtype="float32", name="waveform")
    return keras.Model(waveform, model(feature_layer(config)(waveform)), name="speech")


# ---------------------------------------------------------------------------------------------
# Evaluation and serving


def evaluate(config: Config, data: Prepared, model) -> dict[str, Any]:
    probabilities = model.predict(data.test, verbose=0)
    test = data.splits["test"]
    metrics = classification_metrics(test.labels, probabilities, data.class_names)
    if any(s is not None for s in test.speakers):
        right = np.argmax(probabilities, axis=-1) == test.labels
        speakers = np.array([s if s is not None else "?" for s in test.speakers])
        metrics["per_speaker"] = {
            s: {
                "examples": int((speakers == s).sum()),
                "accuracy": float(right[speakers == s].mean()),
            }
            for s in sorted(set(speakers))
        }
        metrics["speaker_counts"] = {
            name: {
                s: int(sum(1 for x in split.speakers if x == s))
                for s in sorted({x for x in split.speakers if x is not None})
            }
            for name, split in data.splits.items()
        }
    return metrics


def serving(config: Config, data: Prepared, full_model):
    """The ``serving_default`` function: raw input -> probabilities and label names.

    Audio runs take ``waveform``: float32 ``[batch, samples]`` at ``data.sample_rate``, each row
    zero-padded at the end. Frame-feature runs take ``frames``: float32
    ``[batch, frames, features]``, zero-padded. (:func:`serving_with_lengths` adds ``lengths``.)
    """
    names = tf.constant(data.class_names)

    def outputs(probabilities):
        batch = tf.shape(probabilities)[0]
        return {
            "probabilities": probabilities,
            "label": tf.gather(names, tf.argmax(probabilities, axis=-1)),
            "score": tf.reduce_max(probabilities, axis=-1),
            "classes": tf.tile(names[None, :], [batch, 1]),
        }

    if data.kind == "npy":

        def serve_frames(frames):
            return outputs(full_model(frames, training=False))

        spec = tf.TensorSpec([None, None, data.feature_count], tf.float32, name="frames")
        return serve_frames, [spec]

    def serve(waveform):
        return outputs(full_model(waveform, training=False))

    return serve, [tf.TensorSpec([None, None], tf.float32, name="waveform")]


def extra_serving(config: Config, data: Prepared, full_model) -> dict[str, tuple]:
    """More signatures: ``serving_with_lengths`` takes ``waveform`` plus int32 ``lengths``.

    Samples past a row's length are ignored (zeroed), so the padding need not be zeros.
    """
    serve, _ = serving(config, data, full_model)
    if data.kind == "npy":
        return {}

    def serve_lengths(waveform, lengths):
        keep = tf.sequence_mask(lengths, tf.shape(waveform)[1], dtype=waveform.dtype)
        return serve(waveform * keep)

    return {
        "serving_with_lengths": (
            serve_lengths,
            [
                tf.TensorSpec([None, None], tf.float32, name="waveform"),
                tf.TensorSpec([None], tf.int32, name="lengths"),
            ],
        )
    }


# ---------------------------------------------------------------------------------------------
# predict / evaluate on an exported run


def _input_kind(serve) -> str:
    spec = serve.structured_input_signature[1]
    return "npy" if "frames" in spec else "wav"


def _serve_arrays(serve, kind: str, arrays: list[np.ndarray], names: list[str]) -> list[dict]:
    out = []
    for start in range(0, len(arrays), 64):
        chunk = arrays[start : start + 64]
        width = max(len(a) for a in chunk)
        if kind == "npy":
            padded = np.zeros((len(chunk), width, chunk[0].shape[1]), np.float32)
        else:
            padded = np.zeros((len(chunk), width), np.float32)
        for row, a in enumerate(chunk):
            padded[row, : len(a)] = a
        key = "frames" if kind == "npy" else "waveform"
        result = serve(**{key: tf.constant(padded)})
        out.extend(classification.records(names[start : start + 64], result))
    return out


def _read_for(serve, config: Config, paths: list[Path]) -> tuple[str, list[np.ndarray]]:
    kind = _input_kind(serve)
    suffix = ".npy" if kind == "npy" else ".wav"
    for p in paths:
        if p.suffix.lower() != suffix:
            what = "frame features (.npy)" if kind == "npy" else "audio (.wav)"
            raise RecipeError(f"{p} is not a {suffix} file; this run's model takes {what}")
    arrays = read_files(config, paths, kind, log=lambda *_: None)
    if kind == "npy":
        want = serve.structured_input_signature[1]["frames"].shape[-1]
        for a, p in zip(arrays, paths):
            if a.shape[1] != want:
                raise RecipeError(
                    f"{p} has {a.shape[1]} features per frame; this run's model takes {want}"
                )
    return kind, arrays


def predict(serve, config: Config, inputs: list[str], output=None) -> list[dict[str, Any]]:
    """Label and probabilities for each .wav (or .npy) file; one record per file."""
    paths = [Path(x) for x in inputs]
    for p in paths:
        if not p.is_file():
            raise RecipeError(f"input file not found: {p} (predict takes .wav or .npy file paths)")
    kind, arrays = _read_for(serve, config, paths)
    return _serve_arrays(serve, kind, arrays, list(inputs))


def evaluate_exported(serve, config: Config, path: str) -> dict[str, Any]:
    """The run's metrics on a labelled folder or manifest, read with the run's label rules."""
    listing = listing_for(config, path)
    paths = [it.path for it in listing.items]
    kind, arrays = _read_for(serve, config, paths)
    recs = _serve_arrays(serve, kind, arrays, [str(p) for p in paths])
    return classification.evaluate_records(recs, [it.label for it in listing.items], path)


format_prediction = classification.format_prediction
format_metrics = classification.format_metrics
summary = classification.summary


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
