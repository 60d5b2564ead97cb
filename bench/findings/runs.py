"""What the findings' screens share (speech-speakers/screen.py, refit.py, refit_validation.py,
sentiment-rnn/screen.py): one run through the CLI, skipped when its folder already holds the
result of the same command, and its row appended to the screen's JSON-lines file."""

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_once(cmd: list[str], out: Path, log: Path, unmarked_ok: bool = False) -> dict:
    """Run ``cmd`` (its run folder is ``out``) unless ``out`` already holds metrics.json from
    the same command (``cmd.txt``; ``unmarked_ok``: also a run from before the markers);
    returns the run's metrics."""
    marker = out / "cmd.txt"
    line = " ".join(cmd)
    same = marker.read_text() == line if marker.exists() else unmarked_ok
    if not ((out / "metrics.json").exists() and same):
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        with open(log, "w") as f:
            subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=True)
        marker.write_text(line)
    return json.loads((out / "metrics.json").read_text())


def record(row: dict, rows: list[dict], path: Path) -> None:
    """Keep ``row``, print it and append it to ``path`` (JSON lines)."""
    rows.append(row)
    print(json.dumps(row), flush=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
