"""Labelled audio clips from files: WAV folders, manifests, and ``.npy`` frame features.

Everything here is plain Python + NumPy (the stdlib ``wave`` module reads the files), so listing
and checking a data set never waits for TensorFlow. Clips come back as float32 arrays in [-1, 1]
at the model's sample rate; precomputed features come back as ``[frames, features]`` arrays.
Every failure is a one-line :class:`~rnn_recipes.errors.RecipeError` that names the file and
says how to fix it.

Where labels come from:

* a folder with one sub-folder per class (``keras.utils.audio_dataset_from_directory`` layout);
* a folder of files whose *names* carry the label: ``label_regex`` with a named group ``label``
  (and optionally ``speaker``), e.g. ``(?P<label>\\d)_(?P<speaker>[a-z]+)_\\d+\\.wav`` for FSDD;
* a CSV manifest with columns ``path,label`` and optional ``speaker`` and ``split``.
"""

from __future__ import annotations

import csv
import re
import struct
import wave
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RecipeError
from .files import walk_files

KINDS = {".wav": "wav", ".npy": "npy"}
SPLITS = ("train", "validation", "test")


@dataclass
class Item:
    """One labelled file before it is read."""

    path: Path
    label: str
    speaker: str | None = None
    split: str | None = None  # from a manifest's split column


@dataclass
class Listing:
    items: list[Item]
    kind: str  # "wav" or "npy"
    source: str  # for the log: where the data came from


# ---------------------------------------------------------------------------------------------
# Finding files


def _compile(pattern: str | None, key: str, need_label: bool = False) -> re.Pattern | None:
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise RecipeError(f"{key} '{pattern}' is not a valid regular expression: {exc}") from None
    if need_label and "label" not in rx.groupindex:
        raise RecipeError(
            f"{key} '{pattern}' has no named group 'label'; write it like "
            r"'(?P<label>\d)_(?P<speaker>[a-z]+)_\d+\.wav'"
        )
    return rx


def _kind_of(files: list[Path], where: str) -> str:
    """All files must be .wav, or all .npy; anything else is named."""
    for f in files:
        if f.suffix.lower() not in KINDS:
            raise RecipeError(
                f"{f} is not a .wav or .npy file; {where} must hold only audio (.wav) or frame "
                "features (.npy): move it out, or list the files you want in a data.manifest"
            )
    kinds = {KINDS[f.suffix.lower()] for f in files}
    if len(kinds) > 1:
        wav = next(f for f in files if KINDS[f.suffix.lower()] == "wav")
        npy = next(f for f in files if KINDS[f.suffix.lower()] == "npy")
        raise RecipeError(
            f"{where} mixes .wav ({wav.name}) and .npy ({npy.name}) files; use one kind per data "
            "set (audio or precomputed features)"
        )
    return kinds.pop()


def _visible(folder: Path) -> list[Path]:
    """Files under ``folder`` (recursively), skipping hidden files and folders.

    Links to folders are refused (:func:`~rnn_recipes.data.files.walk_files`): one could loop or
    put another class's clips under this class.
    """
    return walk_files(folder, skip_hidden=True)


