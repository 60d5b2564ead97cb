"""Generate a large labelled sentence corpus for the streaming measurements (sentiment).

rt-polarity's 10,662 snippets (``../shared/data/sentiment/rt-polarity``, cp1252) are resampled
N times over: each output line is a random snippet with each word dropped with probability 0.1
(so few lines repeat exactly), written as ``sentence<TAB>label`` under a header, in random
order, UTF-8. 20x rt-polarity is 213,240 lines (about 25 MB); 200x is 2.1 million. Never write
it into the repository::

    python bench/findings/streaming/sentiment_corpus.py ../shared/data/sentiment/rt-polarity \
        /tmp/sentiment-big 20 100
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DROP = 0.1  # each word of a resampled snippet is left out with this probability


def main(source: Path, out: Path, multiples: list[int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    snippets: list[tuple[str, str]] = []
    for label, name in (("positive", "rt-polarity.pos"), ("negative", "rt-polarity.neg")):
        text = (source / name).read_text(encoding="cp1252")
        snippets += [(line.strip(), label) for line in text.split("\n") if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    for multiple in multiples:
        n = multiple * len(snippets)
        path = out / f"rt-{multiple}x.tsv"
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("text\tlabel\n")
            for start in range(0, n, 100_000):  # in blocks: the generator's memory stays small
                picks = rng.integers(0, len(snippets), min(100_000, n - start))
                for i in picks:
                    words, label = snippets[i][0].split(), snippets[i][1]
                    kept = [w for w in words if rng.random() >= DROP] or words[:1]
                    f.write(" ".join(kept).replace("\t", " ") + "\t" + label + "\n")
        print(f"{path}: {n:,} lines, {path.stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [int(x) for x in sys.argv[3:]])
