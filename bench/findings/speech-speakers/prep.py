"""Read FSDD once into a local cache (prototype only; never copied into the repo)."""

import re
from pathlib import Path

import numpy as np

from rnn_recipes.data import audio

root = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "data"
    / "speech"
    / "fsdd"
    / "recordings"
)
rx = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
waves, labels, speakers, takes = [], [], [], []
for p in sorted(root.glob("*.wav")):
    m = rx.match(p.name)
    waves.append(audio.read_wav(p, 8000, True, None).astype(np.float32))
    labels.append(int(m[1]))
    speakers.append(m[2])
    takes.append(int(m[3]))
lens = np.array([len(w) for w in waves])
print(len(waves), "clips; samples min/median/max", lens.min(), np.median(lens), lens.max())
np.savez(
    Path(__file__).with_name("fsdd_cache.npz"),
    wave=np.concatenate(waves),
    lengths=lens,
    labels=np.array(labels),
    speakers=np.array(speakers),
    takes=np.array(takes),
)
for s in sorted(set(speakers)):
    sel = np.array(speakers) == s
    print(
        s,
        "median len",
        np.median(lens[sel]),
        "rms",
        np.median([np.sqrt((waves[i] ** 2).mean()) for i in np.where(sel)[0]]),
    )
