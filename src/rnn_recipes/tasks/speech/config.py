"""Speech configuration: ``data``, ``features``, ``model`` and ``train`` sections, and checks.

No TensorFlow here: ``rnn-recipes list``, ``show`` and ``--help`` read this module.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Literal

from ...config import (
    TrainConfig,
    require_at_least,
    require_at_most,
    require_fraction,
    validate_train,
)
from ...errors import ConfigError

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


@dataclass
class DataConfig:
    # A folder of .wav (or .npy) files or a .csv manifest; or a list of them, or a glob
    # ("lists/*.csv")
    path: str | list[str] | None = None
    # CSV path,label[,speaker][,split]; paths relative to it. A list or a glob reads every one.
    manifest: str | list[str] | None = None
    allow_outside: bool = False  # let manifest paths leave the manifest's folder (trusted
    # manifests only; by default a manifest can name only files under its own folder)
    tfds: str | None = None  # TFDS audio set, e.g. "spoken_digit" (downloads on first use)
    tfds_data_dir: str | None = None  # where TFDS keeps its files (default ~/tensorflow_datasets)
    tfds_splits: list[str] | None = None  # [train, test] or [train, validation, test]; unset: own
    label_regex: str | None = None  # searched in file names, group `label` (+ `speaker`); unset:
    # one sub-folder per class
    speaker_regex: str | None = None  # group `speaker` in file names, when label_regex has none
    test_regex: str | None = None  # file names that match go to test (FSDD: '_[0-4]\.wav$')
    # "speaker": no speaker in two splits; "auto": "speaker" when every clip has a speaker
    # (models meet new voices after deployment, so validation should too), else "none"
    group_by: Literal["auto", "none", "speaker"] = "auto"
    sample_rate: int = 16000  # the model's rate in Hz; 16 kHz is the usual rate of speech sets
    resample: bool = True  # files at other rates are resampled (noted in the log); false: error
    classes: list[str] | None = None  # keep only these labels, in this order (default: all)
    # A clip over 30 s among short utterances is almost surely a mistake (one 10-minute file
    # once took 18 GB); it is refused, decided from its header. 0: no limit.
    max_seconds: float = 30.0
    crop: bool = False  # true: read only the first max_seconds of a longer clip instead
    validation_split: float = 0.1  # fraction held out for early stopping
    test_split: float = 0.1  # fraction held out for the final test (when no other rule applies)
    # true: clips are read and their features computed inside tf.data, never all in memory
    # (only the file list is); false: every clip read into memory first; "auto": stream when the
    # distinct data files together are larger than stream_above_mb (a repeated file counts once).
    stream: Literal["auto"] | bool = "auto"
    stream_above_mb: float = 1024.0  # "auto" streams above this many MB of data files
    # Examples (frame sequences) held for shuffling when streaming: memory is bounded by this,
    # the batch size and the prefetch, not by the data.
    shuffle_buffer: int = 10000
    # Where the frames computed while streaming are kept between epochs: "disk" (the run
    # folder's cache/, about as large as the features), "memory" (grows with the data) or
    # "none" (computed again every epoch).
    cache: Literal["disk", "memory", "none"] = "disk"


@dataclass
class FeaturesConfig:
    kind: Literal["log_mel", "mfcc"] = "log_mel"  # the RNN learns from log-mel as well as MFCC
    frame_length: float = 0.025  # seconds: 25 ms, short enough for the spectrum to be steady
    frame_step: float = 0.010  # seconds: a 10 ms hop, 100 frames a second, the speech norm
    mel_bins: int = 40  # mel bands; 40 is the common choice for small-vocabulary recognition
    fmin: float = 20.0  # Hz; below this is hum and DC, not speech
    fmax: float | None = None  # Hz; unset: half the sample rate (all of the signal)
    # Pre-emphasis y[n] = x[n] - a x[n-1] before the STFT (0.97 is the classic a): removes a
    # recorder's DC offset and lifts the high frequencies; 0: off.
    preemphasis: float = 0.0
    mfcc: int = 13  # coefficients kept when kind = "mfcc" (the classic 13)
    # With train.ensemble: the features each member reads, in turn (member k the k-th kind,
    # repeated when there are more members), member 1's being features.kind; e.g. ["mfcc",
    # "mfcc", "log_mel"]. [] (the default): every member reads features.kind. Members on
    # different features err on different clips; the feature layer then computes both kinds
    # once, side by side, and each member reads its own.
    member_kinds: list[str] = field(default_factory=list)
    # Per clip: "mean" subtracts its mean frame (removes a fixed microphone or vocal-tract
    # colouring and the loudness), "mean_var" also divides by its spread per feature (CMVN:
    # +18 points on unseen FSDD speakers), "none" keeps both. true/false from older recipes
    # read as "mean"/"none".
    utterance_norm: Literal["none", "mean", "mean_var"] | bool = "mean_var"
    # Endpointing inside the model: drop each clip's leading and trailing frames quieter than
    # its loudest frame by more than this many dB (on FSDD's unseen speakers 45 gave +2.6
    # points of validation accuracy and +5.5 of test over no trimming); 0: off.
    trim_db: float = 45.0
    # Time derivatives appended to each frame after normalization: 1 adds the deltas (the
    # slope over +-2 frames), 2 also the deltas of the deltas; 0: the frames alone.
    deltas: int = 0
    time_masks: int = 0  # SpecAugment time stripes per clip in training; 0: off (small clips)
    time_mask_width: int = 10  # frames, at most, per time stripe (100 ms at the default hop)
    freq_masks: int = 0  # SpecAugment feature stripes per clip in training; 0: off
    freq_mask_width: int = 8  # feature channels, at most, per stripe


@dataclass
class AugmentConfig:
    """Waveform augmentation of training clips, drawn anew every epoch (never validation/test)."""

    # Speed perturbation (Ko et al., 2015): each clip resampled by a factor drawn from
    # [low, high], which changes tempo and pitch/formants together, like a new voice. [1, 1]: off.
    speed: list[float] = field(default_factory=lambda: [0.85, 1.15])
    # White noise at a signal-to-noise ratio (dB, of the clip's own power) drawn from
    # [low, high]; []: off.
    noise_snr: list[float] = field(default_factory=lambda: [10.0, 30.0])
    noise_prob: float = 1.0  # fraction of training clips that get the noise
    # Tempo alone: each clip's frames stretched in time by a factor drawn from [low, high]
    # (> 1: faster, fewer frames; linear interpolation between frames), its spectra unchanged,
    # as a slower or faster speaker says the word. [1, 1]: off.
    tempo: list[float] = field(default_factory=lambda: [1.0, 1.0])

    @property
    def changes_tempo(self) -> bool:
        """Whether ``tempo`` is on (anything but [1, 1])."""
        return list(self.tempo) != [1.0, 1.0]


@dataclass
class ModelConfig:
    cell: Literal["lstm", "gru"] = "gru"  # GRU: as accurate as LSTM on short clips, and faster
    units: int = 64  # per direction; enough for digits and keywords without overfitting
    layers: int = 2  # a second layer sees longer-range patterns (syllables, not frames)
    bidirectional: bool = True  # a word's end informs its start; clips are whole utterances
    # Over unmasked frames: "mean" (steady on short clips), "max" (the strongest cue of each
    # feature), "mean_max" (both side by side); or the "last" state.
    pooling: Literal["last", "mean", "max", "mean_max"] = "mean"
    dropout: float = 0.2  # before the classifier (never recurrent: keeps cuDNN eligible)
    # "conv": two small 3x3 convolutions over (time, feature), pooled along the features,
    # before the RNN (formant shifts between voices move pooled responses less); "none": the
    # RNN reads the normalized frames directly.
    frontend: Literal["none", "conv"] = "none"
    conv_filters: list[int] = field(default_factory=lambda: [16, 32])  # channels per stage


@dataclass
class SpeechTrainConfig(TrainConfig):
    """Training settings: the shared ones, the refit and the ensemble."""

    # After training, train a fresh model on the training *and* validation clips for the number
    # of epochs validation chose, and test and export that one. With speakers held out for
    # validation it hears more voices (FSDD leave-one-speaker-out: docs/speech.md); it costs a
    # second training, and the exported model's validation figures are no longer held out.
    refit: bool = False
    # Train this many models alike, each from its own starting weights (seeds train.seed,
    # train.seed + 1, ...) and its own shuffle and augmentation draws on the same split, and
    # export the average of their class probabilities as one model. Costs that many trainings;
    # metrics.json reports every member and the average (FSDD: docs/speech.md, "New speakers").
    ensemble: int = 1


@dataclass
class Config:
    task: str = "speech"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: SpeechTrainConfig = field(default_factory=SpeechTrainConfig)


def frame_samples(config: Config) -> tuple[int, int, int]:
    """(frame length, frame step, FFT length) in samples at ``data.sample_rate``."""
    f, sr = config.features, config.data.sample_rate
    length = max(1, int(round(f.frame_length * sr)))
    step = max(1, int(round(f.frame_step * sr)))
    return length, step, 2 ** math.ceil(math.log2(length))


KINDS = ("log_mel", "mfcc")  # in the order the frames hold them when they hold both


def kind_name(kind: str) -> str:
    """A feature kind as the log and metrics.json write it: "log-mel", "mfcc"."""
    return kind.replace("_", "-")


def member_kind(config: Config, k: int) -> str:
    """The feature kind ensemble member ``k`` (1-based) reads: ``features.member_kinds`` in
    turn (repeated when the ensemble has more members), or ``features.kind``."""
    kinds = config.features.member_kinds or [config.features.kind]
    return kinds[(k - 1) % len(kinds)]


def frame_kinds(config: Config) -> list[str]:
    """The feature kinds every frame holds, in frame order: ``features.kind``, or both kinds
    when the ensemble's members read different ones (``features.member_kinds``)."""
    ensemble = getattr(config.train, "ensemble", 1)
    wanted = {config.features.kind, *(member_kind(config, k) for k in range(1, ensemble + 1))}
    return [kind for kind in KINDS if kind in wanted]