def list_folder(
    folder: Path, label_regex: str | None = None, speaker_regex: str | None = None
) -> Listing:
    """Labelled files of a folder: by ``label_regex`` on file names, else one sub-folder per class.

    Args:
        folder: the data folder.
        label_regex: a regular expression searched in each file name, with a named group
            ``label`` (and optionally ``speaker``); ``None`` means one sub-folder per class.
        speaker_regex: a regular expression with a named group ``speaker``, searched in file
            names, for speakers when ``label_regex`` has no ``speaker`` group.
    """
    folder = Path(folder)
    if not folder.exists():
        raise RecipeError(f"data folder not found: {folder}")
    if not folder.is_dir():
        raise RecipeError(
            f"{folder} is a file; data.path takes a folder of .wav/.npy files or a .csv manifest"
        )
    rx = _compile(label_regex, "data.label_regex", need_label=True)
    srx = _compile(speaker_regex, "data.speaker_regex")
    if srx is not None and "speaker" not in srx.groupindex:
        raise RecipeError(f"data.speaker_regex '{speaker_regex}' has no named group 'speaker'")
    files = _visible(folder)
    skipped: list[Path] = []
    if rx is None:
        # Data sets ship LICENSE, README.md, a CSV of metadata or a .txt of test file names next
        # to the class folders (Speech Commands does): none of them is a class, so they are left
        # out and said so. Inside a class folder, every file must still be audio.
        skipped = [f for f in files if f.parent == folder and f.suffix.lower() not in KINDS]
        files = [f for f in files if f not in skipped]
    if not files:
        raise RecipeError(f"data folder {folder} is empty; put .wav files in it")
    kind = _kind_of(files, f"data folder {folder}")
    items = []
    if rx is not None:
        for f in files:
            m = rx.search(f.name)
            if m is None:
                raise RecipeError(
                    f"file name {f.name!r} does not match data.label_regex '{label_regex}'; fix "
                    "the pattern (it is searched in each file name) or move the file out"
                )
            speaker = m.groupdict().get("speaker")
            items.append(Item(f, m.group("label"), speaker))
    else:
        loose = [f for f in files if f.parent == folder]
        if loose:
            raise RecipeError(
                f"{loose[0]} is not in a class sub-folder; put one sub-folder per class in "
                f"{folder}, or set data.label_regex to read labels from file names"
            )
        for f in files:
            items.append(Item(f, f.relative_to(folder).parts[0]))
    if srx is not None:
        for it in items:
            m = srx.search(it.path.name)
            if m is None:
                raise RecipeError(
                    f"file name {it.path.name!r} does not match data.speaker_regex "
                    f"'{speaker_regex}'; fix the pattern or unset it"
                )
            it.speaker = m.group("speaker")
    source = f"{len(items)} {kind} files in {folder}"
    if skipped:
        source += f"\n  skipped {len(skipped)} non-audio files at the top level: " + ", ".join(
            f.name for f in skipped
        )
    return Listing(items, kind, source)


