"""Ten-fold screen of the sentiment recipe through the CLI (session 18).

    python bench/findings/sentiment-rnn/screen.py TAG [--folds 0,1,2] [--set key=value ...]

Runs `recipes/rt-polarity.toml` on rt-polarity's ten folds (data.test_fold = k) with the given
--set overrides, seed $SCREEN_SEED (default 1337, the benchmark's), into $SCREEN_OUT/TAG (default:
a temp folder), and appends one JSON row per fold to screen.jsonl beside this file. A fold whose
run folder already holds metrics.json for the same command is not run again.

Choices are made on the validation columns (960 sentences carved from the nine training folds):
`val_rnn` (the RNN alone: the naive Bayes weight 0), `val_nb` (naive Bayes alone) and `val`
(the combination at the weight validation chose). The test columns are printed for the record.
"""

import os
import statistics as st
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).parents[1]))
import runs  # noqa: E402

tag = sys.argv[1]
args = sys.argv[2:]
folds = range(10)
if args[:1] == ["--folds"]:
    folds = [int(k) for k in args[1].split(",")]
    args = args[2:]
work = Path(os.environ.get("SCREEN_OUT", tempfile.gettempdir() + "/sentiment-screen")) / tag
work.mkdir(parents=True, exist_ok=True)
recipe = str(REPO / "recipes" / "rt-polarity.toml")
seed = os.environ.get("SCREEN_SEED", "1337")
rows = []
for k in folds:
    out = work / f"fold{k}"
    cmd = ["rnn-recipes", "run", recipe, "--set", f"data.test_fold={k}", *args]
    cmd += ["--seed", seed, "-o", str(out), "--force", "--set", "train.verbose=epoch"]
    t = time.time()
    m = runs.run_once(cmd, out, work / f"fold{k}.log")
    nb = m.get("naive_bayes", {})
    weights = nb.get("validation_accuracy", {})
    row = dict(
        tag=tag,
        sets=args,
        seed=int(seed),
        fold=k,
        val=next(
            (v for w, v in weights.items() if float(w) == nb["weight"]),
            m["validation"].get("accuracy"),
        ),
        val_rnn=weights.get("0", m["validation"].get("accuracy")),
        val_nb=nb.get("validation_naive_bayes_only_accuracy"),
        weight=nb.get("weight"),
        test=m["test"]["accuracy"],
        test_rnn=m["test"].get("rnn_only_accuracy", m["test"]["accuracy"]),
        best=m["train"]["best_epoch"],
        ran=m["train"]["epochs_run"],
        s=round(time.time() - t),
        load=os.getloadavg()[0],
    )
    runs.record(row, rows, Path(__file__).with_name("screen.jsonl"))


def mean(key):
    values = [r[key] for r in rows if r[key] is not None]
    return st.mean(values) if values else float("nan")


print(
    f"{tag} {len(rows)} folds: validation RNN alone {mean('val_rnn'):.4f}, combination "
    f"{mean('val'):.4f}, naive Bayes {mean('val_nb'):.4f}; test RNN alone {mean('test_rnn'):.4f}, "
    f"recipe {mean('test'):.4f}"
)
