"""Leave-one-speaker-out with a refit on all five non-test speakers (session 16 prototype).

    SCREEN_SEED=S python bench/findings/speech-speakers/refit.py TAG BASE [--folds george,lucas] [--set k=v ...]

BASE is a folder of finished leave-one-speaker-out runs, one sub-folder per test speaker (e.g.
the benchmark's ``<work>/speech/loso-<speaker>`` renamed, or screen.py's ``$SCREEN_OUT/TAG``):
each run chose its epoch count on its validation speaker. This script trains a fresh model per
fold for exactly that many epochs on the four training speakers *and* the validation speaker
(nothing of the test speaker is seen or used for a choice), with 10 % of those clips drawn at
random as the recipe's validation split (it only reports; early stopping is off). Question: does
a fifth training voice buy more than what the held-out validation speaker bought as a stopping
rule? One row per fold goes to screen.jsonl beside this file (``val`` is the base run's).
"""

import json
import os
import statistics as st
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from bench import speech as bs  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
import runs  # noqa: E402

tag, base = sys.argv[1], Path(sys.argv[2])
args = sys.argv[3:]
folds_only = None
if args[:1] == ["--folds"]:
    folds_only = args[1].split(",")
    args = args[2:]
folder = REPO.parent / "shared" / "data" / "speech" / "fsdd" / "recordings"
names = [p.name for p in folder.glob("*.wav")]
work = Path(os.environ.get("SCREEN_OUT", tempfile.gettempdir() + "/speech-screen")) / tag
work.mkdir(parents=True, exist_ok=True)
recipe = str(REPO / "recipes" / "fsdd.toml")
seed = os.environ.get("SCREEN_SEED", "1337")
rows = []
for fold in bs.loso_folds(names):
    if folds_only and fold["test"] not in folds_only:
        continue
    chosen = json.loads((base / fold["test"] / "metrics.json").read_text())
    epochs = chosen["train"]["best_epoch"]
    # The validation speaker trains too: its rows are written as "train".
    refit = {"test": fold["test"], "validation": "<none>"}
    man = bs.write_fold_manifest(folder, names, refit, work / f"{fold['test']}.csv")
    out = work / fold["test"]
    cmd = ["rnn-recipes", "run", recipe, "--set", f"data.manifest={man}"]
    for k, v in bs.LOSO.items():
        cmd += ["--set", f"{k}={v}"]
    cmd += ["--set", "data.group_by=none", "--set", "train.patience=1000"]
    cmd += args + ["--epochs", str(epochs), "--seed", seed, "-o", str(out), "--force"]
    cmd += ["--set", "train.verbose=epoch"]
    t = time.time()
    m = runs.run_once(cmd, out, work / f"{fold['test']}.log")
    row = dict(
        tag=tag,
        sets=["refit on 5 speakers", *args],
        seed=int(seed),
        speaker=fold["test"],
        val_speaker=fold["validation"],
        val=chosen["validation"].get("accuracy"),
        base_test=chosen["test"]["accuracy"],
        test=m["test"]["accuracy"],
        best=epochs,
        ran=m["train"]["epochs_run"],
        s=round(time.time() - t),
        load=os.getloadavg()[0],
    )
    runs.record(row, rows, Path(__file__).with_name("screen.jsonl"))

print(
    tag,
    len(rows),
    "folds: refit test mean %.4f (base %.4f) worst %.4f"
    % (
        st.mean(r["test"] for r in rows),
        st.mean(r["base_test"] for r in rows),
        min(r["test"] for r in rows),
    ),
)