def read_manifest(path: Path, allow_outside: bool = False) -> Listing:
    """A CSV with columns ``path,label`` and optional ``speaker`` and ``split``.

    Paths are relative to the manifest's folder. All rows must be one kind (.wav or .npy).
    A manifest is data from anywhere, so its paths must stay inside its folder (after ``..`` and
    symbolic links are resolved): a shared manifest cannot make a run read, and a report or
    plot name, files elsewhere on the machine. ``allow_outside`` (``data.allow_outside``) lifts
    this for manifests one writes oneself, e.g. with absolute paths to another disk.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise RecipeError(f"manifest {path} {what}; give a .csv file with columns path,label")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else []
    except UnicodeDecodeError as exc:
        raise RecipeError(f"manifest {path} is not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise RecipeError(f"manifest {path} is not valid CSV: {exc}") from None
    if not rows:
        raise RecipeError(f"manifest {path} has no rows; it needs a header path,label and rows")
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        raise RecipeError(
            f"manifest {path} has no column {', '.join(missing)}; columns found: "
            f"{', '.join(c for c in header if c)} (expected path,label[,speaker][,split])"
        )
    items = []
    for line, row in enumerate(rows, start=2):
        rel = (row.get("path") or "").strip()
        label = (row.get("label") or "").strip()
        if not rel or not label:
            raise RecipeError(f"manifest {path} line {line}: empty path or label")
        file = (path.parent / rel).resolve()  # an absolute rel replaces the folder
        if not allow_outside and not file.is_relative_to(path.parent.resolve()):
            raise RecipeError(
                f"manifest {path} line {line}: {rel} is outside the manifest's folder "
                f"{path.parent.resolve()}; move the files under it, or set "
                "data.allow_outside = true if you trust this manifest"
            )
        if not file.is_file():
            raise RecipeError(
                f"manifest {path} line {line}: {rel} does not exist (looked for {file}; paths "
                "are relative to the manifest's folder)"
            )
        split = (row.get("split") or "").strip().lower() or None
        if split is not None and split not in SPLITS:
            raise RecipeError(
                f"manifest {path} line {line}: split {split!r} is not one of {', '.join(SPLITS)}"
            )
        speaker = (row.get("speaker") or "").strip() or None
        items.append(Item(file, label, speaker, split))
    splits = {it.split for it in items}
    if None in splits and len(splits) > 1:
        raise RecipeError(
            f"manifest {path}: some rows have a split and some do not; give every row one or none"
        )
    kind = _kind_of([it.path for it in items], f"manifest {path}")
    return Listing(items, kind, f"manifest {path} ({len(items)} {kind} files)")


# ---------------------------------------------------------------------------------------------
# Reading files


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling through the FFT (the spectrum is cut or zero-extended)."""
    if rate == target or len(x) == 0:
        return x.astype(np.float32)
    n = len(x)
    m = max(1, int(round(n * target / rate)))
    spectrum = np.fft.rfft(x.astype(np.float64))
    keep = min(len(spectrum), m // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], m) * (m / n)
    return out.astype(np.float32)


@dataclass
class Notes:
    """What reading changed, reported once per data set instead of once per file."""

    downmixed: int = 0
    resampled: Counter = None  # source rate -> files
    cropped: int = 0  # files longer than max_seconds, cut to it

    def __post_init__(self):
        if self.resampled is None:
            self.resampled = Counter()

    def lines(self, target: int) -> list[str]:
        out = []
        if self.downmixed:
            out.append(f"  note: down-mixed {self.downmixed} multi-channel file(s) to mono")
        for rate, n in sorted(self.resampled.items()):
            out.append(f"  note: resampled {n} file(s) from {rate} Hz to {target} Hz")
        if self.cropped:
            out.append(f"  note: cropped {self.cropped} file(s) to data.max_seconds")
        return out


# WAVE_FORMAT_EXTENSIBLE (the header most 24-bit and multi-channel exports write) names the
# sample format in a sub-format GUID; its first two bytes are the plain format tag.
_EXTENSIBLE, _PCM = 0xFFFE, 0x0001


def _frames_to_read(
    path: Path, frames: int, rate: int, max_seconds: float | None, crop: bool, notes: Notes | None
) -> int:
    """How many frames of a ``frames``-long file to read under the ``max_seconds`` rule."""
    if not max_seconds or rate <= 0 or frames <= max_seconds * rate:
        return frames
    if not crop:
        raise RecipeError(
            f"WAV file {path} is {frames / rate:.1f} s long, more than data.max_seconds "
            f"({max_seconds:g} s); cut it into clips, remove it, raise data.max_seconds, or set "
            "data.crop = true to keep its first data.max_seconds"
        )
    if notes is not None:
        notes.cropped += 1
    return int(max_seconds * rate)


def _read_extensible(
    path: Path, max_seconds: float | None, crop: bool, notes: Notes | None
) -> tuple[int, int, int, int, bytes]:
    """(channels, sample width, rate, frames read, data bytes) of a WAVE_FORMAT_EXTENSIBLE file.

    The stdlib ``wave`` module of Python 3.11 refuses this header although the samples are plain
    integer PCM. Only the frames the ``max_seconds`` rule keeps are read. Problems are raised as
    ``wave.Error`` so that :func:`read_wav` words them like the module's own.
    """
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:] != b"WAVE":
            raise wave.Error("file does not start with RIFF id")
        fmt = None
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise wave.Error("fmt chunk and/or data chunk missing")
            chunk, size = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk == b"fmt ":
                fmt = f.read(size)
                if size % 2:
                    f.read(1)
                if len(fmt) < 16:
                    raise EOFError
                continue
            if chunk == b"data":
                break
            f.seek(size + size % 2, 1)  # chunks are padded to an even size
        if fmt is None:
            raise wave.Error("data chunk before fmt chunk")
        tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag == _EXTENSIBLE:
            if len(fmt) < 40:
                raise wave.Error("extensible fmt chunk is too short")
            tag = struct.unpack("<H", fmt[24:26])[0]
        if tag != _PCM:
            raise wave.Error(f"unknown format: sub-format {tag}")
        if channels < 1 or block < channels or block % channels:
            raise wave.Error(f"bad block size {block} for {channels} channel(s)")
        width = block // channels  # container bytes: 24 valid bits may sit in 32-bit slots
        if width * 8 < bits:
            raise wave.Error(f"{bits}-bit samples in {width}-byte slots")
        frames = size // block
        n = _frames_to_read(path, frames, rate, max_seconds, crop, notes)
        raw = f.read(n * block)  # a short read is reported as truncated by read_wav
    return channels, width, rate, n, raw


