"""Speed-averaged prediction and member weights, measured from finished runs (session 22).

    python bench/findings/speech-speakers/tta.py loso RUNS
    python bench/findings/speech-speakers/tta.py official RUN [RUN ...]
    python bench/findings/speech-speakers/tta.py weights RUNS OFFICIAL_RUN [OFFICIAL_RUN ...]

RUNS is a folder pattern with ``{t}`` for a leave-one-speaker-out fold's test speaker (e.g.
``work/speech/loso-{t}`` from ``python -m bench speech``); OFFICIAL_RUN a run of
``recipes/fsdd.toml`` on the official split. ``loso`` / ``official``: each clip is also resampled
by the factors of a set (the training's speed perturbation, ``speed_perturb``) and the
members' class probabilities are averaged over members and factors; printed per set, validation
speaker (the choice) and test speaker (the record). ``weights``: the last member (the log-mel
model of ``recipes/fsdd.toml``) weighted w against the mean of the others, for several w. Nothing
is trained or chosen here; probabilities are cached like ``mixed.py``'s (``$MIXED_CACHE``).
"""

import sys

import mixed
import numpy as np
from mixed import bs

SETS = {
    "none": [1.0],
    "0.9 1 1.1": [0.9, 1.0, 1.1],
    "0.95 1 1.05": [0.95, 1.0, 1.05],
    "0.9 ... 1.1 (5)": [0.9, 0.95, 1.0, 1.05, 1.1],
}
WEIGHTS = [0.2, 1 / 3, 0.4, 0.5, 0.6]  # 1/3: the recipe's equal average of three members


def averaged(run: str, speaker: str, factors: list[float]) -> float:
    probs, labels = [], None
    for factor in factors:
        members, labels = mixed.member_probs(run, speaker, factor)
        probs += members
    return mixed.accuracy(probs, labels)


def weighted(run: str, speaker: str, w: float) -> float:
    members, labels = mixed.member_probs(run, speaker)
    mixed_probs = (1 - w) * np.mean(members[:-1], axis=0) + w * members[-1]
    return float(np.mean(mixed_probs.argmax(1) == labels))


def folds():
    return bs.loso_folds(sorted(p.name for p in mixed.DATA.glob("*.wav")))


def loso(pattern: str, score, choices: dict) -> None:
    print("choice: validation per fold (george ... yweweler) | mean || test mean, worst")
    for name, choice in choices.items():
        rows: dict[str, list[float]] = {"validation": [], "test": []}
        for fold in folds():
            for role in rows:
                rows[role].append(score(pattern.format(t=fold["test"]), fold[role], choice))
        v, t = rows["validation"], rows["test"]
        line = " ".join(f"{a:.3f}" for a in v)
        print(f"{name:16s} {line} | {np.mean(v):.4f} || {np.mean(t):.4f} {min(t):.3f}")


def main() -> None:
    which, args = sys.argv[1], sys.argv[2:]
    if which == "loso":
        loso(args[0], averaged, SETS)
    elif which == "official":
        for run in args:
            print(run, {name: round(averaged(run, "official", f), 4) for name, f in SETS.items()})
    elif which == "weights":
        loso(args[0], weighted, {f"log-mel w {w:.2f}": w for w in WEIGHTS})
        for run in args[1:]:
            print(run, "official:", [round(weighted(run, "official", w), 4) for w in WEIGHTS])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
