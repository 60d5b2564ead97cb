"""The official split's structure, judged without its test clips (session 23).

    python bench/findings/speech-speakers/official_val.py TAG [--set key=value ...]

FSDD's official split tests takes 0-4 of every speaker and digit and trains on takes 5-49. Here
takes 0-4 are left out entirely and takes 5-9 play the test (300 clips, the same six speakers,
ten digits, five takes each); the recipe trains on takes 10-49 (its validation_split drawn at
random from them, as on the official split). A choice aimed at the official split can be made
on this "pseudo-test" without looking at the official test. Seeds $SCREEN_SEEDS (default
1337,1338,1339), run folders in $SCREEN_OUT/TAG-SEED (default: a temp folder), one row per seed
appended to screen.jsonl beside this file (speaker "official-5-9"); with train.refit the row
also gives the model before the refit.
"""

import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).parents[1]))
import runs  # noqa: E402

tag, args = sys.argv[1], sys.argv[2:]
folder = REPO.parent / "shared" / "data" / "speech" / "fsdd" / "recordings"
work = Path(os.environ.get("SCREEN_OUT", tempfile.gettempdir() + "/speech-official")) / tag
work.mkdir(parents=True, exist_ok=True)
manifest = work / "takes-5-49.csv"
with open(manifest, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["path", "label", "speaker"])
    for p in sorted(folder.glob("*.wav")):
        label, speaker, take = p.stem.split("_")
        if int(take) >= 5:
            w.writerow([str(p.resolve()), label, speaker])
recipe = str(REPO / "recipes" / "fsdd.toml")
for seed in os.environ.get("SCREEN_SEEDS", "1337,1338,1339").split(","):
    out = work / f"seed-{seed}"
    cmd = ["rnn-recipes", "run", recipe, "--set", f"data.manifest={manifest}"]
    cmd += ["--set", "data.sample_rate=8000", "--set", "data.allow_outside=true"]
    cmd += ["--set", "data.test_regex='_[5-9]\\.wav$'"]
    cmd += [*args, "--seed", seed, "-o", str(out), "--force", "--set", "train.verbose=epoch"]
    t = time.time()
    m = runs.run_once(cmd, out, work / f"seed-{seed}.log")
    before = m.get("refit", {}).get("test_before_refit", {}).get("accuracy")
    row = dict(
        tag=tag,
        sets=args,
        seed=int(seed),
        speaker="official-5-9",
        val=m["validation"].get("accuracy"),
        test=m["test"]["accuracy"],
        test_before_refit=before,
        members=[x["test"]["accuracy"] for x in m.get("ensemble", {}).get("members", [])],
        s=round(time.time() - t),
        load=os.getloadavg()[0],
    )
    runs.record(row, [], Path(__file__).with_name("screen.jsonl"))
    print(json.dumps({"wrong_of_300": round(300 * (1 - m["test"]["accuracy"]))}))
