"""How many hash buckets the sentiment naive Bayes expert needs, decided on VALIDATION accuracy.

``python -m bench.sentiment_buckets RUN_DIR FOLD [RUN_DIR FOLD ...]``: each RUN_DIR is a finished
run of ``recipes/rt-polarity.toml`` with ``data.test_fold=FOLD`` (``rnn-recipes run
recipes/rt-polarity.toml --set data.test_fold=FOLD -o RUN_DIR``). The test fold is never read.

The RNN does not depend on the bucket count (the expert's weight is 0 while it trains), so each
run's RNN is reused: for every bucket count the table is recounted on the run's training split
(the same seeded split the run made) and scored on its validation split, stored as float32 and
as float16. The combination takes the weight the recipe would choose on that validation split,
so its figure is optimistic by the same amount for every bucket count.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from bench import common

BUCKETS = [2**14, 2**16, 2**17, 2**18, 2**19, 2**20]


def compare(run_dir: str, fold: int) -> dict:
    """Validation accuracy of the expert alone and combined, per bucket count and table dtype."""
    import tensorflow as tf

    from rnn_recipes.config import load_config
    from rnn_recipes.export import load_keras
    from rnn_recipes.tasks.sentiment.data import token_ids
    from rnn_recipes.tasks.sentiment.layers import count_features, log_likelihoods, pair_ids
    from rnn_recipes.tasks.sentiment.model import NB_WEIGHTS

    resolved = load_config(
        str(common.RECIPES / "rt-polarity.toml"), sets=[f"data.test_fold={fold}"]
    )
    cfg, m = resolved.config, resolved.config.model
    data = resolved.task.make_datasets(cfg, log=lambda *_: None)
    model = load_keras(run_dir)
    model.get_layer("sentiment_rnn").get_layer("naive_bayes").weight.assign(0.0)  # RNN alone
    train, val = data.splits["train"], data.splits["validation"]
    log_p = np.log(np.asarray(model.predict(tf.constant(val.texts), verbose=0)) + 1e-12)
    size, classes = data.spec.vocabulary_size, len(data.spec.class_names)

    def ids_of(texts):
        return np.asarray(token_ids(data.vectorizer, tf.constant(texts), m.max_length))

    train_ids, val_ids = ids_of(train.texts), ids_of(val.texts)
    prior_counts = np.bincount(train.labels, minlength=classes).astype(float)
    out = {"fold": fold, "rnn_alone": float(np.mean(log_p.argmax(1) == val.labels)), "rows": {}}
    for buckets in BUCKETS:
        counts = np.zeros((size + buckets, classes))
        count_features(train_ids, train.labels, counts, size, buckets)
        table, prior = log_likelihoods(counts, prior_counts, m.nb_alpha)
        features = np.concatenate([val_ids.astype(np.int64), pair_ids(val_ids, size, buckets)], 1)
        for dtype in ("float32", "float16"):
            stored = table.astype(dtype).astype(np.float32)
            nb = np.stack([stored[np.unique(r[r > 0])].sum(0) for r in features]) + prior
            combined = {w: np.mean((log_p + w * nb).argmax(1) == val.labels) for w in NB_WEIGHTS}
            best = max(NB_WEIGHTS, key=lambda w: (combined[w], -w))
            out["rows"][f"{buckets} {dtype}"] = {
                "nb_alone": float(np.mean(nb.argmax(1) == val.labels)),
                "combined": float(combined[best]),
                "weight": best,
                "table_mb": stored.shape[0] * classes * np.dtype(dtype).itemsize / 1e6,
            }
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    results = [compare(argv[i], int(argv[i + 1])) for i in range(0, len(argv), 2)]
    print(json.dumps(results))
    print(f"validation accuracy, mean over folds {[r['fold'] for r in results]}:")
    print("buckets dtype    table MB  naive Bayes alone  combined")
    for key in results[0]["rows"]:
        rows = [r["rows"][key] for r in results]
        nb = np.mean([x["nb_alone"] for x in rows])
        combined = np.mean([x["combined"] for x in rows])
        print(f"{key:16s} {rows[0]['table_mb']:8.2f}  {nb:17.4f}  {combined:8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
