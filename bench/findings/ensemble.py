"""Seed ensembles, measured from finished runs (session 16 prototype; issue 13 and 14's idea).

    python bench/findings/ensemble.py speech-official RUN_1337 RUN_1338 RUN_1339
    python bench/findings/ensemble.py speech-speaker SPEAKER RUN...
    python bench/findings/ensemble.py sentiment FOLD RUN...

Each RUN is a finished ``rnn-recipes run`` folder of the same recipe with another seed (every
choice inside each run was made on its validation data; the ensemble itself makes no choice: it
averages the members' class probabilities with equal weights). The test inputs are the task's
test split as the benchmark defines it: FSDD's official split (take index 0-4), one FSDD
speaker's clips (leave-one-speaker-out), or rt-polarity fold k (line index % 10 == k). Prints each
member's test accuracy alone, then the ensemble's, through the runs' exported serving signatures
(the public ``rnn_recipes.runner.predict``).
"""

import statistics as st
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def speech_inputs(which: str, speaker: str | None) -> tuple[list[str], list[str]]:
    from bench import speech as bs

    folder = DATA / "speech" / "fsdd" / "recordings"
    names = sorted(p.name for p in folder.glob("*.wav"))
    if which == "speech-official":
        names = bs.fsdd_split(names)["test"]
    else:
        names = [n for n in names if bs.parse_name(n)[1] == speaker]
    return [str(folder / n) for n in names], [str(bs.parse_name(n)[0]) for n in names]


def sentiment_inputs(fold: int) -> tuple[list[str], list[str]]:
    folder = DATA / "sentiment" / "rt-polarity"
    texts, labels = [], []
    for label, name in (("negative", "rt-polarity.neg"), ("positive", "rt-polarity.pos")):
        lines = (folder / name).read_bytes().decode("cp1252").splitlines()
        for i, line in enumerate(lines):
            if i % 10 == fold:
                texts.append(line)
                labels.append(label)
    return texts, labels


def main() -> None:
    which = sys.argv[1]
    if which == "speech-official":
        inputs, labels = speech_inputs(which, None)
        runs = sys.argv[2:]
    elif which == "speech-speaker":
        inputs, labels = speech_inputs(which, sys.argv[2])
        runs = sys.argv[3:]
    elif which == "sentiment":
        inputs, labels = sentiment_inputs(int(sys.argv[2]))
        runs = sys.argv[3:]
    else:
        raise SystemExit(f"unknown test set {which!r}")
    from rnn_recipes.runner import predict

    probs, accs = [], []
    for run in runs:
        records, _ = predict(Path(run), inputs)
        classes = list(records[0]["probabilities"])
        p = np.array([[r["probabilities"][c] for c in classes] for r in records])
        probs.append(p)
        acc = float(np.mean([classes[i] == y for i, y in zip(p.argmax(1), labels)]))
        accs.append(acc)
        print(f"member {run}: test accuracy {acc:.4f}")
    mean = np.mean(probs, axis=0)
    acc = float(np.mean([classes[i] == y for i, y in zip(mean.argmax(1), labels)]))
    print(
        f"{which}: {len(runs)} members {st.mean(accs):.4f} on average "
        f"({min(accs):.4f}-{max(accs):.4f}); ensemble {acc:.4f} on {len(labels)} inputs"
    )


if __name__ == "__main__":
    main()