def read_wav(
    path: Path,
    sample_rate: int,
    allow_resample: bool = True,
    notes: Notes | None = None,
    max_seconds: float | None = None,
    crop: bool = False,
) -> np.ndarray:
    """A PCM WAV file as mono float32 in [-1, 1] at ``sample_rate``.

    Multi-channel files are averaged to mono. A file at another rate is resampled when
    ``allow_resample`` is true and rejected otherwise. Trailing exact zeros are dropped: batches
    are zero-padded, so the exported model reads trailing zeros as padding, and training must
    see clips the same way. 8/16/24/32-bit integer PCM is read, with a plain or a
    WAVE_FORMAT_EXTENSIBLE header; floating-point WAV is refused with a conversion hint.

    Args:
        path: the WAV file.
        sample_rate: the rate the model reads.
        allow_resample: resample other rates instead of refusing them.
        notes: counts of down-mixed, resampled and cropped files, for one log line each.
        max_seconds: the longest clip read (``data.max_seconds``); ``None`` or 0 reads any
            length. The length comes from the header, so a long file is refused (or cropped)
            before its samples are read: one 10-minute file cannot fill the memory.
        crop: read only the first ``max_seconds`` of a longer file instead of refusing it.
    """
    path = Path(path)
    try:
        try:
            with wave.open(str(path), "rb") as w:
                channels, width, rate, frames = (
                    w.getnchannels(),
                    w.getsampwidth(),
                    w.getframerate(),
                    w.getnframes(),
                )
                frames = _frames_to_read(path, frames, rate, max_seconds, crop, notes)
                raw = w.readframes(frames)
        except wave.Error as exc:
            if f"unknown format: {_EXTENSIBLE}" not in str(exc):
                raise
            channels, width, rate, frames, raw = _read_extensible(path, max_seconds, crop, notes)
    except FileNotFoundError:
        raise RecipeError(f"audio file not found: {path}") from None
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None
    except (wave.Error, EOFError, ValueError, OSError, RuntimeError, struct.error) as exc:
        reason = str(exc) or "unreadable header"
        if "unknown format" in reason:
            hint = "only integer PCM is read; convert it, e.g. sox in.wav -b 16 out.wav"
        else:
            hint = "it is corrupt, truncated or not a WAV file; re-export it or remove it"
        raise RecipeError(f"cannot read WAV file {path} ({reason}): {hint}") from None
    if width not in (1, 2, 3, 4):
        raise RecipeError(f"WAV file {path} has {8 * width}-bit samples; convert it to 16-bit PCM")
    expected = frames * channels * width
    if frames == 0:
        raise RecipeError(f"WAV file {path} has no audio samples; remove it")
    if len(raw) < expected:
        raise RecipeError(
            f"WAV file {path} is truncated ({len(raw)} of {expected} data bytes); re-export it or "
            "remove it"
        )
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    else:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
        if notes is not None:
            notes.downmixed += 1
    if rate != sample_rate:
        if not allow_resample:
            raise RecipeError(
                f"WAV file {path} is at {rate} Hz but the model's data.sample_rate is "
                f"{sample_rate} Hz; set data.sample_rate={rate}, convert the file, or set "
                "data.resample=true"
            )
        x = resample(x, rate, sample_rate)
        if notes is not None:
            notes.resampled[rate] += 1
    nonzero = np.flatnonzero(x)
    return x[: nonzero[-1] + 1] if len(nonzero) else x


def _wav_header(path: Path) -> tuple[int, int, int, int, int]:
    """(channels, sample width, rate, frames, data bytes present) from a WAV file's chunks.

    Only the header is read: the data chunk's size gives the frame count, and the file's size
    says whether all of it is there. Problems are raised as ``wave.Error`` (worded by
    :func:`probe_wav` like :func:`read_wav`'s).
    """
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:] != b"WAVE":
            raise wave.Error("file does not start with RIFF id")
        fmt = None
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise wave.Error("fmt chunk and/or data chunk missing")
            chunk, size = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk == b"fmt ":
                fmt = f.read(size)
                if size % 2:
                    f.read(1)
                if len(fmt) < 16:
                    raise EOFError
                continue
            if chunk == b"data":
                start = f.tell()
                present = max(0, f.seek(0, 2) - start)
                break
            f.seek(size + size % 2, 1)
    if fmt is None:
        raise wave.Error("data chunk before fmt chunk")
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag != _PCM:
        raise wave.Error(f"unknown format: {tag}")
    if channels < 1 or block < channels or block % channels:
        raise wave.Error(f"bad block size {block} for {channels} channel(s)")
    return channels, block // channels, rate, size // block, min(present, size)


