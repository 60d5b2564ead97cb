"""Reading audio and frame features: formats, down-mixing, resampling, and speaker-disjoint splits."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.data import audio
from rnn_recipes.data.splits import group_split
from rnn_recipes.errors import RecipeError
from tests.makers import make_wavs


def _tone(freq: float, rate: int, seconds: float = 0.2) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


def _write_pcm(path: Path, frames: np.ndarray, rate: int, width: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return path


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.argmax(spectrum) * rate / len(x))


def test_16_bit_round_trip_and_trailing_zeros_dropped(tmp_path: Path):
    x = np.concatenate([_tone(440, 8000), np.zeros(300)])
    audio.write_wav(tmp_path / "a.wav", x, 8000)
    y = audio.read_wav(tmp_path / "a.wav", 8000)
    assert y.dtype == np.float32 and len(y) <= 1600 and y[-1] != 0
    np.testing.assert_allclose(y, x[: len(y)], atol=1e-4)


@pytest.mark.parametrize("width", [1, 3, 4])
def test_other_pcm_widths_read_to_the_same_scale(tmp_path: Path, width: int):
    x = _tone(300, 8000)
    if width == 1:
        raw = np.round(x * 127 + 128).astype(np.uint8)
    elif width == 3:
        v = np.round(x * (2**23 - 1)).astype(np.int32)
        raw = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], axis=1).astype(np.uint8)
    else:
        raw = np.round(x * (2**31 - 1)).astype("<i4")
    y = audio.read_wav(_write_pcm(tmp_path / "a.wav", raw, 8000, width), 8000)
    np.testing.assert_allclose(y, x[: len(y)], atol=0.02)


def test_stereo_is_down_mixed_with_a_note(tmp_path: Path):
    left, right = _tone(300, 8000), _tone(300, 8000) * 0.5
    pcm = np.round(np.stack([left, right], axis=1) * 32767).astype("<i2")
    notes = audio.Notes()
    y = audio.read_wav(_write_pcm(tmp_path / "s.wav", pcm, 8000, 2, 2), 8000, notes=notes)
    np.testing.assert_allclose(y, 0.75 * left[: len(y)], atol=1e-3)
    assert notes.downmixed == 1 and "down-mixed 1" in notes.lines(8000)[0]


def test_resampling_keeps_the_pitch_and_is_noted(tmp_path: Path):
    audio.write_wav(tmp_path / "hi.wav", _tone(1000, 16000, 0.5), 16000)
    notes = audio.Notes()
    y = audio.read_wav(tmp_path / "hi.wav", 8000, notes=notes)
    assert abs(len(y) - 4000) <= 2
    assert abs(_peak_hz(y, 8000) - 1000) < 5
    assert notes.lines(8000) == ["  note: resampled 1 file(s) from 16000 Hz to 8000 Hz"]


def test_other_rate_is_rejected_when_resampling_is_off(tmp_path: Path):
    audio.write_wav(tmp_path / "hi.wav", _tone(1000, 16000), 16000)
    with pytest.raises(RecipeError, match=r"hi.wav is at 16000 Hz .* 8000 Hz"):
        audio.read_wav(tmp_path / "hi.wav", 8000, allow_resample=False)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not a wav at all", "not a WAV file"),
        (b"RIFF\x10\x00\x00\x00WAVE", "corrupt, truncated"),
    ],
)
def test_unreadable_wavs_are_named(tmp_path: Path, content: bytes, fragment: str):
    (tmp_path / "bad.wav").write_bytes(content)
    with pytest.raises(RecipeError, match=fragment) as err:
        audio.read_wav(tmp_path / "bad.wav", 8000)
    assert "bad.wav" in str(err.value)


def test_float_wav_asks_for_integer_pcm(tmp_path: Path):
    # A minimal IEEE-float (format 3) WAV header with 4 samples.
    data = np.zeros(4, "<f4").tobytes()
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (32000).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(data).to_bytes(4, "little") + data
    (tmp_path / "f.wav").write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(RecipeError, match="only integer PCM"):
        audio.read_wav(tmp_path / "f.wav", 8000)


def test_npy_must_be_two_dimensional(tmp_path: Path):
    np.save(tmp_path / "x.npy", np.zeros(5))
    with pytest.raises(RecipeError, match=r"x.npy holds .* shape \(5,\)"):
        audio.read_npy(tmp_path / "x.npy")


def test_folder_listing_by_regex_and_by_subfolder(tmp_path: Path):
    for name in ("3_amy_0.wav", "4_bo_1.wav"):
        audio.write_wav(tmp_path / name, _tone(300, 8000), 8000)
    listing = audio.list_folder(tmp_path, r"(?P<label>\d)_(?P<speaker>[a-z]+)_\d+")
    assert [(i.label, i.speaker) for i in listing.items] == [("3", "amy"), ("4", "bo")]
    (tmp_path / "yes").mkdir()
    (tmp_path / "no").mkdir()
    with pytest.raises(RecipeError, match="not in a class sub-folder"):
        audio.list_folder(tmp_path)
    for name in ("3_amy_0.wav", "4_bo_1.wav"):
        (tmp_path / name).rename(tmp_path / ("yes" if name[0] == "3" else "no") / name)
    listing = audio.list_folder(tmp_path, speaker_regex=r"_(?P<speaker>[a-z]+)_")
    assert sorted((i.label, i.speaker) for i in listing.items) == [("no", "bo"), ("yes", "amy")]


def test_group_split_keeps_groups_whole_for_many_seeds():
    groups = np.repeat(list("abcdefgh"), [50, 40, 60, 30, 50, 45, 55, 70])
    for seed in range(20):
        parts = group_split(groups, [0.1, 0.15], seed)
        assert sum(len(p) for p in parts) == len(groups)
        owners = [set(groups[p]) for p in parts]
        assert all(owners)  # every part has at least one group
        assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])


def test_group_split_leaves_train_a_group():
    parts = group_split(["a", "a", "b"], [0.4, 0.4], 0)
    assert len(parts[0]) > 0


def test_link_to_a_folder_is_refused_not_skipped(tmp_path: Path):
    folder = make_wavs(tmp_path / "w", takes=1, layout="folders")
    (folder / "low" / "again").symlink_to("..")
    with pytest.raises(RecipeError, match=r"low/again is a symbolic link to a folder"):
        audio.list_folder(folder)


# --- issue 10: WAVE_FORMAT_EXTENSIBLE and long clips --------------------------------------------


def _write_extensible(
    path: Path, data: bytes, rate: int, width: int, channels: int = 1, sub_format: int = 1
) -> Path:
    """A WAV file with a WAVE_FORMAT_EXTENSIBLE header (40-byte fmt chunk) and a LIST chunk."""
    import struct

    guid = struct.pack("<H", sub_format) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x008\x9bq"
    block = width * channels
    fmt = struct.pack(
        "<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, 8 * width, 22, 8 * width, 4
    )
    fmt += guid
    extra = b"LIST" + struct.pack("<I", 5) + b"INFOx\x00"  # odd size: padded to even
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("width", [2, 3])
def test_wave_format_extensible_integer_pcm_is_read(tmp_path: Path, width: int):
    x = _tone(300, 8000)
    if width == 2:
        raw = np.round(x * 32767).astype("<i2").tobytes()
    else:
        v = np.round(x * (2**23 - 1)).astype(np.int32)
        raw = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], axis=1).astype(np.uint8)
        raw = raw.tobytes()
    plain = _write_pcm(tmp_path / "plain.wav", np.frombuffer(raw, np.uint8), 8000, width)
    ext = _write_extensible(tmp_path / "ext.wav", raw, 8000, width)
    with pytest.raises(wave.Error):  # the stdlib reader refuses it; this is what we add
        wave.open(str(ext)).close()
    np.testing.assert_array_equal(audio.read_wav(ext, 8000), audio.read_wav(plain, 8000))
    stereo = np.repeat(np.frombuffer(raw, np.uint8).reshape(-1, width), 2, axis=0).tobytes()
    both = _write_extensible(tmp_path / "st.wav", stereo, 8000, width, channels=2)
    np.testing.assert_allclose(audio.read_wav(both, 8000), audio.read_wav(plain, 8000), atol=1e-6)


def test_wave_format_extensible_float_is_refused_with_the_conversion_hint(tmp_path: Path):
    raw = _tone(300, 8000).astype("<f4").tobytes()
    path = _write_extensible(tmp_path / "f.wav", raw, 8000, 4, sub_format=3)
    with pytest.raises(RecipeError, match="f.wav .*only integer PCM is read; convert it"):
        audio.read_wav(path, 8000)


def test_max_seconds_refuses_a_long_file_before_reading_it(tmp_path: Path):
    path = tmp_path / "long.wav"
    audio.write_wav(path, _tone(300, 8000, seconds=10.0), 8000)
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 2 * 8000 * 2])  # header says 10 s; only 2 s are there
    with pytest.raises(RecipeError, match=r"long.wav is 10.0 s long, more than data.max_seconds"):
        audio.read_wav(path, 8000, max_seconds=5.0)
    # Cropping reads the first second only: the missing 8 s are never asked for.
    notes = audio.Notes()
    y = audio.read_wav(path, 8000, notes=notes, max_seconds=1.0, crop=True)
    assert len(y) <= 8000 and len(y) > 7900
    assert notes.lines(8000) == ["  note: cropped 1 file(s) to data.max_seconds"]
    np.testing.assert_allclose(y, _tone(300, 8000, 1.0)[: len(y)], atol=1e-4)
    audio.write_wav(tmp_path / "s.wav", _tone(300, 8000), 8000)
    assert len(audio.read_wav(tmp_path / "s.wav", 8000, max_seconds=1.0)) > 1500  # 0.2 s kept


def test_class_folders_skip_non_audio_files_at_the_top_level_only(tmp_path: Path):
    # The Speech Commands layout: class folders next to a licence, a readme and file lists.
    for label in ("yes", "no"):
        (tmp_path / label).mkdir()
        audio.write_wav(tmp_path / label / "a.wav", _tone(300, 8000), 8000)
    for name in ("LICENSE", "README.md", "validation_list.txt", "meta.csv"):
        (tmp_path / name).write_text("not audio")
    listing = audio.list_folder(tmp_path)
    assert sorted(i.label for i in listing.items) == ["no", "yes"]
    note = "skipped 4 non-audio files at the top level: LICENSE, README.md, meta.csv"
    assert note in listing.source
    assert len(listing.source.splitlines()) == 2  # "N files in X", then the one skip line
    # Inside a class folder a stray file is still refused: it would be taken as a clip.
    (tmp_path / "yes" / "notes.txt").write_text("recorded on Tuesday")
    with pytest.raises(RecipeError, match="notes.txt is not a .wav or .npy file"):
        audio.list_folder(tmp_path)