def kind_columns(config: Config, kind: str) -> tuple[int, int]:
    """Where ``kind``'s features sit in a frame holding both kinds: ``[start, stop)``."""
    f = config.features
    return (0, f.mel_bins) if kind == "log_mel" else (f.mel_bins, f.mel_bins + f.mfcc)


def member_config(config: Config, k: int) -> tuple[Config, str]:
    """Ensemble member ``k``'s (1-based) config, and what sets it apart ("" when all members
    read the same features)."""
    if len(frame_kinds(config)) < 2:
        return config, ""
    kind = member_kind(config, k)
    features = dataclasses.replace(config.features, kind=kind)
    return dataclasses.replace(config, features=features), f"{kind_name(kind)} features"


def _validate_member_kinds(config: Config) -> None:
    f = config.features
    if not f.member_kinds:
        return
    wrong = [kind for kind in f.member_kinds if kind not in KINDS]
    if wrong:
        raise ConfigError(
            f"features.member_kinds takes 'log_mel' or 'mfcc' per member, got {wrong[0]!r}"
        )
    if f.member_kinds[0] != f.kind:
        raise ConfigError(
            f"features.member_kinds[0] is member 1's kind, which features.kind sets: "
            f"{f.member_kinds[0]!r} against {f.kind!r}; make them the same"
        )


