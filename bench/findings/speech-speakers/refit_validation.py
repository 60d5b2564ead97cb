"""Does the refit help, judged on validation speakers only? (session 17)

    SCREEN_SEED=S python bench/findings/speech-speakers/refit_validation.py TAG [--set k=v ...]

For each leave-one-speaker-out fold of the benchmark (test speaker T, validation speaker V), T is
left out entirely and V plays the test speaker: the next of the remaining speakers after V (in
name order) is the validation speaker I, the other three train. One ``train.refit=true`` run per
fold then gives, both measured on V, the model validation chose on I (``test_before_refit``) and
the refit on all four speakers for that many epochs (``test``). Nothing of T is read. Rows go to
screen.jsonl beside this file (``val`` = accuracy on I, ``base_test`` / ``test`` = on V).
"""

import csv
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

tag, args = sys.argv[1], sys.argv[2:]
folder = REPO.parent / "shared" / "data" / "speech" / "fsdd" / "recordings"
names = sorted(p.name for p in folder.glob("*.wav"))
speakers = sorted({bs.parse_name(n)[1] for n in names})
work = Path(os.environ.get("SCREEN_OUT", tempfile.gettempdir() + "/speech-screen")) / tag
work.mkdir(parents=True, exist_ok=True)
recipe = str(REPO / "recipes" / "fsdd.toml")
seed = os.environ.get("SCREEN_SEED", "1337")
rows = []
for fold in bs.loso_folds(names):
    left = [s for s in speakers if s != fold["test"]]
    inner = left[(left.index(fold["validation"]) + 1) % len(left)]
    role = {fold["validation"]: "test", inner: "validation"}
    manifest = work / f"{fold['test']}.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "speaker", "split"])
        for name in names:
            label, speaker = bs.parse_name(name)
            if speaker != fold["test"]:
                writer.writerow([str(folder / name), label, speaker, role.get(speaker, "train")])
    out = work / fold["test"]
    cmd = ["rnn-recipes", "run", recipe, "--set", f"data.manifest={manifest}"]
    for k, v in bs.LOSO.items():
        cmd += ["--set", f"{k}={v}"]
    cmd += ["--set", "train.refit=true", *args, "--seed", seed, "-o", str(out), "--force"]
    t = time.time()
    m = runs.run_once([*cmd, "--set", "train.verbose=epoch"], out, work / f"{fold['test']}.log")
    row = dict(
        tag=tag,
        sets=["refit judged on the validation speaker", *args],
        seed=int(seed),
        speaker=fold["validation"],  # the speaker measured (T itself is never read)
        left_out=fold["test"],
        val_speaker=inner,
        val=m["validation"].get("accuracy"),
        base_test=m["refit"]["test_before_refit"]["accuracy"],
        test=m["test"]["accuracy"],
        best=m["train"]["best_epoch"],
        s=round(time.time() - t),
        load=os.getloadavg()[0],
    )
    runs.record(row, rows, Path(__file__).with_name("screen.jsonl"))
print(
    f"{tag}: {len(rows)} folds, on the validation speakers: refit "
    f"{st.mean(r['test'] for r in rows):.4f} against {st.mean(r['base_test'] for r in rows):.4f} "
    f"before it; worst {min(r['test'] for r in rows):.4f} against "
    f"{min(r['base_test'] for r in rows):.4f}"
)
