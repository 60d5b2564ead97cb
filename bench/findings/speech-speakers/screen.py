"""Six-fold leave-one-speaker-out screen through the CLI (session 14).

    python bench/findings/speech-speakers/screen.py TAG [--folds george,lucas] [--set key=value ...]

Runs bench/speech.py's LOSO folds (validation = the next speaker) with the benchmark's settings plus
the given --set overrides, seed $SCREEN_SEED (default 1337), into $SCREEN_OUT/TAG (default: a temp folder), and appends one
JSON row per fold to screen.jsonl beside this file. A fold whose run folder already holds
metrics.json for the same command is not run again. Choices are made on the "val" column.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from bench import speech as bs

sys.path.insert(0, str(Path(__file__).parents[1]))
import runs  # noqa: E402

tag = sys.argv[1]
args = sys.argv[2:]
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
    man = bs.write_fold_manifest(folder, names, fold, work / f"{fold['test']}.csv")
    out = work / fold["test"]
    cmd = ["rnn-recipes", "run", recipe, "--set", f"data.manifest={man}"]
    for k, v in bs.LOSO.items():
        cmd += ["--set", f"{k}={v}"]
    cmd += args + ["--seed", seed, "-o", str(out), "--force", "--set", "train.verbose=epoch"]
    t = time.time()
    m = runs.run_once(cmd, out, work / f"{fold['test']}.log", unmarked_ok=True)
    row = dict(
        tag=tag,
        sets=args,
        seed=int(seed),
        speaker=fold["test"],
        val_speaker=fold["validation"],
        val=m["validation"].get("accuracy"),
        test=m["test"]["accuracy"],
        best=m["train"]["best_epoch"],
        ran=m["train"]["epochs_run"],
        s=round(time.time() - t),
        load=os.getloadavg()[0],
    )
    runs.record(row, rows, Path(__file__).with_name("screen.jsonl"))
import statistics as st

print(
    tag,
    len(rows),
    "folds: val mean %.4f test mean %.4f worst %.4f"
    % (
        st.mean(r["val"] for r in rows),
        st.mean(r["test"] for r in rows),
        min(r["test"] for r in rows),
    ),
)
