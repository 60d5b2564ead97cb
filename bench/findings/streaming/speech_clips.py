"""Generate a synthetic speech set of N one-second clips for the streaming measurements.

A pool of synthetic vowels (:mod:`rnn_recipes.samples.speech_vowels`, 20 made-up speakers x 5
vowels x 10 takes) is placed at a random offset in one second of background noise with a random
gain, N times: 1 s, 8 kHz, 16-bit mono WAVs (16 KB each; 50,000 clips are 800 MB), in folders of
1,000, named ``{vowel}_{speaker}_{n}.wav``, with one manifest per size asked for. Never write it
into the repository::

    python bench/findings/streaming/speech_clips.py /tmp/speech-big 10000 50000
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from rnn_recipes.data.audio import write_wav
from rnn_recipes.samples.speech_vowels import FORMANTS, SAMPLE_RATE, vowel

SPEAKERS, TAKES = 20, 10


def main(out: Path, sizes: list[int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    voices = [(rng.uniform(0.9, 1.22), rng.uniform(95, 240)) for _ in range(SPEAKERS)]
    pool = [
        (v, f"s{s:02d}", vowel(v, *voices[s], rng))
        for s in range(SPEAKERS)
        for v in FORMANTS
        for _ in range(TAKES)
    ]
    rows = []
    for n in range(max(sizes)):
        v, speaker, x = pool[rng.integers(len(pool))]
        clip = rng.uniform(0.002, 0.01) * rng.standard_normal(SAMPLE_RATE)
        start = rng.integers(SAMPLE_RATE - len(x))
        clip[start : start + len(x)] += x * rng.uniform(0.5, 1.0)
        rel = Path(f"{n // 1000:03d}") / f"{v}_{speaker}_{n}.wav"
        (out / rel.parent).mkdir(parents=True, exist_ok=True)
        write_wav(out / rel, np.clip(clip, -1, 1), SAMPLE_RATE)
        rows.append({"path": str(rel), "label": v, "speaker": speaker})
    for size in sizes:
        with open(out / f"clips-{size}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["path", "label", "speaker"])
            writer.writeheader()
            writer.writerows(rows[:size])


if __name__ == "__main__":
    main(Path(sys.argv[1]), [int(s) for s in sys.argv[2:]] or [50000])
