"""Ensembles mixing MFCC and log-mel models, measured from finished runs (session 21).

    python bench/findings/speech-speakers/mixed.py loso MFCC_RUNS LOGMEL_RUNS
    python bench/findings/speech-speakers/mixed.py official MFCC_RUN LOGMEL_RUN

MFCC_RUNS / LOGMEL_RUNS are folder patterns with ``{t}`` for a leave-one-speaker-out fold's test
speaker (e.g. ``work/speech/loso-{t}`` from ``python -m bench speech``, or a ``screen.py`` tag's
``OUT/TAG/{t}``); ``official`` takes two run folders of ``recipes/fsdd.toml`` on the official
split. A run may be an ensemble (``train.ensemble``): each member's class probabilities are read
separately from its ``model.keras`` (the feature layer, then ``member_k`` of
``speech_ensemble``), on the fold's *validation* speaker (the choice) and its test speaker (the
record), and combinations of members are averaged with equal weights. Nothing is trained and
nothing is chosen here: the script prints every combination, the reader compares validation.
Probabilities are cached in ``$MIXED_CACHE`` (default: a temp folder).
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from bench import speech as bs  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "speech" / "fsdd" / "recordings"
CACHE = Path(os.environ.get("MIXED_CACHE", tempfile.gettempdir() + "/speech-mixed"))


def clips(speaker: str) -> list[str]:
    """One speaker's clip names, or the official split's test clips (``"official"``)."""
    names = sorted(p.name for p in DATA.glob("*.wav"))
    if speaker == "official":
        return sorted(bs.fsdd_split(names)["test"])
    return [n for n in names if bs.parse_name(n)[1] == speaker]


def member_probs(
    run: str, speaker: str, factor: float = 1.0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each member's class probabilities on ``speaker``'s clips, and the labels (digits).
    ``factor``: every clip resampled by it first (``tta.py``)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tag = "" if factor == 1.0 else f"__x{factor}"
    key = CACHE / (run.replace("/", "_") + f"__{speaker}{tag}.npz")
    if key.exists():
        z = np.load(key)
        members = sorted((f for f in z.files if f.startswith("m")), key=lambda f: int(f[1:]))
        return [z[f] for f in members], z["labels"]
    import keras

    from rnn_recipes.data.audio import read_wav
    from rnn_recipes.export import load_keras
    from rnn_recipes.tasks.speech.augment import speed_perturb

    full = load_keras(Path(run))
    features = full.get_layer("features")
    try:
        inner = full.get_layer("speech_ensemble")
        members = [layer for layer in inner.layers if layer.name.startswith("member_")]
    except ValueError:  # one model
        members = [layer for layer in full.layers if isinstance(layer, keras.Model)]
    names = clips(speaker)
    waves = [read_wav(DATA / n, 8000) for n in names]
    if factor != 1.0:  # the training's speed perturbation, at a fixed factor
        waves = [speed_perturb(w, np.float32(factor)).numpy() for w in waves]
    labels = np.array([bs.parse_name(n)[0] for n in names])
    out = [np.zeros((len(names), 10)) for _ in members]
    order = np.argsort([len(w) for w in waves])
    for start in range(0, len(order), 50):  # batches of similar length, zero-padded at the end
        chunk = order[start : start + 50]
        padded = np.zeros((len(chunk), max(len(waves[i]) for i in chunk)), np.float32)
        for row, i in enumerate(chunk):
            padded[row, : len(waves[i])] = waves[i]
        frames = features(padded)
        for k, member in enumerate(members):
            out[k][chunk] = np.asarray(member(frames, training=False))
    np.savez(key, labels=labels, **{f"m{k}": p for k, p in enumerate(out)})
    return out, labels


def accuracy(probs: list[np.ndarray], labels: np.ndarray) -> float:
    return float(np.mean(np.mean(probs, axis=0).argmax(1) == labels))


def combinations(mfcc: list[np.ndarray], log_mel: list[np.ndarray]) -> dict[str, list]:
    return {
        "mfcc x1": mfcc[:1],
        "log-mel x1": log_mel[:1],
        "mfcc x2": mfcc[:2],
        "mfcc + log-mel": [mfcc[0], log_mel[0]],
        "mfcc x3": mfcc[:3],
        "mfcc x2 + log-mel": [*mfcc[:2], log_mel[0]],
        "mfcc x3 + log-mel": [*mfcc[:3], log_mel[0]],
    }


def main() -> None:
    which = sys.argv[1]
    if which == "official":
        mfcc, labels = member_probs(sys.argv[2], "official")
        log_mel, _ = member_probs(sys.argv[3], "official")
        for name, probs in combinations(mfcc, log_mel).items():
            print(f"{name:20s} official test {accuracy(probs, labels):.4f}")
        return
    rows: dict[str, dict[str, list[float]]] = {}
    for fold in bs.loso_folds(sorted(p.name for p in DATA.glob("*.wav"))):
        test, validation = fold["test"], fold["validation"]
        for role, speaker in (("validation", validation), ("test", test)):
            mfcc, labels = member_probs(sys.argv[2].format(t=test), speaker)
            log_mel, _ = member_probs(sys.argv[3].format(t=test), speaker)
            for name, probs in combinations(mfcc, log_mel).items():
                rows.setdefault(name, {}).setdefault(role, []).append(accuracy(probs, labels))
    print("combination: validation per fold (george ... yweweler) | mean || test mean, worst")
    for name, r in rows.items():
        folds = " ".join(f"{a:.3f}" for a in r["validation"])
        print(
            f"{name:20s} {folds} | {np.mean(r['validation']):.3f} || "
            f"{np.mean(r['test']):.3f} {min(r['test']):.3f}"
        )


if __name__ == "__main__":
    main()
