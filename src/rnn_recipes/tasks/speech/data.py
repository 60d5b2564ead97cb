"""Speech data: read every clip once, then assign train / validation / test.

Sources (``data.*`` keys): ``data.path`` (a folder of ``.wav`` or ``.npy`` files, labels from
sub-folders or ``data.label_regex``; a ``.csv`` path is read as a manifest), ``data.manifest``, or
``data.tfds`` (a TensorFlow Datasets audio set). Splits: a manifest's ``split`` column; else
``data.test_regex``; else seeded stratified fractions, speaker-disjoint with ``data.group_by``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...config import PKG_PREFIX, resolve_pkg_path
from ...data import audio
from ...data import tfds as tfds_data
from ...data.files import expand_paths
from ...data.splits import group_split, stratified_split
from ...errors import ConfigError, RecipeError
from .config import Config, frame_samples


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


def _one_listing(config: Config, real: Path, manifest: bool) -> audio.Listing:
    d = config.data
    if manifest or (real.suffix.lower() == ".csv" and not real.is_dir()):
        return audio.read_manifest(real, d.allow_outside)
    return audio.list_folder(real, d.label_regex, d.speaker_regex)


def listing_for(
    config: Config, path: str | list[str], key: str = "data.path", manifest: bool = False
) -> audio.Listing:
    """Files and labels of folders (by the run's label rules) and .csv manifests.

    Args:
        config: the run's settings (label rules, ``data.allow_outside``).
        path: a folder or a manifest, a glob of them (``"lists/*.csv"``), or a list of either;
            each manifest's paths are relative to its own folder.
        key: the config key that named ``path``, for the message when a glob matches nothing.
        manifest: read every path as a manifest (``data.manifest``), whatever its suffix.

    Returns:
        One listing of every file, in the order the paths (and sorted glob matches) give.
    """
    spec = [_real(p) for p in path] if isinstance(path, list) else _real(path)
    paths = expand_paths(spec, key)
    listings = [_one_listing(config, p, manifest) for p in paths]
    if len(listings) == 1:
        return listings[0]
    kinds = {lst.kind for lst in listings}
    if len(kinds) > 1:
        wav = next(lst for lst in listings if lst.kind == "wav")
        npy = next(lst for lst in listings if lst.kind == "npy")
        raise RecipeError(
            f"{key} mixes .wav ({wav.items[0].path.name}) and .npy ({npy.items[0].path.name}) "
            "files; use one kind per data set (audio or precomputed features)"
        )
    items = [it for lst in listings for it in lst.items]
    splits = {it.split for it in items}
    if None in splits and len(splits) > 1:
        raise RecipeError(
            f"{key}: rows of some manifests have a split and others do not; give every row one "
            "or none"
        )
    shown = [f"  {lst.source}" for lst in listings[:5]]
    if len(listings) > 5:
        shown.append(f"  ... and {len(listings) - 5} more")
    source = f"{len(items)} {kinds.pop()} files from {len(listings)} sources:\n" + "\n".join(shown)
    return audio.Listing(items, listings[0].kind, source)


def read_clip(config: Config, path: Path, notes: audio.Notes | None = None) -> np.ndarray:
    """One WAV file at the model's rate, rejected when it is shorter than one frame."""
    d = config.data
    x = audio.read_wav(
        path, d.sample_rate, d.resample, notes, max_seconds=d.max_seconds or None, crop=d.crop
    )
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


def load_files(config: Config, log) -> Loaded:
    """Every clip of the files the config names, read into memory."""
    loaded = list_files(config)
    loaded.arrays = read_distinct(config, loaded, log)
    return loaded


def read_distinct(config: Config, loaded: Loaded, log=print) -> list[np.ndarray]:
    """The arrays of ``loaded.names``, each distinct file read once.

    A file listed k times (a manifest that repeats clips to weight them, or the scaling
    benchmark's replicated training set) becomes k references to one array, so memory grows with
    the distinct files, not with the listing. The pipeline finds the repeats again by identity
    (:func:`distinct`) and computes each one's features once.
    """
    first: dict[str, int] = {}
    which = [first.setdefault(name, len(first)) for name in loaded.names]
    arrays = read_files(config, [Path(n) for n in first], loaded.kind, log)
    return [arrays[j] for j in which]


def distinct(arrays: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct arrays of ``arrays`` (by identity, in order of first use) and each item's
    index among them; a list without repeats comes back as it is, with indices 0..n-1."""
    first: dict[int, int] = {}
    which = np.array([first.setdefault(id(a), len(first)) for a in arrays], dtype=np.int64)
    if len(first) == len(arrays):
        return list(arrays), which
    unique: list[np.ndarray] = [None] * len(first)  # type: ignore[list-item]
    for a, j in zip(arrays, which):
        unique[j] = a
    return unique, which


def list_files(config: Config) -> Loaded:
    """The files the config names with their labels, speakers and splits; nothing read yet
    (``arrays`` is empty): a streaming run keeps only this list in memory."""
    d = config.data
    if d.manifest:
        listing = listing_for(config, d.manifest, "data.manifest", manifest=True)
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
    return Loaded(
        arrays=[],
        labels=[it.label for it in items],
        speakers=[it.speaker for it in items],
        names=[str(it.path) for it in items],
        presplit=[it.split for it in items],
        kind=listing.kind,
        source=listing.source,
    )


def probe_lengths(config: Config, loaded: Loaded, log=print) -> tuple[np.ndarray, int]:
    """Each file's length from its header, and the features per frame (``.npy``; 0 for audio).

    For audio the length is in samples at the model's rate (what :func:`read_clip` returns, up
    to trailing zeros); for ``.npy`` it is frames. Every file is checked as far as its header
    allows, with the same errors as reading it, before a streaming run starts training.
    """
    paths = [Path(n) for n in loaded.names]
    if loaded.kind == "npy":
        shapes = [audio.probe_npy(p) for p in paths]
        counts = Counter(f for _, f in shapes)
        common = counts.most_common(1)[0][0]
        for (_, f), p in zip(shapes, paths):
            if f != common:
                raise RecipeError(
                    f"{p} has {f} features per frame but {counts[common]} other files have "
                    f"{common}; all .npy files must have the same feature count"
                )
        return np.array([n for n, _ in shapes], dtype=np.int64), common
    d, notes = config.data, audio.Notes()
    need = frame_samples(config)[0]
    lengths = np.empty(len(paths), dtype=np.int64)
    for i, p in enumerate(paths):
        n = audio.probe_wav(
            p, d.sample_rate, d.resample, notes, max_seconds=d.max_seconds or None, crop=d.crop
        )
        if n < need:
            raise RecipeError(
                f"{p} holds {n} samples ({1000 * n / d.sample_rate:.1f} ms of sound), shorter "
                f"than one frame ({need} samples, features.frame_length "
                f"{config.features.frame_length} s); remove it or lower features.frame_length"
            )
        lengths[i] = n
    for line in notes.lines(d.sample_rate):
        log(line)
    return lengths, 0


def load_tfds(config: Config, log) -> Loaded:
    """A TFDS audio set with its own splits (downloads on first use)."""
    d = config.data
    loaded, info = tfds_data.load(d.tfds, None, d.tfds_data_dir)
    audio_key, label_key = info.supervised_keys
    names = tfds_data.label_names(info, label_key)
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
        for i, (wave, label) in enumerate(tfds_data.as_numpy(loaded[theirs])):
            # Classes left out by data.classes first: their clips are neither read nor checked.
            label = tfds_data.label_name(names, label)
            if d.classes is not None and label not in d.classes:
                continue
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


def speaker_grouping(
    loaded: Loaded, config: Config, given: dict[str, np.ndarray]
) -> tuple[bool, str]:
    """Whether to carve the missing splits by speaker, and why (for the log).

    ``data.group_by = "auto"`` (the default) holds whole speakers out when that measures what a
    deployed model meets, new voices, and can be done: every clip has a speaker, every class is
    spoken by at least two speakers (else a class would vanish from training, as in speaker
    identification), there are enough speakers for the splits to carve, and a test split given
    by the data (manifest column, ``data.test_regex``) does not itself test training speakers
    (then validation follows the test's protocol).
    """
    d = config.data
    if d.group_by != "auto":
        return d.group_by == "speaker", f'data.group_by = "{d.group_by}"'
    if any(s is None for s in loaded.speakers):
        return False, "not every clip has a speaker"
    train = set(given["train"].tolist())
    spoken_by: dict[str, set] = {}
    for i in train:
        spoken_by.setdefault(loaded.labels[i], set()).add(loaded.speakers[i])
    lone = sorted(c for c, who in spoken_by.items() if len(who) < 2)
    if lone:
        return False, f"class '{lone[0]}' has a single speaker in training"
    missing = [s for s in ("validation", "test") if s not in given]
    speakers = {loaded.speakers[i] for i in train}
    if len(speakers) < len(missing) + 2:
        return False, f"{len(speakers)} speakers are too few to hold some out"
    if "test" in given and speakers & {loaded.speakers[i] for i in given["test"]}:
        return False, "the given test split holds training speakers, validation does too"
    return True, 'data.group_by = "auto", every clip has a speaker'


def assign_splits(loaded: Loaded, config: Config, log=None) -> dict[str, np.ndarray]:
    """Example indices of train/validation/test by the first rule that applies.

    1. a manifest's ``split`` column (or TFDS' own splits);
    2. ``data.test_regex``: file names that match are the test split;
    3. ``data.test_split`` of the whole.

    A missing validation (and test) split is then carved out of train by
    ``data.validation_split`` (``data.test_split``), per speaker when ``data.group_by`` is
    ``"speaker"`` (or ``"auto"`` and :func:`speaker_grouping` finds it fits).
    """
    d, seed = config.data, config.train.seed
    n = len(loaded.labels)
    if d.group_by == "speaker":
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
    by_speaker, why = speaker_grouping(loaded, config, parts)
    if missing and log is not None:
        how = "whole speakers held out" if by_speaker else "clips drawn at random"
        log(f"  {' and '.join(missing)} carved from train: {how} ({why})")
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
