"""Generate the speech demo: synthetic vowels from a source-filter model (written for this project).

Each clip is a glottal pulse train (the source: pitch with drift and jitter, softened by a
one-pole low-pass for the natural spectral tilt) sent through three formant resonators (the
vocal-tract filter), with an attack/decay envelope and background noise. Formant frequencies are
the classic averages for adult speakers (Peterson & Barney, 1952), scaled per synthetic speaker
(longer or shorter vocal tract) and jittered per clip; pitch is set per speaker.

Deterministic: the same seed writes byte-identical files. Regenerate the bundled set with::

    python src/rnn_recipes/samples/speech_vowels.py src/rnn_recipes/samples/speech_vowels

Files are named ``{vowel}_{speaker}_{take}.wav`` (16-bit PCM, mono, 8 kHz), the same pattern as
the Free Spoken Digit Dataset, so the recipe reads labels and speakers with ``data.label_regex``.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 8000
# Vowel -> (F1, F2, F3) in Hz (Peterson & Barney 1952, adult male averages).
FORMANTS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
}
BANDWIDTHS = (90.0, 110.0, 170.0)
# Speaker -> (vocal-tract scale of the formants, mean pitch in Hz).
SPEAKERS = {
    "ann": (1.17, 215.0),
    "bob": (0.95, 110.0),
    "cem": (1.00, 130.0),
    "dia": (1.12, 190.0),
    "eli": (1.22, 240.0),
    "fox": (0.90, 95.0),
}
TAKES = 8


def _resonator(x: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """A two-pole resonator (one formant), unit gain at DC."""
    r = np.exp(-np.pi * bandwidth / rate)
    c1, c2 = 2 * r * np.cos(2 * np.pi * freq / rate), -r * r
    gain = 1 - c1 - c2
    y = np.zeros_like(x)
    y1 = y2 = 0.0
    for n, v in enumerate(x):
        y0 = gain * v + c1 * y1 + c2 * y2
        y[n] = y0
        y2, y1 = y1, y0
    return y


def vowel(v: str, scale: float, pitch: float, rng: np.random.Generator, rate: int = SAMPLE_RATE):
    """One synthetic vowel clip, float in [-1, 1]."""
    n = int(rate * rng.uniform(0.22, 0.40))
    t = np.arange(n) / rate
    # Pitch: the speaker's mean, a per-clip offset, a linear drift and a little jitter.
    f0 = pitch * rng.uniform(0.9, 1.1) * (1 + rng.uniform(-0.12, 0.12) * t / t[-1])
    f0 = f0 * (1 + 0.01 * rng.standard_normal(n))
    phase = np.cumsum(f0) / rate
    source = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal cycle
    for i in range(1, n):  # one-pole low-pass: the glottal pulse's spectral tilt
        source[i] += 0.92 * source[i - 1]
    x = source
    for (f, bw), jitter in zip(zip(FORMANTS[v], BANDWIDTHS), rng.uniform(0.95, 1.05, 3)):
        x = _resonator(x, min(f * scale * jitter, 0.45 * rate), bw, rate)
    envelope = np.minimum(1.0, np.minimum(t / 0.03, (t[-1] - t) / 0.05))
    x = x * envelope
    x = x / (np.abs(x).max() + 1e-9) * rng.uniform(0.3, 0.8)
    x = x + rng.uniform(0.005, 0.03) * rng.standard_normal(n)
    return np.clip(x, -1, 1)


def write(folder: Path, seed: int = 2024) -> list[Path]:
    """Write every (vowel, speaker, take) clip into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for speaker, (scale, pitch) in SPEAKERS.items():
        for v in FORMANTS:
            for take in range(TAKES):
                x = vowel(v, scale, pitch, rng)
                pcm = np.round(x * 32767).astype("<i2")
                path = folder / f"{v}_{speaker}_{take}.wav"
                with wave.open(str(path), "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(SAMPLE_RATE)
                    w.writeframes(pcm.tobytes())
                paths.append(path)
    return paths


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "speech_vowels")
    print(f"wrote {len(write(out))} clips to {out}")