def probe_wav(
    path: Path,
    sample_rate: int,
    allow_resample: bool = True,
    notes: Notes | None = None,
    max_seconds: float | None = None,
    crop: bool = False,
) -> int:
    """The samples :func:`read_wav` would return at ``sample_rate``, from the header alone.

    Streaming needs every clip's length (for the length buckets) and every unreadable file
    named before training starts, without decoding the audio: this checks what :func:`read_wav`
    checks that the header can tell (format, sample width, truncation, rate, ``max_seconds``)
    with the same one-line errors. The length is an upper bound: :func:`read_wav` also drops
    trailing exact zeros, which only the samples show.
    """
    path = Path(path)
    try:
        channels, width, rate, frames, present = _wav_header(path)
    except FileNotFoundError:
        raise RecipeError(f"audio file not found: {path}") from None
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None
    except (wave.Error, EOFError, ValueError, OSError, struct.error) as exc:
        reason = str(exc) or "unreadable header"
        if "unknown format" in reason:
            hint = "only integer PCM is read; convert it, e.g. sox in.wav -b 16 out.wav"
        else:
            hint = "it is corrupt, truncated or not a WAV file; re-export it or remove it"
        raise RecipeError(f"cannot read WAV file {path} ({reason}): {hint}") from None
    if width not in (1, 2, 3, 4):
        raise RecipeError(f"WAV file {path} has {8 * width}-bit samples; convert it to 16-bit PCM")
    n = _frames_to_read(path, frames, rate, max_seconds, crop, notes)
    if n == 0:
        raise RecipeError(f"WAV file {path} has no audio samples; remove it")
    if present < n * channels * width:
        raise RecipeError(
            f"WAV file {path} is truncated ({present} of {n * channels * width} data bytes); "
            "re-export it or remove it"
        )
    if channels > 1 and notes is not None:
        notes.downmixed += 1
    if rate != sample_rate:
        if not allow_resample:
            raise RecipeError(
                f"WAV file {path} is at {rate} Hz but the model's data.sample_rate is "
                f"{sample_rate} Hz; set data.sample_rate={rate}, convert the file, or set "
                "data.resample=true"
            )
        if notes is not None:
            notes.resampled[rate] += 1
        return max(1, int(round(n * sample_rate / rate)))
    return n


def probe_npy(path: Path) -> tuple[int, int]:
    """(frames, features) of a ``.npy`` frame-feature file, read from its header (memory-mapped,
    the values are not loaded)."""
    path = Path(path)
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise RecipeError(f"feature file not found: {path}") from None
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None
    except (ValueError, OSError, EOFError) as exc:
        raise RecipeError(
            f"cannot read {path} as a NumPy .npy array ({str(exc).strip() or type(exc).__name__});"
            " save it with numpy.save"
        ) from None
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise RecipeError(
            f"{path} holds a {x.dtype} array of shape {x.shape}; frame features must be a 2-D "
            "float array [frames, features]"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise RecipeError(f"{path} has shape {x.shape}: no frames or no features; remove it")
    return int(x.shape[0]), int(x.shape[1])


def read_npy(path: Path) -> np.ndarray:
    """A ``[frames, features]`` float array of precomputed per-frame features."""
    path = Path(path)
    try:
        x = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise RecipeError(f"feature file not found: {path}") from None
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None
    except (ValueError, OSError, EOFError) as exc:
        raise RecipeError(
            f"cannot read {path} as a NumPy .npy array ({str(exc).strip() or type(exc).__name__});"
            " save it with numpy.save"
        ) from None
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise RecipeError(
            f"{path} holds a {x.dtype} array of shape {x.shape}; frame features must be a 2-D "
            "float array [frames, features]"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise RecipeError(f"{path} has shape {x.shape}: no frames or no features; remove it")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise RecipeError(f"{path} contains NaN or infinite values; fix or remove it")
    return x


def check_feature_counts(arrays: list[np.ndarray], paths: list[Path]) -> int:
    """All frame-feature arrays must have the same number of features; returns it."""
    counts = Counter(a.shape[1] for a in arrays)
    common = counts.most_common(1)[0][0]
    for a, p in zip(arrays, paths):
        if a.shape[1] != common:
            first = next(q for b, q in zip(arrays, paths) if b.shape[1] == common)
            raise RecipeError(
                f"{p} has {a.shape[1]} features per frame but {first.name} (and "
                f"{counts[common] - 1} others) have {common}; all .npy files must have the same "
                "feature count"
            )
    return common


def write_wav(path: Path, x: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio in [-1, 1] as 16-bit PCM (for tests, demos and examples)."""
    pcm = np.clip(np.round(np.asarray(x) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