def utterance_norm(config: Config) -> str:
    """``features.utterance_norm`` as "none", "mean" or "mean_var" (older recipes say true/false)."""
    value = config.features.utterance_norm
    if isinstance(value, bool):
        return "mean" if value else "none"
    return value


# Speed factors outside this range change the word, not only the voice (and 0 would divide).
SPEED_RANGE = (0.5, 2.0)
SNR_RANGE = (-10.0, 60.0)  # dB: from noise louder than the speech to inaudible noise


def augmenting(config: Config) -> bool:
    """Whether training clips are augmented (waveform inputs only; see the pipeline)."""
    a = config.augment
    return a.speed != [1.0, 1.0] or a.changes_tempo or (bool(a.noise_snr) and a.noise_prob > 0)


def _validate_augment(a: AugmentConfig) -> None:
    for key, allowed, off, (low, high) in (
        ("speed", (2,), "[1, 1]", SPEED_RANGE),
        ("tempo", (2,), "[1, 1]", SPEED_RANGE),
        ("noise_snr", (0, 2), "[]", SNR_RANGE),
    ):
        value = getattr(a, key)
        if len(value) not in allowed:
            raise ConfigError(f"augment.{key} takes [low, high] (off: {off}), got {value}")
        if value and not (low <= value[0] <= value[1] <= high):
            raise ConfigError(
                f"augment.{key} [low, high] needs {low:g} <= low <= high <= {high:g}, got {value}"
            )
    if not 0.0 <= a.noise_prob <= 1.0:
        raise ConfigError(f"augment.noise_prob is a fraction in [0, 1], got {a.noise_prob}")


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
    if d.tfds and d.stream is True:
        raise ConfigError(
            "data.stream = true reads files; data.tfds is read in memory: set data.stream = "
            '"auto" or false'
        )
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
    _validate_member_kinds(config)
    if "mfcc" in frame_kinds(config) and not 1 <= f.mfcc <= f.mel_bins:
        raise ConfigError(f"features.mfcc must be in [1, mel_bins={f.mel_bins}], got {f.mfcc}")
    if f.trim_db and not 10 <= f.trim_db <= 120:
        raise ConfigError(
            f"features.trim_db is in dB, 0 (off) or between 10 and 120, got {f.trim_db:g}"
        )
    if not 0 <= f.preemphasis < 1:
        raise ConfigError(
            f"features.preemphasis is the a of x[n] - a x[n-1], 0 (off) to below 1 (0.97 is "
            f"usual), got {f.preemphasis:g}"
        )
    if f.deltas not in (0, 1, 2):
        raise ConfigError(
            f"features.deltas is 0 (off), 1 (deltas) or 2 (deltas and accelerations), got {f.deltas}"
        )
    for key in ("time_masks", "time_mask_width", "freq_masks", "freq_mask_width"):
        if getattr(f, key) < 0:
            raise ConfigError(f"features.{key} must be 0 or more, got {getattr(f, key)}")
    require_at_least("model", m, ("units", "layers"))
    require_at_most("model", m, ("units", "layers"))
    require_at_least("data", d, ("max_seconds",), 0)
    require_at_least("data", d, ("shuffle_buffer",))
    if not d.stream_above_mb > 0:
        raise ConfigError(f"data.stream_above_mb must be above 0, got {d.stream_above_mb:g}")
    require_fraction("model", m, ("dropout",))
    if not m.conv_filters or not all(1 <= c <= 512 for c in m.conv_filters):
        raise ConfigError(
            f"model.conv_filters takes 1 to 512 channels per stage, e.g. [16, 32]; got {m.conv_filters}"
        )
    _validate_augment(config.augment)
    validate_train(t)
